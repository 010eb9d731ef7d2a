"""Picture colour conversion (sources/colour.py): OpenCV's 4:4:4 path against FFmpeg's swscale."""

import av
import numpy as np
import pytest

from edge_app.sources.colour import to_bgr
from support import need_shared


def _frame(fmt: str, seed: int = 0, colorspace: int | None = None, color_range: int | None = None) -> av.VideoFrame:
    rng = np.random.default_rng(seed)
    bgr = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)
    bgr[:, :32] = (40, 180, 90)  # a flat patch next to noise: both edges and plain colour
    frame = av.VideoFrame.from_ndarray(bgr, format="bgr24").reformat(format=fmt)
    if colorspace is not None:
        frame.colorspace = colorspace
    if color_range is not None:
        frame.color_range = color_range
    return frame


def test_bt601_limited_444_matches_swscale_within_one_level():
    frame = _frame("yuv444p")
    ours, theirs = to_bgr(frame), frame.to_ndarray(format="bgr24")
    assert ours.shape == theirs.shape == (48, 64, 3) and ours.dtype == np.uint8
    assert np.abs(ours.astype(int) - theirs.astype(int)).max() <= 1


@pytest.mark.parametrize("fmt, colorspace, color_range", [
    ("yuv444p", 1, None),  # BT.709: another matrix
    ("yuv444p", None, 2),  # full range (JPEG)
    ("yuv420p", None, None),  # 4:2:0: swscale's own chroma upsampling
    ("nv12", None, None),
])
def test_other_pictures_are_swscales_exactly(fmt, colorspace, color_range):
    frame = _frame(fmt, 1, colorspace, color_range)
    assert np.array_equal(to_bgr(frame), frame.to_ndarray(format="bgr24"))


def test_a_real_444_clip_converts_as_swscale_does():
    clip = need_shared("falls", "upfall_s1", "Activity1", "Trial2Cam1.mp4")
    with av.open(str(clip)) as box:
        frames = [f for _, f in zip(range(10), box.decode(video=0))]
    assert frames[0].format.name == "yuv444p"
    for f in frames:
        assert np.abs(to_bgr(f).astype(int) - f.to_ndarray(format="bgr24").astype(int)).max() <= 1
