"""I/O faults of the optional outputs (event log, evidence, alert outboxes): counted per output, said once when an
output starts failing and once when it works again, and never allowed to stop monitoring.

A full disk, a read-only remount or a vanished USB stick makes an output fail; the monitor goes on, every other
output goes on, and the operator learns it from one warning, ``/metrics`` (``vigil_io_errors_total{output=...}``)
and ``/health`` (``io_faults``).
"""

from __future__ import annotations

import logging
import os
import threading
import uuid
from pathlib import Path

log = logging.getLogger(__name__)


class IoFaults:
    """Thread-safe registry of I/O errors per output name (``events``, ``evidence``, ``outbox:webhook`` ...)."""

    def __init__(self):
        self._lock = threading.Lock()
        self.errors: dict[str, int] = {}
        self.failing: dict[str, str] = {}  # output -> the error it is failing with now

    def failed(self, output: str, where: str | os.PathLike, exc: OSError, consequence: str) -> None:
        """Record a failed write of ``output`` at ``where``; the first failure of a run of failures is logged with
        its ``consequence`` (what the operator loses)."""
        reason = exc.strerror or str(exc)
        with self._lock:
            self.errors[output] = self.errors.get(output, 0) + 1
            first = output not in self.failing
            self.failing[output] = reason
        if first:
            log.warning("%s: cannot write %s (%s): %s; monitoring goes on", output, where, reason, consequence)

    def ok(self, output: str) -> None:
        """A write of ``output`` worked: if it was failing, say it has recovered."""
        if output not in self.failing:
            return
        with self._lock:
            reason = self.failing.pop(output, None)
        if reason is not None:
            log.warning("%s: writing again (recovered from: %s)", output, reason)

    def snapshot(self) -> dict:
        with self._lock:
            return {"errors": dict(self.errors), "failing": dict(self.failing)}


IO_FAULTS = IoFaults()  # one per process: every output reports here, /metrics and /health read it


def check_writable(folder: Path) -> None:
    """Create ``folder`` if needed and write (and remove) a small file in it; raises OSError when that fails (a
    read-only mount, a full disk, no permission). Used at start, so a folder that cannot take a file is one clear
    line before monitoring begins rather than a fault at the first alert."""
    folder.mkdir(parents=True, exist_ok=True)
    probe = folder / f".vigil-write-check-{uuid.uuid4().hex[:8]}"
    try:
        with open(probe, "wb") as fh:
            fh.write(b"x" * 4096)
            fh.flush()
            os.fsync(fh.fileno())
    finally:
        probe.unlink(missing_ok=True)
