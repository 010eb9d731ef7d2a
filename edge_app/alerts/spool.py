"""A persistent, ordered outbox: records are written to disk (fsync) before anyone tries to deliver them, and
stay until delivery is confirmed, across broker outages and restarts of Vigil.

Layout in its folder: ``outbox.jsonl`` (one record a line, each with a rising ``seq``) and ``delivered`` (the
highest ``seq`` confirmed). When everything is delivered the outbox is emptied.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from pathlib import Path

from edge_app.errors import VigilError

log = logging.getLogger(__name__)


class Spool:
    def __init__(self, folder: Path):
        self.folder = Path(folder)
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            self._outbox = self.folder / "outbox.jsonl"
            self._delivered_path = self.folder / "delivered"
            self._outbox.touch(exist_ok=True)
        except OSError as exc:
            raise VigilError(f"spool {self.folder}: cannot write ({exc.strerror})") from None
        self._lock = threading.Condition()
        self.delivered = self._read_delivered()
        self._pending: list[dict] = []
        damaged = 0
        for line in self._outbox.read_bytes().splitlines():
            try:
                record = json.loads(line.decode("utf-8"))
            except ValueError:  # also UnicodeDecodeError
                damaged += 1  # a line cut short by a crash mid-write: never confirmed to the caller, skipped
                continue
            seq = record.get("seq") if isinstance(record, dict) else None
            if isinstance(seq, int) and not isinstance(seq, bool) and seq > self.delivered:
                self._pending.append(record)
            elif line.strip():
                damaged += bool(not isinstance(seq, int) or isinstance(seq, bool))
        if damaged:
            log.warning("spool %s: %d damaged line(s) in %s skipped", self.folder, damaged, self._outbox.name)
        self._pending.sort(key=lambda r: r["seq"])
        self._next = max([self.delivered] + [r["seq"] for r in self._pending]) + 1

    def _read_delivered(self) -> int:
        """The highest confirmed ``seq``; 0 (everything in the outbox goes out again: at least once) when the file
        is missing or damaged."""
        if not self._delivered_path.is_file():
            return 0
        try:
            text = self._delivered_path.read_text(encoding="utf-8").strip()
            return max(0, int(text or 0))
        except (ValueError, OSError):
            log.warning("spool %s: %s is damaged: events not known to be delivered are sent again", self.folder,
                        self._delivered_path.name)
            return 0

    def put(self, record: dict) -> dict:
        """Append ``record`` (a ``seq`` is added) durably; returns it."""
        with self._lock:
            record = {**record, "seq": self._next}
            self._next += 1
            with open(self._outbox, "a", encoding="utf-8") as fh:
                fh.write(json.dumps(record) + "\n")
                fh.flush()
                os.fsync(fh.fileno())
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
        with self._lock:
            self._pending = [r for r in self._pending if r["seq"] > seq]
            self.delivered = max(self.delivered, seq)
            tmp = self._delivered_path.with_suffix(".tmp")
            tmp.write_text(str(self.delivered))
            tmp.replace(self._delivered_path)
            if not self._pending:
                self._outbox.write_text("")  # all delivered: start the outbox afresh
            self._lock.notify_all()
