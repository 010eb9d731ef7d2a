"""One capture thread per source: keeps only the newest frames (two by default, to absorb a network burst; older ones
are dropped and counted), turns each picture as the camera is mounted, and watches the source.

The watchdog reconnects with capped exponential backoff when a stream fails or stalls, reports its status
(online | reconnecting | frozen | offline | ended), and never hands out a stale, repeated or blank picture: each
frame is delivered at most once; a picture identical to the one before (a frozen camera or encoder) is never
analysed, and after ``frozen_after_s`` of nothing but repeats the source is ``frozen`` (a live one is reopened);
blank frames (a decoder's grey or black filler after a reconnect) are dropped and counted. Media time is each
picture's presentation time (see reader.py), so pacing and every ``ts`` follow the stream's own clock.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Literal

import cv2
import numpy as np

from edge_app.errors import VigilError
from edge_app.records import Frame
from edge_app.sources.reader import Reader, SourceOpenError, open_reader
from edge_app.system import CAPTURE_NICE, lower_thread_priority

log = logging.getLogger(__name__)


class Status(str, Enum):
    ONLINE = "online"
    RECONNECTING = "reconnecting"
    FROZEN = "frozen"  # pictures keep coming but none has changed for frozen_after_s
    OFFLINE = "offline"  # never connected yet, or gave up
    ENDED = "ended"  # a file reached its end


ROTATIONS = (0, 90, 180, 270)
Flip = Literal["none", "horizontal", "vertical"]
FLIPS: tuple[str, ...] = ("none", "horizontal", "vertical")


@dataclass(frozen=True)
class SourceSpec:
    """One source as configured. ``rotate`` (degrees clockwise) and ``flip`` turn each picture as the camera is
    mounted, before the ``crop`` (x, y, w, h in the turned picture) and before any analysis."""

    name: str
    uri: str  # file path, webcam index, rtsp:// URL
    crop: tuple[int, int, int, int] | None = None  # x, y, w, h
    realtime: bool = True  # pace files at their frame rate (live sources are paced by nature)
    loop: bool = False  # restart files at their end
    lossless: bool = False  # wait for the consumer instead of dropping (processing files as fast as possible)
    rotate: int = 0  # 0, 90, 180 or 270 degrees clockwise
    flip: Flip = "none"
    frozen_after_s: float = 3.0  # identical pictures for this long make the source "frozen"

    @property
    def is_live(self) -> bool:
        return self.uri.isdigit() or self.uri.startswith(("rtsp://", "rtsps://", "http://", "https://"))

    @property
    def orientation(self) -> str:
        """How pictures are turned, for the console and the log ("" when they are not)."""
        parts = [f"rotate {self.rotate}"] if self.rotate else []
        if self.flip != "none":
            parts.append(f"flip {self.flip}")
        return ", ".join(parts)


def orient(image: np.ndarray, rotate: int, flip: str) -> np.ndarray:
    """``image`` (H, W, C) rotated ``rotate`` degrees clockwise, then mirrored (``flip`` horizontal: left-right,
    vertical: top-bottom). 180 degrees equals flipping both ways (a camera mounted upside down)."""
    if rotate == 90:
        image = cv2.rotate(image, cv2.ROTATE_90_CLOCKWISE)
    elif rotate == 180:
        image = cv2.rotate(image, cv2.ROTATE_180)
    elif rotate == 270:
        image = cv2.rotate(image, cv2.ROTATE_90_COUNTERCLOCKWISE)
    if flip == "horizontal":
        image = cv2.flip(image, 1)
    elif flip == "vertical":
        image = cv2.flip(image, 0)
    return image


@dataclass
class CaptureStats:
    captured: int = 0
    delivered: int = 0
    dropped: int = 0  # replaced by newer frames before anyone took it
    backlog: int = 0  # of those, skipped in the first second after (re)connecting: the sender's buffered burst
    blank: int = 0
    corrupt: int = 0  # pictures that could not be decoded (packets that failed), skipped
    frozen: int = 0  # pictures identical to the one before: never analysed
    late: int = 0  # live pictures that arrived more than LATE_S behind the stream's own clock: stale, never analysed
    size_changes: int = 0  # times the picture size changed mid-stream
    reconnects: int = 0
    ended_early: str | None = None  # "frame N of M" when a file holds fewer pictures than its container declares
    status_changes: list = field(default_factory=list)  # (monotonic time, status)


BACKLOG_WINDOW_S = 1.0
LATE_S = 1.0  # a live picture this far behind the stream's clock (its PTS against arrival) is stale
LATE_WINDOW_S = 30.0  # the stream's clock is the fastest delivery of the last 30 s (tracks a camera's clock drift)


class LateWatch:
    """Whether a live picture arrives late: its lag (arrival time minus its PTS-based media time, seconds) against
    the smallest lag of the last ``window_s`` seconds of arrivals. A picture held back by the network or the sender
    and handed out seconds later (the last one of a stalled stream, released when the read times out) shows a lag
    that jumped by its delay; a camera whose clock drifts moves the baseline with it."""

    def __init__(self, late_s: float = LATE_S, window_s: float = LATE_WINDOW_S):
        self.late_s, self.window_s = late_s, window_s
        self._lags: deque[tuple[float, float]] = deque()  # (arrival, lag), lags increasing (a monotonic deque)

    def is_late(self, arrival: float, media: float) -> bool:
        lag = arrival - media
        while self._lags and self._lags[0][0] < arrival - self.window_s:
            self._lags.popleft()
        while self._lags and self._lags[-1][1] >= lag:
            self._lags.pop()
        self._lags.append((arrival, lag))
        return lag - self._lags[0][1] > self.late_s



def redact(source: str) -> str:
    """A source string safe to log: everything between ``://`` and the host is hidden, whatever characters the
    password holds (``@``, ``/``, ``:``, ``#``): the host follows the last ``@``. A path that holds an ``@`` is
    hidden up to it too (safe, if less readable)."""
    scheme, sep, rest = source.partition("://")
    if sep and "@" in rest:
        return f"{scheme}://***@{rest.rsplit('@', 1)[1]}"
    return source


def _subsample(image: np.ndarray, step: int) -> np.ndarray:
    """Every ``step``-th pixel of every ``step``-th row, contiguous, with the shape of ``image[::step, ::step]``,
    taken by OpenCV's nearest-neighbour resize without holding Python's GIL for the copy (0.04 against 0.18 ms for
    a 640x480 picture, step 4, in every capture thread). The same pixels as the slice when the size is a multiple
    of ``step``; otherwise the nearest ones to a grid of that many."""
    h, w = image.shape[:2]
    small = cv2.resize(image, ((w + step - 1) // step, (h + step - 1) // step), interpolation=cv2.INTER_NEAREST)
    return small if small.ndim == image.ndim else small[..., None]


def is_blank(image: np.ndarray) -> bool:
    """A frame with (almost) no content: uniform grey or black, as decoders emit before the first key frame (the
    standard deviation of every 8th pixel of every 8th row, over all channels, below 2 levels)."""
    return float(_subsample(image, 8).std()) < 2.0


def fingerprint(image: np.ndarray) -> np.ndarray:
    """A subsample of ``image`` (every 4th pixel of every 4th row) that two pictures share exactly only when they
    are the same picture: a live camera's sensor noise changes it in every new picture."""
    return _subsample(image, 4)


def check_spec(spec: SourceSpec) -> None:
    """Errors a user can fix before anything starts: a missing file, a bad crop, rotation or flip."""
    if not spec.is_live and not Path(spec.uri).exists():
        raise VigilError(f"source {spec.name} ({redact(spec.uri)}): not found (give a video file, image folder, "
                         f"webcam index or rtsp:// URL)")
    if spec.crop is not None and (len(spec.crop) != 4 or spec.crop[2] <= 0 or spec.crop[3] <= 0 or
                                  spec.crop[0] < 0 or spec.crop[1] < 0):
        raise VigilError(f"source {spec.name}: crop must be [x, y, w, h] with w, h > 0, got {list(spec.crop)}")
    if spec.rotate not in ROTATIONS:
        raise VigilError(f"source {spec.name}: rotate must be 0, 90, 180 or 270, got {spec.rotate}")
    if spec.flip not in FLIPS:
        raise VigilError(f"source {spec.name}: flip must be none, horizontal or vertical, got {spec.flip!r}")
    if not spec.frozen_after_s > 0:
        raise VigilError(f"source {spec.name}: frozen_after_s must be > 0, got {spec.frozen_after_s}")


def check_crop(spec: SourceSpec, width: int, height: int) -> None:
    if spec.crop is not None:
        x, y, w, h = spec.crop
        if x + w > width or y + h > height:
            raise VigilError(f"source {spec.name}: crop {list(spec.crop)} does not fit its {width}x{height} frames"
                             + (f" (after {spec.orientation})" if spec.orientation else ""))


def open_source(spec: SourceSpec, open_timeout_s: float = 10.0, read_timeout_s: float = 2.0) -> Reader:
    """The reader of ``spec``; a :class:`SourceOpenError` naming the source and saying why it cannot be read."""
    try:
        return open_reader(spec.uri, spec.is_live, open_timeout_s, read_timeout_s,
                           paced=spec.is_live or spec.realtime)
    except SourceOpenError as exc:
        raise SourceOpenError(f"source {spec.name} ({redact(spec.uri)}): {exc}", exc.unauthorized) from None


def probe(spec: SourceSpec) -> None:
    """Open a file or folder source once and decode a frame: a misconfigured source fails at start with one clear
    line. Live sources are checked by the capture thread instead (no second connection)."""
    check_spec(spec)
    if spec.is_live:
        return
    reader = open_source(spec)
    try:
        picture = reader.read()
        if picture is None:
            raise VigilError(f"source {spec.name} ({redact(spec.uri)}): no picture could be decoded (an empty or "
                             f"damaged video{': ' + reader.error if reader.error else ''})")
        image = orient(picture.image, spec.rotate, spec.flip)
        check_crop(spec, image.shape[1], image.shape[0])
    finally:
        reader.close()


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
        self._fingerprint: np.ndarray | None = None  # of the last picture published
        self._changed_at = 0.0  # media time the picture last changed
        self._size: tuple[int, ...] | None = None
        self._last_media = 0.0
        self._paced_from: float | None = None  # a paced file's clock: time.monotonic() at its media time 0
        self.open_error: str | None = None  # why the last attempt to open a live source failed
        self.unauthorized = False  # ... because the camera refused the credentials
        self.on_frame: Callable[[], None] | None = None  # called (in this thread) after each frame is published

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
        image = orient(image, self.spec.rotate, self.spec.flip)
        if self.spec.crop is not None:
            check_crop(self.spec, image.shape[1], image.shape[0])
            x, y, w, h = self.spec.crop
            image = image[y:y + h, x:x + w]
        image = np.ascontiguousarray(image)
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
        if self.on_frame is not None:
            self.on_frame()

    def run(self) -> None:
        lower_thread_priority(CAPTURE_NICE)  # decoding waits behind inference and the pipeline (system.py)
        log.info("source %s: reading %s%s", self.spec.name, redact(self.spec.uri),
                 f" ({self.spec.orientation})" if self.spec.orientation else "")
        try:
            self._run()
        except VigilError as exc:  # e.g. a live camera whose frames do not fit the configured crop
            self.error = exc
            log.error("%s", exc)
            self._set_status(Status.ENDED)

    def _run(self) -> None:
        backoff = self.backoff_start
        media_offset = 0.0  # a looped file's media time goes on from where the last pass ended
        while not self._stopping.is_set():
            try:
                reader = open_source(self.spec, read_timeout_s=self.stall_timeout)  # the stall watchdog
            except SourceOpenError as exc:
                if not self.spec.is_live:
                    log.error("%s", exc)
                    self._set_status(Status.ENDED)
                    return
                if str(exc) != self.open_error:
                    (log.warning if exc.unauthorized else log.debug)("%s", exc)
                self.open_error, self.unauthorized = str(exc), exc.unauthorized
                self._set_status(Status.RECONNECTING if self.stats.captured else Status.OFFLINE)
                self._stopping.wait(backoff)
                backoff = min(backoff * 2, self.backoff_max)
                continue
            try:
                ended = self._read_until_failure(reader, media_offset)
            finally:
                reader.close()
            if ended and self.spec.loop and reader.decoded and not self._stopping.is_set():
                media_offset = self._last_media + (1.0 / reader.fps if reader.fps > 0 else 0.04)
                continue
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

    def _media_time(self, pts: float | None, live_base: float, media_offset: float) -> float:
        """Seconds from the stream's start: a file's PTS (plus the passes before, when looping); a live stream's
        PTS from the time this connection began (arrival time when the source has no PTS: a webcam)."""
        if not self.spec.is_live:
            return media_offset + (pts or 0.0)
        assert self._start_mono is not None
        if pts is None:
            return time.monotonic() - self._start_mono
        return live_base + pts

    def _read_until_failure(self, reader: Reader, media_offset: float) -> bool:
        """Read pictures until the source fails or freezes (False: reconnect) or a file ends (True)."""
        self.fps = reader.fps
        if self._paced_from is None:
            self._paced_from = time.monotonic()
        corrupt_before = self.stats.corrupt
        live_base: float | None = None
        late = LateWatch()
        while not self._stopping.is_set():
            picture = reader.read()
            if reader.corrupt and not corrupt_before and self.stats.corrupt == 0:
                log.warning("source %s: a picture cannot be decoded: skipped (counted as corrupt)", self.spec.name)
            self.stats.corrupt = corrupt_before + reader.corrupt
            if picture is None:
                if self.spec.is_live:
                    if reader.error:
                        log.info("source %s: %s", self.spec.name, reader.error)
                    return False
                self._check_complete(reader)
                return True
            if self._start_mono is None:
                self._start_mono = time.monotonic()
            if live_base is None:
                live_base = time.monotonic() - self._start_mono
            media = self._media_time(picture.pts, live_base, media_offset)
            if self.spec.is_live and late.is_late(time.monotonic() - self._start_mono, media):
                self.stats.late += 1
                continue
            if not self.spec.is_live and self.spec.realtime:
                # one clock over every pass of a looped file, as a camera's: the time reopening it takes, and any
                # lateness when a pass ends, are made up in the next pass rather than lost (a clip of 18 fps
                # looped on a busy box gave 17.3 fps when each pass started its own clock)
                delay = self._paced_from + media - time.monotonic()
                if delay > 0:
                    self._stopping.wait(delay)
            self._last_media = media
            if self._repeated(picture.image, media):
                if self.spec.is_live and self.status == Status.FROZEN and \
                        media - self._changed_at >= 2 * self.spec.frozen_after_s:
                    return False  # reopen: a stuck decoder or sender may recover on a new connection
                continue
            self._set_status(Status.ONLINE)
            self._publish(picture.image, media)
        return False

    def _repeated(self, image: np.ndarray, media: float) -> bool:
        """Whether ``image`` repeats the picture before it (then it is counted and never analysed); the status
        turns ``frozen`` once repeats have lasted ``frozen_after_s``. A change of picture size is logged and never a
        repeat."""
        resized = self._size is not None and image.shape != self._size
        if resized:
            self.stats.size_changes += 1
            log.warning("source %s: picture size changed from %dx%d to %dx%d", self.spec.name, self._size[1],
                        self._size[0], image.shape[1], image.shape[0])
        self._size = image.shape
        fp = fingerprint(image)
        if not resized and self._fingerprint is not None and np.array_equal(fp, self._fingerprint):
            self.stats.frozen += 1
            if media - self._changed_at >= self.spec.frozen_after_s and self.status != Status.FROZEN:
                self._set_status(Status.FROZEN)
                log.warning("source %s: frozen: the same picture for %.1f s (not analysed until it changes)",
                            self.spec.name, media - self._changed_at)
            return True
        self._fingerprint, self._changed_at = fp, media
        return False

    def _check_complete(self, reader: Reader) -> None:
        """Say once when a file ended before what its container declares (cut short or damaged)."""
        short = reader.ended_early()
        if short is not None and self.stats.ended_early is None:
            self.stats.ended_early = f"frame {short[0]} of {short[1]}"
            log.warning("source %s: ended early at frame %d of %d (the file is cut short or damaged%s)",
                        self.spec.name, short[0], short[1], f": {reader.error}" if reader.error else "")
