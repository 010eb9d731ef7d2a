"""One evidence clip on disk: H.264 in MP4 that browsers play, written under a temporary name and renamed when done.

:class:`ClipWriter` encodes BGR frames with PyAV's ``libx264`` (``yuv420p``, preset ``veryfast``, CRF 26, one encoder
thread) into an MP4 whose index (``moov``) comes before the media data (``+faststart``), so a browser starts playing
before the whole file has arrived. Each frame's time stamp is its media time (seconds) from the clip's first frame,
on a 1/90000 s clock: frames a live source or a slow render stage dropped leave a gap in time, not a speed-up. The
file is written as ``.<name>.part.mp4`` (:func:`partial_path`) in the clip's folder and renamed to ``<name>.mp4`` only
once it is complete, so a half-written clip is never served, listed or pruned as evidence; any failure removes it.

If the H.264 encoder cannot be opened (an FFmpeg built without libx264), the clip is written with OpenCV's ``mp4v``
(MPEG-4 Part 2: it decodes with FFmpeg and VLC, but browsers do not play it), said once per process.

Measured on the 2-core box (640x480 UP-Fall footage, 18 fps, a 10 s clip of 180 frames, the box shared with other
work): 3.6-6.6 ms a frame to encode (5.5 typical; ``mp4v``: 1.6-4.3 ms), plus 1.4-2.5 ms to decode the buffered
JPEG; 169 KiB for the clip (0.9 KiB a frame) against 1297 KiB with ``mp4v``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
from av.video.reformatter import ColorPrimaries, ColorRange, Colorspace, ColorTrc

log = logging.getLogger(__name__)

H264_ENCODER = "libx264"
PRESET = "veryfast"  # superfast: ~1 ms a frame less, files twice as large; faster: ~2 ms more for nothing smaller
CRF = 26  # x264's constant quality: 23 is its default, each +6 about halves the size
ENCODER_THREADS = 1  # the pipeline owns the other cores
TIME_BASE = Fraction(1, 90000)  # the clock of the time stamps, seconds per tick
PARTIAL_SUFFIX = ".part.mp4"

_fallback_said = threading.Event()  # the missing H.264 encoder is said once per process


def partial_path(path: Path) -> Path:
    """The temporary name of the clip ``path`` while it is written: ``.<name>.part.mp4`` in the same folder (hidden,
    and ending in .mp4 so that OpenCV's fallback writer also knows the container)."""
    return path.with_name(f".{path.stem}{PARTIAL_SUFFIX}")


def is_partial(path: Path) -> bool:
    """Whether ``path`` is a clip still being written (or left half-written by a crash)."""
    return path.name.startswith(".") and path.name.endswith(PARTIAL_SUFFIX)


def even_size(width: int, height: int) -> tuple[int, int]:
    """The size a clip of ``width`` x ``height`` pixels is encoded at: yuv420p needs even sides, so an odd side loses
    its last pixel column or row."""
    return width - width % 2, height - height % 2


class ClipWriter:
    """Writes one clip of ``size`` = (width, height) pixels, ``fps`` frames a second (a hint for the encoder's rate
    control; the time stamps come from :meth:`write`), to :func:`partial_path` of ``path`` until :meth:`finish`.

    Raises OSError when the file cannot be opened (no such folder, a read-only or full disk). ``codec`` says what
    it writes: ``"h264"``, or ``"mp4v"`` when libx264 is not available."""

    def __init__(self, path: Path, size: tuple[int, int], fps: float):
        self.path = Path(path)
        self.partial = partial_path(self.path)
        self.size = even_size(*size)
        if min(self.size) < 2:
            raise OSError(0, f"a frame of {size[0]}x{size[1]} pixels is too small for a clip")
        self.frames = 0
        self.bytes = 0  # the finished file's size, bytes
        self._start: float | None = None  # media time of the first frame, seconds
        self._last_pts = -1
        self._container = self._stream = self._cv_writer = None
        try:
            self._open_h264(fps)
            self.codec = "h264"
        except OSError:  # the file, not the encoder: the caller's I/O fault
            self.abort()
            raise
        except (av.FFmpegError, ValueError) as exc:  # no libx264 (UnknownCodecError is a ValueError)
            self._discard()
            if not _fallback_said.is_set():
                _fallback_said.set()
                log.warning("evidence: the H.264 encoder %s cannot be opened (%s): clips are written with OpenCV's "
                            "mp4v, which browsers do not play", H264_ENCODER, f"{type(exc).__name__}: {exc}")
            self._open_mp4v(fps)
            self.codec = "mp4v"

    def _open_h264(self, fps: float) -> None:
        self._container = av.open(str(self.partial), "w", format="mp4", options={"movflags": "+faststart"})
        stream = self._container.add_stream(H264_ENCODER, rate=Fraction(max(1.0, min(fps, 120.0))).limit_denominator(
            1001), options={"preset": PRESET, "crf": str(CRF)})
        cc = stream.codec_context
        cc.width, cc.height = self.size
        cc.pix_fmt = "yuv420p"
        cc.time_base = TIME_BASE
        cc.thread_count = ENCODER_THREADS
        # what cv2.COLOR_BGR2YUV_I420 computes: BT.601, limited range; said in the stream so players agree
        cc.colorspace = Colorspace.SMPTE170M
        cc.color_primaries = ColorPrimaries.SMPTE170M
        cc.color_trc = ColorTrc.SMPTE170M
        cc.color_range = ColorRange.MPEG
        cc.open()
        self._stream = stream

    def _open_mp4v(self, fps: float) -> None:
        writer = cv2.VideoWriter(str(self.partial), cv2.VideoWriter_fourcc(*"mp4v"), max(1.0, min(fps, 60.0)),
                                 self.size)
        if not writer.isOpened():
            self.partial.unlink(missing_ok=True)
            raise OSError(0, "the video writer cannot open it")
        self._cv_writer = writer

    def _fit(self, image: np.ndarray) -> np.ndarray:
        w, h = self.size
        ih, iw = image.shape[:2]
        if (ih, iw) == (h, w):
            return image
        if 0 <= ih - h <= 1 and 0 <= iw - w <= 1:  # an odd side: its last row or column dropped
            return image[:h, :w]
        return cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA)  # the stream changed size mid-clip

    def write(self, image: np.ndarray, media_time: float) -> bool:
        """Add a BGR frame shown at ``media_time`` (seconds of the stream's media time). A frame whose time is not
        after the last one's is skipped (returns False): time stamps only go forward. Raises OSError (PyAV's
        ``av.error.OSError``) when the disk refuses the data."""
        if self._start is None:
            self._start = media_time
        pts = round((media_time - self._start) / TIME_BASE)
        if pts <= self._last_pts:
            return False
        image = self._fit(image)
        if self._cv_writer is not None:
            self._cv_writer.write(image)
        else:
            frame = av.VideoFrame.from_ndarray(cv2.cvtColor(image, cv2.COLOR_BGR2YUV_I420), format="yuv420p")
            frame.pts, frame.time_base = pts, TIME_BASE
            self._container.mux(self._stream.encode(frame))
        self._last_pts = pts
        self.frames += 1
        return True

    @property
    def duration(self) -> float:
        """Seconds from the first frame to the last one written."""
        return max(self._last_pts, 0) * float(TIME_BASE)

    def finish(self) -> Path:
        """Flush the encoder, write the index at the front, close, and rename the file to its final name; returns it.
        On failure (a full disk: OSError, from PyAV ``av.error.OSError`` with errno ENOSPC) the partial file is
        removed and the error raised."""
        try:
            if self._cv_writer is not None:
                self._cv_writer.release()
                self._cv_writer = None
                if self.partial.stat().st_size == 0:  # OpenCV's writer says nothing when the disk fills
                    raise OSError(0, "the clip is empty (disk full?)")
            else:
                self._container.mux(self._stream.encode(None))
                container, self._container = self._container, None
                container.close()  # the trailer and the faststart rewrite: where a full disk is found last
            if self.frames == 0:
                raise OSError(0, "no frame to write")
            self.bytes = self.partial.stat().st_size
            os.replace(self.partial, self.path)
        except BaseException:
            self.abort()
            raise
        return self.path

    def abort(self) -> None:
        """Close without finishing (errors ignored) and remove the partial file."""
        self._discard()
        with contextlib.suppress(OSError):
            self.partial.unlink(missing_ok=True)

    def _discard(self) -> None:
        if self._container is not None:
            container, self._container = self._container, None
            with contextlib.suppress(OSError, av.FFmpegError):
                container.close()
        if self._cv_writer is not None:
            self._cv_writer.release()
            self._cv_writer = None
