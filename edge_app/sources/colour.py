"""Decoded video pictures to the BGR images the pipeline uses: 4:4:4 with OpenCV, everything else with swscale.

FFmpeg's swscale (PyAV's ``to_ndarray(format="bgr24")``) has no fast path from planar 4:4:4 YUV and holds Python's
GIL for part of its work: 1.3-2.1 ms a 640x480 picture here, in every capture thread, against 0.6-0.9 ms for the
same matrix applied with OpenCV (``cv2.merge`` + ``cv2.transform``, which release the GIL). Only pictures whose
matrix swscale would take as ITU-R BT.601 on limited range ("MPEG", Y 16-235; also when unstated) take that path:
measured on UP-Fall's 4:4:4 clips, at most 1 level (of 255) from swscale's picture. 4:2:0, the usual camera format,
stays with swscale: OpenCV's ``COLOR_YUV2BGR_I420`` saved only 0.03-0.14 ms at 640x480 and upsamples chroma
differently (up to 19 levels apart at colour edges), and the models were calibrated and evaluated on swscale's
pictures.
"""

from __future__ import annotations

import av
import cv2
import numpy as np

# AVColorSpace values whose matrix is BT.601 (or unstated, which swscale takes as BT.601); AVColorRange values of
# limited range (or unstated, as swscale takes it)
_BT601 = {2, 5, 6}  # unspecified, BT470BG, SMPTE170M
_LIMITED = {0, 1}  # unspecified, MPEG


def _bt601_limited() -> np.ndarray:
    """The 3x4 affine matrix from limited-range (Y, U, V) bytes to (B, G, R), ITU-R BT.601: Y in 16-235 and U, V in
    16-240 around 128 (Kr = 0.299, Kb = 0.114)."""
    ky = 255.0 / 219.0
    kc = 255.0 / 224.0
    kr, kb = 0.299, 0.114
    kg = 1.0 - kr - kb
    rows = np.array([
        [ky, 2 * (1 - kb) * kc, 0.0],  # B = Y' + 1.772 U'
        [ky, -2 * (1 - kb) * kb / kg * kc, -2 * (1 - kr) * kr / kg * kc],  # G = Y' - 0.344 U' - 0.714 V'
        [ky, 0.0, 2 * (1 - kr) * kc],  # R = Y' + 1.402 V'
    ])
    offset = -rows @ np.array([16.0, 128.0, 128.0])
    return np.hstack([rows, offset[:, None]]).astype(np.float32)


YUV_TO_BGR = _bt601_limited()


def _plane(frame: av.VideoFrame, index: int) -> np.ndarray:
    """Plane ``index`` of ``frame`` as a (height, width) uint8 view of its buffer (no copy)."""
    plane = frame.planes[index]
    return np.frombuffer(plane, np.uint8).reshape(plane.height, plane.line_size)[:, :plane.width]


def to_bgr(frame: av.VideoFrame) -> np.ndarray:
    """``frame`` as an (H, W, 3) BGR uint8 image: OpenCV for BT.601 limited-range planar 4:4:4 (``yuv444p``),
    swscale for everything else."""
    if frame.format.name == "yuv444p" and frame.colorspace in _BT601 and frame.color_range in _LIMITED:
        return cv2.transform(cv2.merge([_plane(frame, 0), _plane(frame, 1), _plane(frame, 2)]), YUV_TO_BGR)
    return frame.to_ndarray(format="bgr24")
