"""A persistent outbox: records are written to disk (fsync) before anyone tries to deliver them, and stay until
delivery is confirmed, across broker outages and restarts of Vigil.

Layout in its folder: ``outbox.jsonl`` (one record a line, each with a rising ``seq``) and ``delivered`` (the
highest ``seq`` below which everything is confirmed, then the ``seq`` of each record confirmed above it: a sink may
deliver alerts before info events). When everything is delivered the outbox is emptied.

A disk that fails (full, read-only) never stops the monitor: the record is kept in memory, still delivered, and
written to disk again once the disk works (the fault is counted and said once, see io_faults.py).
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from pathlib import Path

from edge_app.errors import VigilError
from edge_app.io_faults import IO_FAULTS, check_writable

log = logging.getLogger(__name__)


class Spool:
    """The outbox of one sink, in ``folder``; ``name`` names it in logs and metrics (``outbox:<name>``).

    Raises :class:`VigilError` at start when the folder cannot be written."""

    def __init__(self, folder: Path, name: str = "outbox"):
        self.folder = Path(folder)
        self.name = f"outbox:{name}"
        try:
            check_writable(self.folder)
            self._outbox = self.folder / "outbox.jsonl"
            self._delivered_path = self.folder / "delivered"
            self._outbox.touch(exist_ok=True)
        except OSError as exc:
            raise VigilError(f"spool {self.folder}: cannot write ({exc.strerror})") from None
        self._lock = threading.Condition()
        self.delivered, self._done = self._read_delivered()
        self._pending: list[dict] = []
        self._unsaved: list[dict] = []  # records the disk refused: delivered from memory, saved when it recovers
        damaged = 0
        for line in self._outbox.read_bytes().splitlines():
            try:
                record = json.loads(line.decode("utf-8"))
            except ValueError:  # also UnicodeDecodeError
                damaged += 1  # a line cut short by a crash mid-write: never confirmed to the caller, skipped
                continue
            seq = record.get("seq") if isinstance(record, dict) else None
            if isinstance(seq, int) and not isinstance(seq, bool) and seq > self.delivered and seq not in self._done:
                self._pending.append(record)
            elif line.strip():
                damaged += bool(not isinstance(seq, int) or isinstance(seq, bool))
        if damaged:
            log.warning("spool %s: %d damaged line(s) in %s skipped", self.folder, damaged, self._outbox.name)
        self._pending.sort(key=lambda r: r["seq"])
        self._next = max([self.delivered, *self._done] + [r["seq"] for r in self._pending]) + 1

    def _read_delivered(self) -> tuple[int, set[int]]:
        """The ``seq`` below which everything is confirmed, and the confirmed ones above it; (0, {}) (everything in
        the outbox goes out again: at least once) when the file is missing or damaged."""
        if not self._delivered_path.is_file():
            return 0, set()
        try:
            numbers = [int(v) for v in self._delivered_path.read_text(encoding="utf-8").split()]
            return (max(0, numbers[0]) if numbers else 0), set(numbers[1:])
        except (ValueError, OSError):
            log.warning("spool %s: %s is damaged: events not known to be delivered are sent again", self.folder,
                        self._delivered_path.name)
            return 0, set()

    def _append(self, records: list[dict]) -> None:
        with open(self._outbox, "a", encoding="utf-8") as fh:
            fh.write("".join(json.dumps(r) + "\n" for r in records))
            fh.flush()
            os.fsync(fh.fileno())

    def put(self, record: dict) -> dict:
        """Append ``record`` (a ``seq`` is added) durably when the disk allows, else in memory; returns it."""
        with self._lock:
            record = {**record, "seq": self._next}
            self._next += 1
            try:
                self._append(self._unsaved + [record])
                self._unsaved = []
                IO_FAULTS.ok(self.name)
            except OSError as exc:
                self._unsaved.append(record)
                IO_FAULTS.failed(self.name, self._outbox, exc, "events are kept in memory and still delivered, "
                                 "but lost if Vigil stops before they are")
            self._pending.append(record)
            self._lock.notify_all()
            return record

    def pending(self) -> list[dict]:
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
        """Record ``seq`` as confirmed (in any order)."""
        with self._lock:
            self._pending = [r for r in self._pending if r["seq"] != seq]
            self._unsaved = [r for r in self._unsaved if r["seq"] != seq]
            waiting = {r["seq"] for r in self._pending}
            lowest = min(waiting, default=self._next)
            self.delivered = lowest - 1  # every record below the oldest waiting one is confirmed
            self._done = {s for s in range(lowest, self._next) if s not in waiting}
            try:
                tmp = self._delivered_path.with_suffix(".tmp")
                tmp.write_text(" ".join(str(v) for v in [self.delivered, *sorted(self._done)]))
                tmp.replace(self._delivered_path)
                if not self._pending:
                    self._outbox.write_text("")  # all delivered: start the outbox afresh
                IO_FAULTS.ok(self.name)
            except OSError as exc:
                IO_FAULTS.failed(self.name, self._delivered_path, exc, "a restart may send delivered events again")
            self._lock.notify_all()
