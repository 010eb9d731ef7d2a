"""One capture thread per source: keeps only the newest frames (two by default, to absorb a network burst; older ones
are dropped and counted), and watches the source.

The watchdog reconnects with capped exponential backoff when a stream fails or stalls, reports its status
(online | reconnecting | offline | ended), and never hands out a stale or blank frame: each frame is delivered at
most once, and blank frames (a decoder's grey or black filler after a reconnect) are dropped and counted.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

import cv2
import numpy as np

from edge_app.errors import VigilError
from edge_app.records import Frame

log = logging.getLogger(__name__)


class Status(str, Enum):
    ONLINE = "online"
    RECONNECTING = "reconnecting"
    OFFLINE = "offline"  # never connected yet, or gave up
    ENDED = "ended"  # a file reached its end


@dataclass(frozen=True)
class SourceSpec:
    name: str
    uri: str  # file path, webcam index, rtsp:// URL
    crop: tuple[int, int, int, int] | None = None  # x, y, w, h
    realtime: bool = True  # pace files at their frame rate (live sources are paced by nature)
    loop: bool = False  # restart files at their end
    lossless: bool = False  # wait for the consumer instead of dropping (processing files as fast as possible)

    @property
    def is_live(self) -> bool:
        return self.uri.isdigit() or self.uri.startswith(("rtsp://", "rtsps://", "http://", "https://"))


@dataclass
class CaptureStats:
    captured: int = 0
    delivered: int = 0
    dropped: int = 0  # replaced by newer frames before anyone took it
    backlog: int = 0  # of those, skipped in the first second after (re)connecting: the sender's buffered burst
    blank: int = 0
    corrupt: int = 0  # frames of a file that could not be decoded (skipped)
    reconnects: int = 0
    status_changes: list = field(default_factory=list)  # (monotonic time, status)


IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp"}
BACKLOG_WINDOW_S = 1.0
MAX_CORRUPT_IN_A_ROW = 100  # a file whose next 100 frames cannot be decoded is treated as ended


def redact(source: str) -> str:
    """A source string safe to log: credentials in URLs are hidden."""
    if "://" in source and "@" in source.split("://", 1)[1].split("/", 1)[0]:
        scheme, rest = source.split("://", 1)
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return source


class FolderCapture:
    """A folder of images read in name order, with the part of cv2.VideoCapture's interface capture uses."""

    def __init__(self, path: Path, fps: float = 10.0):
        self.files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        self.index, self.fps = 0, fps

    def isOpened(self) -> bool:  # noqa: N802 (cv2's name)
        return bool(self.files)

    def read(self):
        while self.index < len(self.files):
            image = cv2.imread(str(self.files[self.index]))
            self.index += 1
            if image is not None:
                return True, image
        return False, None

    def get(self, prop: int) -> float:
        return self.fps if prop == cv2.CAP_PROP_FPS else 0.0

    def set(self, prop: int, value: float) -> bool:
        if prop == cv2.CAP_PROP_POS_FRAMES:
            self.index = int(value)
        return True

    def release(self) -> None:
        pass


def is_blank(image: np.ndarray) -> bool:
    """A frame with (almost) no content: uniform grey or black, as decoders emit before the first key frame."""
    small = image[::8, ::8]
    return float(small.std()) < 2.0


# FFmpeg options (OpenCV reads them from the environment at each open; a user's own setting wins): RTSP over TCP
# (no UDP loss or NAT trouble), low-delay decoding and a short stream probe, so a stream opens in about a second.
# Not `fflags nobuffer`: it stops OpenCV reading MP4 files at all (measured).
LOW_LATENCY_FFMPEG = "rtsp_transport;tcp|flags;low_delay|analyzeduration;500000|probesize;500000"
os.environ.setdefault("OPENCV_FFMPEG_CAPTURE_OPTIONS", LOW_LATENCY_FFMPEG)


def open_capture(spec: SourceSpec, open_timeout_ms: int = 10000, read_timeout_ms: int = 2000):
    params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, open_timeout_ms, cv2.CAP_PROP_READ_TIMEOUT_MSEC, read_timeout_ms]
    if spec.uri.isdigit():
        return cv2.VideoCapture(int(spec.uri))
    if Path(spec.uri).is_dir():
        return FolderCapture(Path(spec.uri))
    return cv2.VideoCapture(spec.uri, cv2.CAP_FFMPEG, params)


def check_spec(spec: SourceSpec) -> None:
    """Errors a user can fix before anything starts: a missing file, a bad crop."""
    if not spec.is_live and not Path(spec.uri).exists():
        raise VigilError(f"source {spec.name} ({redact(spec.uri)}): not found (give a video file, image folder, "
                         f"webcam index or rtsp:// URL)")
    if spec.crop is not None and (len(spec.crop) != 4 or spec.crop[2] <= 0 or spec.crop[3] <= 0 or
                                  spec.crop[0] < 0 or spec.crop[1] < 0):
        raise VigilError(f"source {spec.name}: crop must be [x, y, w, h] with w, h > 0, got {list(spec.crop)}")


def check_crop(spec: SourceSpec, width: int, height: int) -> None:
    if spec.crop is not None:
        x, y, w, h = spec.crop
        if x + w > width or y + h > height:
            raise VigilError(f"source {spec.name}: crop {list(spec.crop)} does not fit its {width}x{height} frames")


def probe(spec: SourceSpec) -> None:
    """Open a file or folder source once and decode a frame: a misconfigured source fails at start with one clear
    line. Live sources are checked by :meth:`CaptureThread.wait_online` instead (no second connection)."""
    check_spec(spec)
    if spec.is_live:
        return
    cap = open_capture(spec)
    try:
        if not cap.isOpened():
            if Path(spec.uri).is_dir():
                raise VigilError(f"source {spec.name} ({spec.uri}): folder has no images")
            raise VigilError(f"source {spec.name} ({redact(spec.uri)}): cannot open (unreachable, not a video, or "
                             f"unsupported)")
        ok, image = cap.read()
        if not ok or image is None:
            raise VigilError(f"source {spec.name} ({redact(spec.uri)}): no frame could be decoded (empty or not a "
                             f"video)")
        check_crop(spec, image.shape[1], image.shape[0])
    finally:
        cap.release()


class CaptureThread(threading.Thread):
    """Reads one source in its own thread; :meth:`get` returns the newest frame not yet delivered."""

    def __init__(self, spec: SourceSpec, backoff_start: float = 0.25, backoff_max: float = 0.5,
                 stall_timeout: float = 2.0, max_pending: int = 2):
        super().__init__(name=f"capture-{spec.name}", daemon=True)
        check_spec(spec)
        self.spec = spec
        self.backoff_start, self.backoff_max, self.stall_timeout = backoff_start, backoff_max, stall_timeout
        self.stats = CaptureStats()
        self.status = Status.OFFLINE
        self._cond = threading.Condition()
        self._pending: deque[Frame] = deque()
        self.max_pending = max(1, max_pending)
        self._stopping = threading.Event()
        self._seq = 0
        self._start_mono: float | None = None
        self._online_since = 0.0
        self.error: VigilError | None = None
        self.fps = 0.0

    # --- consumer side -------------------------------------------------------------------------------------
    def get(self, timeout: float = 1.0) -> Frame | None:
        """The oldest of the (at most ``max_pending``) newest undelivered frames, waiting up to ``timeout``;
        None if there is none (yet)."""
        with self._cond:
            if not self._pending and timeout > 0:
                self._cond.wait(timeout)
            if not self._pending:
                return None
            frame = self._pending.popleft()
            self.stats.delivered += 1
            self._cond.notify_all()  # a lossless producer may be waiting for room
            return frame

    def stop(self, join_timeout: float = 5.0) -> None:
        self._stopping.set()
        with self._cond:
            self._cond.notify_all()
        if self.is_alive():
            self.join(join_timeout)

    @property
    def exhausted(self) -> bool:
        """A file source has ended and its last frame has been taken: nothing more will come."""
        with self._cond:
            return self.status == Status.ENDED and not self._pending

    # --- producer side -------------------------------------------------------------------------------------
    def _set_status(self, status: Status) -> None:
        if status != self.status:
            if status == Status.ONLINE:
                self._online_since = time.monotonic()
            self.status = status
            self.stats.status_changes.append((time.monotonic(), status.value))
            log.info("source %s: %s", self.spec.name, status.value)

    def _publish(self, image: np.ndarray, media_time: float) -> None:
        if self.spec.crop is not None:
            check_crop(self.spec, image.shape[1], image.shape[0])
            x, y, w, h = self.spec.crop
            image = np.ascontiguousarray(image[y:y + h, x:x + w])
        if is_blank(image):
            self.stats.blank += 1
            return
        frame = Frame(self.spec.name, self._seq, image, time.monotonic(), time.time(), media_time)
        self._seq += 1
        self.stats.captured += 1
        with self._cond:
            while self.spec.lossless and len(self._pending) >= self.max_pending and not self._stopping.is_set():
                self._cond.wait(0.1)
            if self.spec.lossless and self._stopping.is_set():
                return  # shutting down: not a drop
            while len(self._pending) >= self.max_pending:
                self._pending.popleft()
                self.stats.dropped += 1
                if time.monotonic() - self._online_since < BACKLOG_WINDOW_S:
                    self.stats.backlog += 1
            self._pending.append(frame)
            self._cond.notify_all()

    def run(self) -> None:
        log.info("source %s: reading %s", self.spec.name, redact(self.spec.uri))
        try:
            self._run()
        except VigilError as exc:  # e.g. a live camera whose frames do not fit the configured crop
            self.error = exc
            log.error("%s", exc)
            self._set_status(Status.ENDED)

    def _run(self) -> None:
        backoff = self.backoff_start
        while not self._stopping.is_set():
            cap = open_capture(self.spec, read_timeout_ms=int(self.stall_timeout * 1000))  # the stall watchdog
            if not cap.isOpened():
                cap.release()
                if not self.spec.is_live:
                    log.error("source %s: cannot open %s", self.spec.name, redact(self.spec.uri))
                    self._set_status(Status.ENDED)
                    return
                self._set_status(Status.RECONNECTING if self.stats.captured else Status.OFFLINE)
                self._stopping.wait(backoff)
                backoff = min(backoff * 2, self.backoff_max)
                continue
            ended = self._read_until_failure(cap)
            cap.release()
            if ended:
                self._set_status(Status.ENDED)
                return
            if self._stopping.is_set():
                break
            self.stats.reconnects += 1
            with self._cond:  # frames from before the gap are stale: never hand them out
                self.stats.dropped += len(self._pending)
                self._pending.clear()
            self._set_status(Status.RECONNECTING)
            backoff = self.backoff_start
            self._stopping.wait(backoff)
        self._set_status(Status.OFFLINE)

    def _read_until_failure(self, cap: cv2.VideoCapture) -> bool:
        """Read frames until the source fails (False: reconnect) or a file ends (True)."""
        self.fps = cap.get(cv2.CAP_PROP_FPS) or 0.0
        file_start = time.monotonic()
        file_frames = 0
        total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0) if not self.spec.is_live else 0
        bad_in_a_row = 0
        while not self._stopping.is_set():
            ok, image = cap.read()
            if not ok or image is None:
                if self.spec.is_live:
                    return False
                position = int(cap.get(cv2.CAP_PROP_POS_FRAMES) or 0)
                if position < total - 1 and bad_in_a_row < MAX_CORRUPT_IN_A_ROW:
                    # a frame that cannot be decoded inside a file: skipped and counted, the file goes on
                    bad_in_a_row += 1
                    self.stats.corrupt += 1
                    file_frames += 1
                    if self.stats.corrupt == 1:
                        log.warning("source %s: frame %d cannot be decoded: skipped (counted as corrupt)",
                                    self.spec.name, position)
                    continue  # the decoder moves on by itself (a seek here loses the rest of an MJPEG file)
                if self.spec.loop and file_frames:
                    cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
                    file_start, file_frames = time.monotonic(), 0
                    continue
                return True
            bad_in_a_row = 0
            self._set_status(Status.ONLINE)
            if self._start_mono is None:
                self._start_mono = time.monotonic()
            if self.spec.is_live:
                media = time.monotonic() - self._start_mono
            else:
                media = file_frames / self.fps if self.fps > 0 else float(file_frames)
                if self.spec.realtime and self.fps > 0:
                    delay = file_start + media - time.monotonic()
                    if delay > 0:
                        self._stopping.wait(delay)
            file_frames += 1
            self._publish(image, media)
        return False
