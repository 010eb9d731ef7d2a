"""A persistent outbox on the box's database: a record is committed (``outbox`` table, one row per record and sink)
before anyone tries to deliver it, and removed in one statement when the receiver confirmed it, so it survives broker
outages, a killed process and a power cut. Delivery is at least once: a record confirmed but not yet removed when
Vigil died goes out again at the next start.

A disk that fails (full, read-only) never stops the monitor: the record is kept in memory, still delivered, and
written again once the disk works (the fault is counted and said once, see io_faults.py).

Outboxes of earlier versions (``outbox.jsonl`` and ``delivered`` in the sink's ``spool_dir``) are moved into the
database at start, so an upgrade loses nothing; the old file is kept as ``outbox.jsonl.imported``.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from pathlib import Path

from edge_app.storage.db import Database

log = logging.getLogger(__name__)

LEGACY_FILE = "outbox.jsonl"


def legacy_pending(folder: Path) -> tuple[list[dict], int]:
    """The records of an earlier version's JSON-lines outbox in ``folder`` not yet confirmed, oldest first, and the
    number of damaged lines skipped (a line cut short by a crash mid-write was never confirmed to anyone). A missing
    or damaged ``delivered`` file means nothing is known to be delivered (at least once)."""
    outbox, delivered_path = folder / LEGACY_FILE, folder / "delivered"
    if not outbox.is_file():
        return [], 0
    delivered, done = 0, set()
    if delivered_path.is_file():
        try:
            numbers = [int(v) for v in delivered_path.read_text(encoding="utf-8").split()]
            delivered, done = (max(0, numbers[0]) if numbers else 0), set(numbers[1:])
        except (ValueError, OSError):
            log.warning("outbox %s: %s is damaged: events not known to be delivered are sent again", folder,
                        delivered_path.name)
    pending, damaged = [], 0
    for line in outbox.read_bytes().splitlines():
        try:
            record = json.loads(line.decode("utf-8"))
        except ValueError:  # also UnicodeDecodeError
            damaged += 1
            continue
        seq = record.get("seq") if isinstance(record, dict) else None
        if isinstance(seq, int) and not isinstance(seq, bool):
            if seq > delivered and seq not in done:
                pending.append(record)
        elif line.strip():
            damaged += 1
    pending.sort(key=lambda r: r["seq"])
    return pending, damaged


class Spool:
    """The outbox of one sink (``name``: ``mqtt``, ``webhook`` ...) in ``db``; ``legacy``: a folder that may hold
    an earlier version's outbox, imported at start. Its I/O faults are reported as ``outbox:<name>``.

    Records get a rising ``seq`` of their own sink. Thread-safe: the pipeline thread puts, the sink's worker
    delivers and confirms."""

    def __init__(self, db: Database, name: str = "outbox", legacy: Path | None = None):
        self.db, self.sink = db, name
        self.name = f"outbox:{name}"
        self.where = db.path
        self._lock = threading.Condition()
        self._pending: list[dict] = []
        self._unsaved: list[dict] = []  # records the disk refused: delivered from memory, saved when it recovers
        self._unremoved: set[int] = set()  # confirmed records the disk would not remove yet
        rows = db.read("SELECT seq, record FROM outbox WHERE sink = ? ORDER BY seq", (name,))
        damaged = 0
        for row in rows:
            try:
                record = json.loads(row["record"])
            except ValueError:
                damaged += 1
                continue
            if isinstance(record, dict):
                self._pending.append({**record, "seq": row["seq"]})
        if damaged:
            log.warning("outbox %s: %d damaged record(s) skipped", name, damaged)
        self._next = max([0] + [r["seq"] for r in self._pending]) + 1
        if legacy is not None:
            self._import(Path(legacy))

    @classmethod
    def in_folder(cls, folder: Path, name: str = "outbox") -> Spool:
        """A sink's outbox in a database of its own, ``<folder>/outbox.db`` (a sink used without the box's
        database, e.g. from a script); an earlier version's outbox in ``folder`` is imported. Raises VigilError
        when the folder cannot be written."""
        folder = Path(folder)
        return cls(Database(folder / "outbox.db"), name, legacy=folder)

    def _import(self, folder: Path) -> None:
        if not (folder / LEGACY_FILE).is_file():
            return
        try:
            records, damaged = legacy_pending(folder)
        except OSError as exc:
            log.warning("outbox %s: cannot read the old outbox in %s (%s)", self.sink, folder, exc.strerror)
            return
        if damaged:
            log.warning("outbox %s: %d damaged line(s) in %s skipped", self.sink, damaged, folder / LEGACY_FILE)
        if records:
            for record in records:
                record = {k: v for k, v in record.items() if k != "seq"}
                self.put(record)
            if self._unsaved:
                return  # the disk refused them: keep the old file to import again at the next start
            log.info("outbox %s: %d undelivered event(s) moved from %s into %s", self.sink, len(records), folder,
                     self.db.path)
        try:
            (folder / LEGACY_FILE).replace(folder / f"{LEGACY_FILE}.imported")
            (folder / "delivered").unlink(missing_ok=True)
        except OSError as exc:
            log.warning("outbox %s: cannot rename %s (%s): its events may go out again at the next start", self.sink,
                        folder / LEGACY_FILE, exc.strerror)

    def _insert(self, records: list[dict]) -> bool:
        now = time.time()
        return self.db.write([("INSERT OR REPLACE INTO outbox (sink, seq, created, record) VALUES (?, ?, ?, ?)",
                               (self.sink, r["seq"], now, json.dumps({k: v for k, v in r.items() if k != "seq"})))
                              for r in records],
                             "events are kept in memory and still delivered, but lost if Vigil stops before they are",
                             self.name)

    def put(self, record: dict) -> dict:
        """Append ``record`` (a ``seq`` is added) durably when the disk allows, else in memory; returns it."""
        with self._lock:
            record = {**record, "seq": self._next}
            self._next += 1
            if self._insert(self._unsaved + [record]):
                self._unsaved = []
            else:
                self._unsaved.append(record)
            self._pending.append(record)
            self._lock.notify_all()
            return record

    def pending(self) -> list[dict]:
        """Copies of the records not yet confirmed, oldest first."""
        with self._lock:
            return list(self._pending)

    def wait(self, timeout: float) -> bool:
        """Wait until something is pending; True if there is."""
        with self._lock:
            if not self._pending:
                self._lock.wait(timeout)
            return bool(self._pending)

    def wait_empty(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds until everything is delivered; True if it is."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while self._pending and (left := deadline - time.monotonic()) > 0:
                self._lock.wait(left)
            return not self._pending

    def mark_delivered(self, seq: int) -> None:
        """Record ``seq`` as confirmed (in any order): its row is removed in one statement (a disk that refuses is
        retried at the next confirmation; a restart before that sends it again)."""
        with self._lock:
            self._pending = [r for r in self._pending if r["seq"] != seq]
            self._unsaved = [r for r in self._unsaved if r["seq"] != seq]
            gone = self._unremoved | {seq}
            marks = ",".join("?" * len(gone))
            if self.db.write([(f"DELETE FROM outbox WHERE sink = ? AND seq IN ({marks})", (self.sink, *gone))],
                             "a restart may send delivered events again", self.name):
                self._unremoved = set()
            else:
                self._unremoved = gone
            self._lock.notify_all()
