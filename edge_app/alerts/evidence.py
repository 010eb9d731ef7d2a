"""Evidence of each alert: an annotated snapshot (JPEG) when it is raised, and a short clip (H.264 MP4, which browsers
play) from a ring buffer of the seconds before to the seconds after, in a bounded folder (oldest files removed beyond
a size or an age).

The file names are fixed when the alert is raised (:func:`paths_for`). The pipeline writes the snapshot before the
event goes out, so the event that goes to the log, MQTT and the webhook names only files that exist (or says the
evidence was not saved); the render thread, which has the annotated frames, keeps the ring buffer (JPEG at
``jpeg_quality``) and hands each clip's frames to one encoder thread (:class:`EvidenceRecorder`), which writes them
with :class:`~edge_app.alerts.clip.ClipWriter`: libx264, ``yuv420p``, ``+faststart``, time stamps from the frames'
media times (a dropped frame is a gap, not a speed-up), under a hidden ``.<name>.part.mp4`` renamed to ``<name>.mp4``
when complete (OpenCV's ``mp4v`` when libx264 is missing, said once). The clip's log line names its codec. The folder
must take a file at start; a write that fails later (a full disk) is counted and said once (io_faults.py), removes
the half-written clip and never stops the monitor; half-written clips a crash left behind are removed by
:meth:`EvidenceRecorder.prune` and never counted as evidence.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import queue
import re
import stat
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import av
import cv2
import numpy as np

from edge_app.alerts.clip import ClipWriter, is_partial, partial_path
from edge_app.errors import VigilError
from edge_app.io_faults import IO_FAULTS, check_writable
from edge_app.records import Event
from edge_app.schema import option

log = logging.getLogger(__name__)

PARTIAL_STALE_S = 60.0  # a partial clip unchanged this long (seconds), and not being written here, is a crash's


@dataclass(frozen=True)
class EvidenceSettings:
    """The ``alerts.evidence`` config section."""

    enabled: bool = option(True, "save a snapshot and a clip of every raised alert")
    dir: Path = option(Path("evidence"), "folder for the files (relative: from the Vigil home)")
    before_s: float = option(5.0, "seconds of video before the alert in its clip")
    after_s: float = option(5.0, "seconds of video after the alert in its clip")
    max_mb: float = option(2000.0, "the folder is kept under this size: oldest files removed first")
    max_days: float = option(30.0, "files older than this are removed")
    jpeg_quality: int = option(85, "JPEG quality of snapshots and of the frames buffered for clips")

    def validate(self) -> None:
        if self.before_s < 0 or self.after_s < 0 or self.max_mb <= 0 or self.max_days <= 0:
            raise ValueError("before_s and after_s must be >= 0, max_mb and max_days > 0")


def _safe(text: str) -> str:
    """A stream or type name made safe as part of a file name: Unicode letters and digits, ``_`` and ``-`` kept (a
    stream called 走廊 stays 走廊); anything else (separators, dots, spaces) replaced by ``_`` and a short hash of the
    original added, so two names never share a folder; at most 64 characters."""
    safe = re.sub(r"[^\w-]", "_", text)[:64]
    if safe == text and safe:
        return safe
    return f"{safe[:55]}-{hashlib.sha1(text.encode()).hexdigest()[:8]}"


def paths_for(settings: EvidenceSettings, event: Event) -> tuple[Path, Path]:
    """The snapshot (.jpg) and clip (.mp4) paths of a raised alert: ``<dir>/<stream>/<stamp>-<stream>-<type>-track<id>``
    (the stream in the file name too, so a file copied out of its folder still says where it came from)."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(event.wall_time))
    ms = int((event.wall_time % 1) * 1000)
    stream = _safe(event.stream)
    stem = f"{stamp}.{ms:03d}-{stream}-{_safe(event.type)}-track{event.track_id}"
    folder = settings.dir / stream
    return folder / f"{stem}.jpg", folder / f"{stem}.mp4"


@dataclass(eq=False)
class _Clip:
    path: Path
    until: float  # media time the clip ends at, seconds
    size: tuple[int, int]  # (width, height) of the alert's frame, pixels
    fps: float  # the buffered frames' rate, frames a second
    writer: ClipWriter | None = None  # the encoder thread's, once opened
    failed: bool = False  # the encoder thread gave up on it (counted in IO_FAULTS)


class EvidenceRecorder:
    """Per stream: a ring buffer of recent annotated frames (as JPEG, so memory stays small) and the clips being
    written. :meth:`frame` and :meth:`close` are called from the render thread only; the clips are decoded and
    encoded by one encoder thread it starts (it inherits the render thread's lower priority), so an alert's
    seconds before never stall the render thread (at 640x480 about 8 ms a frame: 2.3 ms JPEG decode, 5.5 ms H.264)
    and the frames after it are not dropped while they are encoded. At most one core goes to encoding, however many
    clips are open."""

    def __init__(self, settings: EvidenceSettings):
        self.s = settings
        try:
            check_writable(settings.dir)
        except OSError as exc:
            raise VigilError(f"alerts.evidence.dir {settings.dir}: cannot write ({exc.strerror})") from None
        self.buffers: dict[str, deque] = {}
        self.clips: dict[str, list[_Clip]] = {}
        self.written: list[Path] = []  # snapshots and finished clips, in the order they were completed
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        self._encoder: threading.Thread | None = None
        self._writing: set[Path] = set()  # partial files of the clips being written now: never pruned
        self._prune()  # a crash's half-written clips, and what aged out while Vigil was stopped

    def frame(self, stream: str, media_time: float, image: np.ndarray, raised: list[Event]) -> None:
        """Buffer one annotated BGR frame of ``stream`` shown at ``media_time`` (seconds), start a clip for each
        event of ``raised`` and hand the frame to the stream's open clips."""
        ok, jpeg = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, self.s.jpeg_quality])
        buf = self.buffers.setdefault(stream, deque())
        while buf and buf[0][0] < media_time - self.s.before_s - 1e-6:  # 1e-6: float sums (0.6 != 1.1 - 0.5)
            buf.popleft()
        for event in raised:
            self._start(stream, event, image, media_time, list(buf))
        if ok:
            buf.append((media_time, jpeg))
        for clip in list(self.clips.get(stream, [])):
            if ok:
                self._jobs.put((self._write, clip, media_time, jpeg))
            if media_time >= clip.until:
                self.clips[stream].remove(clip)
                self._jobs.put((self._finish, clip))

    def _start(self, stream: str, event: Event, image: np.ndarray, media_time: float, before: list) -> None:
        self.written.append(Path(event.details["snapshot"]))  # written by the pipeline before the event went out
        span = before[-1][0] - before[0][0] if len(before) > 1 else 0.0
        fps = (len(before) - 1) / span if span > 0 else 15.0
        h, w = image.shape[:2]
        clip = _Clip(Path(event.details["clip"]), media_time + self.s.after_s, (w, h), fps)
        self.clips.setdefault(stream, []).append(clip)
        if self._encoder is None:
            self._encoder = threading.Thread(target=self._encode, name="evidence-clips", daemon=True)
            self._encoder.start()
        self._jobs.put((self._open, clip))
        for t, jpeg in before:  # the buffered seconds before (the current frame follows from frame())
            self._jobs.put((self._write, clip, t, jpeg))

    def close(self) -> None:
        """Finish every open clip (its after part cut short) and wait for the encoder thread to write them."""
        for clips in self.clips.values():
            for clip in clips:
                self._jobs.put((self._finish, clip))
            clips.clear()
        if self._encoder is not None:
            self._jobs.put(None)
            self._encoder.join()
            self._encoder = None

    # the encoder thread

    def _encode(self) -> None:
        while (job := self._jobs.get()) is not None:
            step, clip, *args = job
            if clip.failed:
                continue
            try:
                step(clip, *args)
            except (OSError, av.FFmpegError) as exc:
                self._fail(clip, exc if isinstance(exc, OSError) else OSError(0, str(exc)))
            except Exception as exc:  # noqa: BLE001 - a bad frame loses its clip, never the recorder
                log.exception("evidence: writing the clip %s failed", clip.path)
                self._fail(clip, OSError(0, f"{type(exc).__name__}: {exc}"))

    def _open(self, clip: _Clip) -> None:
        clip.path.parent.mkdir(parents=True, exist_ok=True)
        self._writing.add(partial_path(clip.path))
        clip.writer = ClipWriter(clip.path, clip.size, clip.fps)

    def _write(self, clip: _Clip, media_time: float, jpeg: np.ndarray) -> None:
        image = cv2.imdecode(jpeg, cv2.IMREAD_COLOR)
        if image is not None:
            clip.writer.write(image, media_time)

    def _finish(self, clip: _Clip) -> None:
        writer = clip.writer
        writer.finish()
        self._writing.discard(writer.partial)
        self.written.append(clip.path)
        IO_FAULTS.ok("evidence")
        log.info("evidence clip %s (%s, %d frames, %.1f s, %d KiB)", clip.path, writer.codec, writer.frames,
                 writer.duration, writer.bytes // 1024)
        self._prune()

    def _fail(self, clip: _Clip, exc: OSError) -> None:
        clip.failed = True
        if clip.writer is not None:
            clip.writer.abort()
        partial = partial_path(clip.path)
        with contextlib.suppress(OSError):
            partial.unlink(missing_ok=True)
        self._writing.discard(partial)
        IO_FAULTS.failed("evidence", clip.path, exc, "the alert's clip is not saved")

    # retention

    def _prune(self) -> None:
        try:
            self.prune()
        except OSError as exc:
            IO_FAULTS.failed("evidence", self.s.dir, exc, "old evidence is not removed")

    def prune(self) -> None:
        """Remove files older than max_days, then the oldest until the folder is under max_mb. Partial clips
        (``.<name>.part.mp4``) are not evidence: never counted, and removed once stale (left by a crash: not being
        written by this recorder and unchanged for a clip's length, ``before_s + after_s``, and at least
        :data:`PARTIAL_STALE_S`)."""
        now = time.time()
        stale_s = max(self.s.before_s + self.s.after_s, PARTIAL_STALE_S)
        writing = set(self._writing)
        files = []
        for p in self.s.dir.rglob("*"):
            try:
                st = p.stat()
            except FileNotFoundError:  # removed meanwhile (a clip renamed, another prune)
                continue
            if not stat.S_ISREG(st.st_mode):
                continue
            if is_partial(p):
                if p not in writing and now - st.st_mtime > stale_s:
                    p.unlink(missing_ok=True)
            elif p.suffix in (".jpg", ".mp4"):
                files.append((st.st_mtime, st.st_size, p))
        files.sort(key=lambda f: f[0])
        total = sum(size for _, size, _ in files)
        for mtime, size, p in files:
            if now - mtime > self.s.max_days * 86400 or total > self.s.max_mb * 2**20:
                total -= size
                p.unlink(missing_ok=True)
