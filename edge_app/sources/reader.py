"""Readers: one decoded picture at a time from a video file, a network stream, a webcam or an image folder, each with
its presentation time.

Files and network streams (rtsp://, http://) are read with PyAV (FFmpeg's libraries). Only the video stream is
demuxed, so a file whose first picture comes after thousands of audio packets plays as it does in any player (OpenCV
gives up after ``OPENCV_FFMPEG_READ_ATTEMPTS`` packets). Each picture carries its presentation timestamp (PTS, in
seconds from the stream's first picture): a variable-frame-rate file or a stream with gaps keeps true media time,
and a picture whose size changes mid-stream (a camera switching resolution) is decoded at its new size. A packet
that cannot be decoded counts as one corrupt picture; a file whose container promised more pictures than it holds
is reported as ended early. FFmpeg's own log lines stay out of the terminal unless logging is at debug level
(:func:`library_logging`).

Webcams (an index) go through OpenCV's V4L2 capture, whose pictures have no PTS (``pts`` None: the capture thread
stamps them on arrival); image folders are read in name order at a nominal rate.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import av
import cv2
import numpy as np

from edge_app.errors import VigilError
from edge_app.sources.colour import to_bgr

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp"}
FOLDER_FPS = 10.0
# FFmpeg options of network streams: RTSP over TCP (no UDP loss or NAT trouble), low-delay decoding and a short
# stream probe, so a stream opens in about a second.
NETWORK_OPTIONS = {"rtsp_transport": "tcp", "flags": "low_delay", "analyzeduration": "500000",
                   "probesize": "500000"}


class SourceOpenError(VigilError):
    """A source that cannot be opened or holds no video; the message says why, without the URI (callers add the
    source's name and redacted URI). ``unauthorized``: the camera refused the user name or password (401/403)."""

    def __init__(self, message: str, unauthorized: bool = False):
        super().__init__(message)
        self.unauthorized = unauthorized


@dataclass(frozen=True, slots=True)
class Picture:
    """One decoded picture: ``image`` (H, W, 3) BGR uint8 at the size the stream sent; ``pts`` its presentation
    time in seconds from the start of a file (as a player shows it) or from a live stream's first picture (None
    when the source has no timestamps: a webcam)."""

    image: np.ndarray
    pts: float | None


def library_logging(debug: bool) -> None:
    """FFmpeg's (PyAV's) and OpenCV's own log lines reach the terminal only at debug level: a user sees Vigil's one
    clear line, not ``moov atom not found`` or ``[ WARN:0@...]`` before it."""
    if debug:
        av.logging.set_level(av.logging.VERBOSE)  # forwarded to Python logging ("libav.*"), shown at debug
    else:
        av.logging.set_level(None)
    cv2.setLogLevel(3 if not debug else 4)  # 3 = errors only, 4 = warnings
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8" if not debug else "24")


class AvReader:
    """A video file or network stream read with PyAV. ``fps`` is the stream's nominal rate (0 if unknown),
    ``expected_frames`` the picture count the container declares (0 if it declares none: live streams, MPEG-TS),
    ``decoded`` and ``corrupt`` count pictures decoded and packets that failed to decode.

    Raises :class:`SourceOpenError` when the source cannot be opened or has no video stream."""

    def __init__(self, uri: str, live: bool, open_timeout_s: float = 10.0, read_timeout_s: float = 2.0,
                 paced: bool | None = None):
        self.uri, self.live = uri, live
        try:
            self.container = av.open(uri, options=NETWORK_OPTIONS if live else {},
                                      timeout=(open_timeout_s, read_timeout_s))
        except (av.HTTPUnauthorizedError, av.HTTPForbiddenError) as exc:
            raise SourceOpenError(f"{_reason(exc).replace('Server returned ', '')}: check the user name and "
                                  f"password in the URL (percent-encode @ : / # and % in them, e.g. @ as %40)",
                                  unauthorized=True) from None
        except av.FFmpegError as exc:
            raise SourceOpenError(_open_reason(exc, live)) from None
        except (OSError, ValueError, UnicodeDecodeError) as exc:
            raise SourceOpenError(f"cannot open ({exc})") from None
        if not self.container.streams.video:
            kinds = sorted({s.type for s in self.container.streams}) or ["nothing"]
            self.container.close()
            raise SourceOpenError(f"not a video: no video stream (holds {', '.join(kinds)})")
        self.stream = self.container.streams.video[0]
        # frame threads add a frame of delay per thread, and cost CPU to coordinate (measured: a 640x480 picture
        # takes about a third more CPU with AUTO than with SLICE): only a file read as fast as it goes uses them
        self.stream.thread_type = "SLICE" if (live if paced is None else paced) else "AUTO"
        rate = self.stream.average_rate or self.stream.guessed_rate
        self.fps = float(rate) if rate else 0.0
        self.expected_frames = 0 if live else int(self.stream.frames or 0)  # as the container declares it
        self.declared_s = 0.0 if live else self._declared_duration()
        self.decoded = 0
        self.corrupt = 0
        self.error: str | None = None  # why reading stopped before the end, if it did
        self._packets = self.container.demux(self.stream)
        self._queue: list = []
        # media time 0 is where a player's clock starts (the container's start), so a file whose first picture comes
        # after seconds of audio shows it at the time a player does; a live stream starts at its first picture
        start = self.container.start_time
        self._first_pts: float | None = None if live or start is None else start / av.time_base
        self._offset = 0.0
        self._last = -1.0
        self._done = False

    def read(self) -> Picture | None:
        """The next picture, or None at the end of the stream (or when reading fails: ``error`` says why)."""
        while not self._queue:
            if self._done:
                return None
            try:
                packet = next(self._packets)
            except StopIteration:
                self._done = True
                return None
            except av.FFmpegError as exc:  # I/O error, timeout, connection closed
                self._done, self.error = True, _reason(exc)
                return None
            try:
                self._queue = list(packet.decode())
            except av.FFmpegError as exc:
                self.corrupt += 1
                if self.corrupt == 1:
                    log.debug("%s: packet at %s cannot be decoded (%s)", self.uri, packet.pts, _reason(exc))
        frame = self._queue.pop(0)
        self.decoded += 1
        return Picture(to_bgr(frame), self._media_time(frame))

    def _declared_duration(self) -> float:
        """Seconds of video the container says it holds (0 if it says nothing): the longest of its duration, the
        video stream's, and the declared picture count at the nominal rate."""
        stream, box = self.stream, self.container
        spans = [box.duration / av.time_base if box.duration else 0.0]
        if stream.duration and stream.time_base:
            spans.append(float(stream.duration * stream.time_base))
        if self.expected_frames and self.fps > 0:
            spans.append(self.expected_frames / self.fps)
        return max(spans)

    def ended_early(self) -> tuple[int, int] | None:
        """At the end of a file: (pictures read N, pictures declared M) when it ended before what its container
        declares (a recording cut short, a copy interrupted); None when it is complete or declares nothing. Both the
        count and the time must fall short: some containers count timestamp ticks rather than pictures."""
        if self.live or self.declared_s <= 0 or self.decoded == 0:
            return None
        got = self.decoded + self.corrupt
        period = 1.0 / self.fps if 0 < self.fps <= 240 else (self._last / max(self.decoded - 1, 1) or 0.04)
        if self.expected_frames and got >= self.expected_frames - 1:
            return None
        if self._last + 2 * period >= self.declared_s:
            return None
        declared = self.expected_frames
        if not declared or abs(declared * period - self.declared_s) > 2 * period:
            declared = round(self.declared_s / period)
        return self.decoded, declared

    def _media_time(self, frame) -> float:
        """Seconds from the start, from the frame's PTS (its best-effort timestamp); one frame period after the last
        picture when a frame has none, and kept increasing across a timestamp reset (joined recordings, a wrapped
        clock) by carrying on one frame period after the last picture."""
        step = 1.0 / self.fps if self.fps > 0 else 0.04
        t = frame.time
        if t is None:
            media = self._last + step if self._last >= 0 else 0.0
        else:
            if self._first_pts is None:
                self._first_pts = float(t)
            media = max(float(t) - self._first_pts + self._offset, 0.0)
            if media <= self._last:  # a reset or a repeated timestamp
                self._offset += self._last + step - media
                media = self._last + step
        self._last = media
        return media

    def close(self) -> None:
        self.container.close()


def _reason(exc: Exception) -> str:
    text = getattr(exc, "strerror", None) or str(exc)
    return text.split(": '")[0].strip()


def _open_reason(exc: Exception, live: bool) -> str:
    reason = _reason(exc)
    if isinstance(exc, av.InvalidDataError) and not live:
        return f"cannot open: not a video, or one cut short before its index was written ({reason})"
    return f"cannot open ({reason})"


class WebcamReader:
    """A webcam (V4L2 index) through OpenCV; pictures have no PTS."""

    def __init__(self, index: int):
        self.cap = cv2.VideoCapture(index)
        if not self.cap.isOpened():
            self.cap.release()
            raise SourceOpenError(f"cannot open webcam {index}")
        self.fps = float(self.cap.get(cv2.CAP_PROP_FPS) or 0.0)
        self.expected_frames, self.decoded, self.corrupt, self.error = 0, 0, 0, None

    def ended_early(self) -> None:
        return None  # a webcam has no declared length

    def read(self) -> Picture | None:
        ok, image = self.cap.read()
        if not ok or image is None:
            return None
        self.decoded += 1
        return Picture(image, None)

    def close(self) -> None:
        self.cap.release()


class FolderReader:
    """A folder of images read in name order at ``fps``; an image that cannot be decoded counts as corrupt."""

    def __init__(self, path: Path, fps: float = FOLDER_FPS):
        self.files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not self.files:
            raise SourceOpenError("folder has no images")
        self.fps, self.index = fps, 0
        self.expected_frames, self.decoded, self.corrupt, self.error = len(self.files), 0, 0, None

    def ended_early(self) -> None:
        return None  # every file of the folder is tried; unreadable ones count as corrupt

    def read(self) -> Picture | None:
        while self.index < len(self.files):
            image = cv2.imread(str(self.files[self.index]))
            self.index += 1
            if image is None:
                self.corrupt += 1
                continue
            self.decoded += 1
            return Picture(image, (self.index - 1) / self.fps)
        return None

    def close(self) -> None:
        pass


Reader = AvReader | WebcamReader | FolderReader


RESERVED_IN_USERINFO = set("@/#?[] ")


def encode_credentials(uri: str) -> str:
    """``uri`` with the user name and password percent-encoded when they hold characters a URL reserves (``@ / # ?``,
    as camera passwords often do); unchanged otherwise. The host follows the last ``@``, as :func:`redact` reads
    it. FFmpeg decodes them again before it authenticates."""
    scheme, sep, rest = uri.partition("://")
    if not sep or "@" not in rest:
        return uri
    userinfo, host = rest.rsplit("@", 1)
    if not RESERVED_IN_USERINFO & set(userinfo):
        return uri
    user, colon, password = userinfo.partition(":")
    return f"{scheme}://{quote(user, safe='')}{colon}{quote(password, safe='')}@{host}"


def open_reader(uri: str, live: bool, open_timeout_s: float = 10.0, read_timeout_s: float = 2.0,
                paced: bool | None = None) -> Reader:
    """The reader for ``uri``: a webcam index, an image folder, or a file / network URL. ``paced``: its pictures are
    taken at the stream's own rate (a camera, a file played in real time; default: when ``live``), so the decoder
    uses slice threads only; a file read as fast as it goes decodes with frame threads too. Raises
    :class:`SourceOpenError` saying why it cannot be read."""
    if uri.isdigit():
        return WebcamReader(int(uri))
    if not live and Path(uri).is_dir():
        return FolderReader(Path(uri))
    return AvReader(encode_credentials(uri) if live else uri, live, open_timeout_s, read_timeout_s,
                    live if paced is None else paced)
