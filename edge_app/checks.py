"""Checking a recorded clip or a photo from the console: the same pipeline as the live streams (pose, tracking, every
analyzer, the drawing), run on the upload in a worker thread of its own, never the live streams' pipeline thread.

An upload is written only inside ``server.uploads.dir`` (in the Vigil home), under a folder named by a random id,
as ``input.<type>`` where the type comes from the file's first bytes (not its name); the name the browser gave is
kept as text for the list and refused when it tries to be a path (``/``, ``\\``, ``..``, control characters). The
result (the annotated clip in H.264, or the annotated photo, and the events) is kept beside it and in the box's
database (``uploads`` table), so the console lists earlier checks after a restart. Uploads are checked one at a
time, oldest first, at a lower CPU priority than the live streams; they are bounded by ``max_mb`` each and removed
after ``keep_days``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import queue
import re
import shutil
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from edge_app.errors import VigilError
from edge_app.schema import option
from edge_app.storage.db import Database
from edge_app.system import lower_thread_priority

log = logging.getLogger(__name__)

CHECK_NICE = 10  # an upload's pipeline yields the CPU to the live streams'

# The first bytes of each accepted type (ISO BMFF ftyp at offset 4, RIFF AVI, EBML for Matroska/WebM, JPEG, PNG)
SIGNATURES: tuple[tuple[str, str, Callable[[bytes], bool]], ...] = (
    ("video", ".mp4", lambda b: b[4:8] == b"ftyp"),
    ("video", ".avi", lambda b: b[:4] == b"RIFF" and b[8:12] == b"AVI "),
    ("video", ".mkv", lambda b: b[:4] == b"\x1a\x45\xdf\xa3"),
    ("image", ".jpg", lambda b: b[:3] == b"\xff\xd8\xff"),
    ("image", ".png", lambda b: b[:8] == b"\x89PNG\r\n\x1a\n"),
)
ACCEPTED = "MP4/MOV, AVI, MKV/WebM videos and JPEG/PNG photos"


@dataclass(frozen=True)
class UploadSettings:
    """The ``server.uploads`` config section."""

    enabled: bool = option(True, "operators may upload a clip or a photo in the console to check it")
    dir: Path = option(Path("data/uploads"), "where uploads and their results are kept (relative: from the Vigil "
                                             "home); nothing is written elsewhere")
    max_mb: float = option(200.0, "largest upload accepted, MB")
    keep_days: float = option(30.0, "uploads and their results older than this are removed")
    max_seconds: float = option(600.0, "an upload's check stops after this many seconds of its video")
    max_waiting: int = option(10, "uploads waiting for their check at most; more are refused until some are done")

    def validate(self) -> None:
        if self.max_mb <= 0 or self.keep_days <= 0 or self.max_seconds <= 0 or self.max_waiting < 1:
            raise ValueError("max_mb, keep_days and max_seconds must be > 0, max_waiting >= 1")


class UploadRefused(VigilError):
    """An upload that is refused before it is stored; ``status`` is the HTTP status that says why (400, 413, 415)."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def clean_upload_name(name: str) -> str:
    """The file name a browser sent, as text to show; raises UploadRefused (400) for a name that tries to be a path
    or holds control characters, or an empty one."""
    if not name or len(name) > 200:
        raise UploadRefused(400, "give the file's name (1-200 characters)")
    if "/" in name or "\\" in name or name in (".", "..") or ".." in name.split(".") or \
            re.search(r"[\x00-\x1f\x7f-\x9f]", name):
        raise UploadRefused(400, f"file name {name!r} refused: a plain file name only (no folders, no '..')")
    return name


def sniff(head: bytes) -> tuple[str, str]:
    """(kind, suffix) of an upload from its first bytes; raises UploadRefused (415) for anything else."""
    for kind, suffix, matches in SIGNATURES:
        if matches(head):
            return kind, suffix
    raise UploadRefused(415, f"not a video or a photo Vigil can check (accepted: {ACCEPTED})")


# (input file, output folder, kind: video or image, exercise: off, squat or sit_to_stand, stop: set when Vigil
# stops, the check ends early) -> {"events", "frames", "output"}
RunCheck = Callable[[Path, Path, str, str, threading.Event], dict]
EXERCISES = ("off", "squat", "sit_to_stand")


class ClipChecker:
    """Takes uploads (:meth:`submit`), checks them one at a time in its worker thread with ``run`` (app.py builds it:
    the live config and compiled models, a pipeline of its own), and lists them (:meth:`list`, :meth:`get`).
    ``root``: the uploads folder (in the Vigil home); ``db``: the box's database."""

    def __init__(self, settings: UploadSettings, root: Path, db: Database, run: RunCheck):
        self.settings, self.root, self.db, self.run = settings, Path(root), db, run
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise VigilError(f"server.uploads.dir {self.root}: cannot create ({exc.strerror})") from None
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._worker: threading.Thread | None = None
        self._stopping = threading.Event()
        # uploads a stop interrupted are checked again
        for row in db.read("SELECT id FROM uploads WHERE state IN ('queued', 'checking') ORDER BY created"):
            self._queue.put(row["id"])

    def start(self) -> ClipChecker:
        if self._worker is None:
            self._worker = threading.Thread(target=self._work, name="upload-check", daemon=True)
            self._worker.start()
        self.prune()
        return self

    def stop(self, timeout: float = 30.0) -> None:
        """Stop: the check under way ends at its next frame (it is checked again at the next start, as are the
        waiting ones), and the worker is joined (a pipeline stopped mid-inference must not outlive the process)."""
        self._stopping.set()
        self._queue.put(None)
        if self._worker is not None:
            self._worker.join(timeout)
            if self._worker.is_alive():
                log.warning("upload checks: the worker did not stop within %.0f s", timeout)

    # --- the HTTP handler's thread ---------------------------------------------------------------------------------
    def submit(self, name: str, body: BinaryIO, size: int, user: str, exercise: str = "off") -> dict:
        """Store an upload of ``size`` bytes read from ``body`` and queue its check (``exercise``: the repetitions to
        count in it, analysis/exercise.py); returns its record. Raises UploadRefused (400 name or exercise, 413
        size, 415 type, 507 disk) with a one-line reason; nothing is kept then."""
        name = clean_upload_name(name)
        if exercise not in EXERCISES:
            raise UploadRefused(400, f"exercise {exercise!r}: one of {', '.join(EXERCISES)}")
        limit = int(self.settings.max_mb * 2**20)
        if size <= 0:
            raise UploadRefused(400, "the upload is empty")
        waiting = self.db.read("SELECT COUNT(*) AS n FROM uploads WHERE state IN ('queued', 'checking')")
        if waiting and waiting[0]["n"] >= self.settings.max_waiting:
            raise UploadRefused(429, f"{waiting[0]['n']} uploads are waiting for their check: send this one when "
                                     f"they are done (server.uploads.max_waiting)")
        if size > limit:
            raise UploadRefused(413, f"{name}: {size / 2**20:.1f} MB is over the {self.settings.max_mb:g} MB limit "
                                     f"(server.uploads.max_mb)")
        head = body.read(min(size, 16))
        kind, suffix = sniff(head)
        upload_id = uuid.uuid4().hex[:16]
        folder = self.root / upload_id
        try:
            folder.mkdir()
            with open(folder / f"input{suffix}", "wb") as fh:
                fh.write(head)
                left = size - len(head)
                while left > 0:
                    try:
                        chunk = body.read(min(left, 1 << 20))
                    except TimeoutError:
                        raise UploadRefused(408, f"{name}: the upload stalled after {size - left} of {size} "
                                                 f"bytes") from None
                    if not chunk:
                        raise UploadRefused(400, f"{name}: the upload ended after {size - left} of {size} bytes")
                    fh.write(chunk)
                    left -= len(chunk)
        except OSError as exc:
            shutil.rmtree(folder, ignore_errors=True)
            raise UploadRefused(507, f"{name}: cannot be stored ({exc.strerror})") from None
        except UploadRefused:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        record = {"id": upload_id, "name": name, "kind": kind, "bytes": size, "created": time.time(), "user": user,
                  "state": "queued", "exercise": exercise}
        if not self.db.write([("INSERT INTO uploads (id, name, kind, bytes, created, user, state, input, exercise) "
                               "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", (upload_id, name, kind, size, record["created"],
                                                                     user, "queued", f"input{suffix}", exercise))],
                             "the upload is not checked"):
            shutil.rmtree(folder, ignore_errors=True)
            raise UploadRefused(507, f"{name}: the box's database refuses writes now")
        log.info("upload %s: %s (%s, %.1f MB) from %s queued", upload_id, name, kind, size / 2**20, user)
        self._queue.put(upload_id)
        return record

    def list(self, limit: int = 50) -> list[dict]:
        """The newest uploads (without their events), newest first."""
        rows = self.db.read("SELECT id, name, kind, bytes, created, user, state, exercise, error, frames, seconds, "
                            "events_count, output FROM uploads ORDER BY created DESC LIMIT ?", (limit,))
        return [dict(r) for r in rows]

    def get(self, upload_id: str) -> dict | None:
        """One upload with its events, or None."""
        rows = self.db.read("SELECT * FROM uploads WHERE id = ?", (upload_id,))
        if not rows:
            return None
        out = dict(rows[0])
        out["events"] = json.loads(out["events"] or "[]")
        return out

    def output(self, upload_id: str) -> Path | None:
        """The annotated result's file, when the check finished (inside the uploads folder only)."""
        row = self.db.read("SELECT output FROM uploads WHERE id = ? AND state = 'done'", (upload_id,))
        if not row or not row[0]["output"] or not re.fullmatch(r"[0-9a-f]{16}", upload_id):
            return None
        path = (self.root / upload_id / row[0]["output"]).resolve()
        return path if path.is_relative_to(self.root.resolve()) and path.is_file() else None

    # --- the worker ------------------------------------------------------------------------------------------------
    def _work(self) -> None:
        lower_thread_priority(CHECK_NICE)
        while not self._stopping.is_set():
            upload_id = self._queue.get()
            if upload_id is None or self._stopping.is_set():
                return
            try:
                self._check(upload_id)
            except Exception as exc:  # noqa: BLE001 - one upload's fault must not stop the next
                log.warning("upload %s: the check failed: %s: %s", upload_id, type(exc).__name__, exc)
                self._set(upload_id, state="failed", error=f"{type(exc).__name__}: {exc}")

    def _set(self, upload_id: str, **values) -> None:
        columns = ", ".join(f"{k} = ?" for k in values)
        self.db.write([(f"UPDATE uploads SET {columns} WHERE id = ?", (*values.values(), upload_id))],
                      "an upload's result is not kept")

    def _check(self, upload_id: str) -> None:
        row = self.db.read("SELECT kind, input, name, exercise FROM uploads WHERE id = ?", (upload_id,))
        if not row:
            return
        folder = self.root / upload_id
        self._set(upload_id, state="checking")
        started = time.monotonic()
        try:
            result = self.run(folder / row[0]["input"], folder, row[0]["kind"], row[0]["exercise"], self._stopping)
        except VigilError as exc:  # not a video after all, a damaged file: said to the operator (no box paths)
            why = str(exc).replace(str(folder / row[0]["input"]), row[0]["name"]).replace(str(folder), "")
            self._set(upload_id, state="failed", error=why)
            log.info("upload %s (%s): refused: %s", upload_id, row[0]["name"], exc)
            return
        if self._stopping.is_set():
            self._set(upload_id, state="queued")  # cut short by a stop: checked again at the next start
            return
        events = result["events"]
        self._set(upload_id, state="done", frames=result["frames"], seconds=round(time.monotonic() - started, 2),
                  events=json.dumps(events), events_count=len(events), output=result["output"])
        log.info("upload %s (%s): checked, %d frames, %d event(s)", upload_id, row[0]["name"], result["frames"],
                 len(events))

    def prune(self, now: float | None = None) -> int:
        """Remove uploads older than ``keep_days`` (files and rows); returns how many."""
        now = time.time() if now is None else now
        old = self.db.read("SELECT id FROM uploads WHERE created < ?", (now - self.settings.keep_days * 86400,))
        for row in old:
            with contextlib.suppress(OSError):
                shutil.rmtree(self.root / row["id"])
        if old:
            self.db.write([("DELETE FROM uploads WHERE created < ?", (now - self.settings.keep_days * 86400,))],
                          "old uploads are not removed")
        return len(old)
