"""Where the render thread leaves each stream's newest annotated view for whoever shows it elsewhere (the HTTP
console, snapshots): references only, no copy and no encoding in the render thread. The web side reads it; the
render side never imports the web side.

Views are drawn on demand: the render thread draws a frame for the hub only while someone has asked for a view in
the last DEMAND_S seconds (:meth:`FrameHub.wanted`); a box nobody watches spends nothing on drawing (8 streams:
1-1.5 ms of CPU a frame here). A request that comes after frames went by undrawn waits for the next frame's view,
or, when no frame comes (a camera offline, a file ended), for the render thread to draw the newest undrawn one."""

from __future__ import annotations

import math
import threading
import time

import cv2
import numpy as np

from edge_app.render.draw import mosaic

DEMAND_S = 3.0  # a request for a view keeps frames drawn this long (an MJPEG client asks at least once a second)


class FrameHub:
    """The newest rendered view of each stream, the mosaic of them all, and a condition to wait for the next one.

    The mosaic is built only when a client asks for it (once per published frame, whoever asks): building it for
    every frame of every stream cost the render thread more than drawing did (4 streams: 55 % of its time)."""

    def __init__(self):
        self._cond = threading.Condition()
        self._image: np.ndarray | None = None  # the mosaic of the newest frame, once built
        self._streams: dict[str, np.ndarray] = {}  # in the mosaic's order
        self.seq = 0
        self._wanted_until = -1.0  # time.monotonic() until which views are asked for
        self._stale = False  # frames went by undrawn since the last published view

    def keep_drawn(self) -> None:
        """Every frame's view is wanted from now on, whether or not a client asks (a run whose result is its last
        view: a console upload's annotated photo)."""
        self._wanted_until = math.inf

    def wanted(self) -> bool:
        """Whether anyone asked for a view in the last DEMAND_S seconds: the render thread draws for the hub then."""
        return time.monotonic() < self._wanted_until

    def skipped(self) -> None:
        """The render thread let a frame go by undrawn (nobody watching): the next request waits for a fresh view."""
        self._stale = True

    def publish(self, image: np.ndarray | None, streams: dict[str, np.ndarray] | None = None) -> None:
        """``image``: the view as shown, or None to build it from ``streams`` when asked."""
        with self._cond:
            self._image, self.seq, self._stale = image, self.seq + 1, False
            if streams is not None:
                self._streams = streams
            self._cond.notify_all()

    def newer_than(self, seq: int, timeout: float, stream: str | None = None) -> tuple[int, np.ndarray | None]:
        """The newest image after ``seq`` (waiting up to ``timeout``): one stream's, or the mosaic. Asking makes
        the render thread draw views for DEMAND_S seconds; when it has let frames go by undrawn, this waits for the
        next one's view (the picture returned is never older than the newest frame shown elsewhere)."""
        with self._cond:
            self._wanted_until = max(self._wanted_until, time.monotonic() + DEMAND_S)
            if self.seq <= seq or self._stale:
                self._cond.wait(timeout)
            if stream is not None:
                return self.seq, self._streams.get(stream)
            if self._image is None and self._streams:
                self._image = mosaic(list(self._streams.values()))
            return self.seq, self._image


def encode_jpeg(image: np.ndarray, quality: int) -> bytes:
    """``image`` (H, W, 3) BGR uint8 as JPEG bytes at ``quality`` (10-100); ValueError if OpenCV cannot encode it."""
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return buf.tobytes()
