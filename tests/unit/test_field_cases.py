"""Issue 15's field reports, each a kind of input checked on the shared case (`../shared/data/cases`) and on a variant
made here from a real clip (tests/media.py): turned cameras, variable frame rate, a picture size change or a frozen
picture, audio before the first picture, duplicate config keys, and a file cut short. Unit tier: the parts that need
no model (orientation, source options, the reader on made videos)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

import media
from edge_app.sources.capture import CaptureThread, SourceSpec, orient
from helpers.field_cases import FRAME, case, control


def test_orient_undoes_each_mounting():
    image = np.random.default_rng(1).integers(0, 255, (48, 64, 3), dtype=np.uint8)
    assert np.array_equal(orient(cv2.rotate(image, cv2.ROTATE_180), 180, "none"), image)
    assert np.array_equal(orient(cv2.rotate(image, cv2.ROTATE_90_CLOCKWISE), 270, "none"), image)
    assert np.array_equal(orient(cv2.rotate(image, cv2.ROTATE_90_COUNTERCLOCKWISE), 90, "none"), image)
    assert np.array_equal(orient(cv2.flip(image, 1), 0, "horizontal"), image)
    assert np.array_equal(orient(cv2.flip(image, 0), 0, "vertical"), image)
    assert np.array_equal(orient(image, 180, "none"), orient(orient(image, 0, "horizontal"), 0, "vertical"))


def test_the_turned_case_is_delivered_as_the_control_was_filmed():
    turned = CaptureThread(SourceSpec("c", str(case("upside_down_fall.mp4")), realtime=False, lossless=True,
                                      rotate=180))
    turned.start()
    try:
        frame = turned.get(10.0)
    finally:
        turned.stop()
    original = media.decode(control())[0][0]
    assert frame is not None and frame.image.shape == original.shape
    assert np.abs(frame.image.astype(int) - original.astype(int)).mean() < 3.0  # the same picture (re-encoded)


def frozen_clip(tmp_path: Path, start: int, end: int) -> Path:
    """The control with pictures start..end-1 all equal to picture start-1 (a sender repeating its last picture),
    in MJPEG at a fixed quantizer so the repeats decode bit for bit equal."""
    pictures = media.decode(control())
    return media.encode(tmp_path / "frozen.mkv", [(pictures[start - 1][0] if start <= i < end else img, pts)
                                                   for i, (img, pts) in enumerate(pictures)], codec="mjpeg",
                        options={"qmin": "3", "qmax": "3"})


@pytest.mark.parametrize("start, end", [(60, 120), (3, 90)])
def test_frozen_pictures_are_never_analysed_and_the_source_reads_frozen(tmp_path, start, end):
    cap = CaptureThread(SourceSpec("cam", str(frozen_clip(tmp_path, start, end)), realtime=False, lossless=True,
                                   frozen_after_s=2.0))
    cap.start()
    frames = []
    try:
        while not cap.exhausted:
            frame = cap.get(0.5)
            if frame is not None:
                frames.append(frame)
    finally:
        cap.stop()
    assert len(frames) == 141 - (end - start)
    for a, b in zip(frames, frames[1:], strict=False):
        assert not np.array_equal(a.image, b.image), (a.seq, b.seq)  # no repeated picture analysed
    assert cap.stats.frozen == end - start
    statuses = [s for _, s in cap.stats.status_changes]
    assert "frozen" in statuses and statuses.index("frozen") < len(statuses) - 1 and \
        statuses[statuses.index("frozen") + 1] == "online"  # and back when the picture moves again
    gap = [b.media_time - a.media_time for a, b in zip(frames, frames[1:], strict=False)]
    assert max(gap) == pytest.approx((end - start + 1) * FRAME, abs=0.01)  # media time kept its true clock
