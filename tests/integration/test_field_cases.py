"""Issue 15's field reports, each a kind of input checked on the shared case (`../shared/data/cases`) and on a variant
made here from a real clip (tests/media.py): turned cameras, variable frame rate, a picture size change or a frozen
picture, audio before the first picture, duplicate config keys, and a file cut short. System tier: the whole
`python -m edge_app run` with the built models, judged by its events, `--stats` and exit code."""

from __future__ import annotations

from pathlib import Path

import cv2
import pytest

import media
from helpers.field_cases import (
    FRAME,
    case,
    control,
    one_fall,
    run,
)
from support import need_shared


def test_upside_down_case_with_rotate_180_raises_the_controls_fall(tmp_path, control_fall):
    raised, stats, _ = run(tmp_path, f"cam={case('upside_down_fall.mp4')}#rotate=180")
    assert abs(one_fall(raised)["ts"] - control_fall["ts"]) <= FRAME + 1e-6
    assert stats["sources"]["cam"]["orientation"] == "rotate 180"


def assert_ts_is_the_pictures_pts(path: Path, event: dict) -> None:
    pts = [t for _, t in media.decode(path)]
    assert abs(event["ts"] - pts[event["frame"]]) <= FRAME + 1e-6, (event["ts"], pts[event["frame"]])


def test_vfr_case_events_carry_presentation_time_and_true_descent_speed(tmp_path, control_fall):
    path = case("vfr_fall.mp4")
    raised, stats, _ = run(tmp_path, f"cam={path}")
    fall = one_fall(raised)
    assert_ts_is_the_pictures_pts(path, fall)
    assert fall["ts"] >= control_fall["ts"] - 1e-6  # never earlier than the fall happened
    ratio = fall["details"]["descent_speed"] / control_fall["details"]["descent_speed"]
    assert 0.6 <= ratio <= 1.6, ratio  # frame counting read it 2.4x the truth
    assert stats["frames"] == 105


def test_vfr_pickup_case_raises_nothing(tmp_path):
    raised, _, _ = run(tmp_path, f"cam={case('vfr_pickup.mp4')}")
    assert raised == []


def test_vfr_variant_thinned_around_the_fall(tmp_path, control_fall):
    # every 2nd picture for the first second, every 4th from 1 s to 2.5 s (the fall), all after
    path = media.thinned(control(), tmp_path / "vfr.mp4",
                         lambda i: (i < 18 and i % 2 == 0) or (18 <= i < 45 and i % 4 == 0) or i >= 45)
    raised, _, _ = run(tmp_path, f"cam={path}")
    fall = one_fall(raised)
    assert_ts_is_the_pictures_pts(path, fall)
    assert control_fall["ts"] - 1e-6 <= fall["ts"] <= control_fall["ts"] + 4 * FRAME


def test_size_change_case_analyses_the_new_size_and_raises_its_fall(tmp_path, control_fall):
    raised, stats, stderr = run(tmp_path, f"cam={case('size_change_walk320_then_fall640.ts')}")
    fall = one_fall(raised)
    assert abs(fall["ts"] - (4.0 + control_fall["ts"])) <= FRAME + 1e-6  # 4 s at 320x240 first
    source = stats["sources"]["cam"]
    assert source["size_changes"] == 1 and source["frozen"] == 0 and stats["frames"] == 72 + 141
    assert "picture size changed from 320x240 to 640x480" in stderr


def test_size_change_variant(tmp_path, control_fall):
    walk = need_shared("falls", "upfall_s1", "Activity6", "Trial2Cam1.mp4")
    path = media.size_change(walk, 3.0, (480, 360), control(), tmp_path / "joined.ts")
    raised, stats, _ = run(tmp_path, f"cam={path}")
    fall = one_fall(raised)
    assert abs(fall["ts"] - (3.0 + control_fall["ts"])) <= 2 * FRAME
    assert stats["sources"]["cam"]["size_changes"] == 1


@pytest.mark.parametrize("lead_s, samples", [(8.0, 64), (4.0, 32)])
def test_audio_before_the_first_picture_is_analysed(tmp_path, control_fall, lead_s, samples):
    path = media.encode(tmp_path / "audio_first.mkv", media.decode(control()), audio_lead_s=lead_s,
                        audio_packet_samples=samples)
    opencv = cv2.VideoCapture(str(path))
    assert not opencv.read()[0]  # the kind: OpenCV's reader gives up before the first picture
    opencv.release()
    raised, stats, _ = run(tmp_path, f"cam={path}")
    assert abs(one_fall(raised)["ts"] - (lead_s + control_fall["ts"])) <= FRAME + 1e-6  # a player's clock
    assert stats["frames"] == 141


@pytest.mark.parametrize("name, codec, options, fraction", [
    ("whole.mp4", "libx264", {"movflags": "faststart"}, 0.6),  # index first: the count is declared
    ("whole.mp4", "libx264", {"movflags": "faststart"}, 0.3),
    ("whole.mkv", "libx264", {}, 0.5),  # only the duration is declared
    ("whole.avi", "mjpeg", {}, 0.5),  # its header counts timestamp ticks, not pictures
])
def test_a_file_cut_short_says_ended_early_once_and_counts_no_corrupt_frames(tmp_path, name, codec, options,
                                                                              fraction):
    whole = media.encode(tmp_path / name, media.decode(control()), codec=codec, container_options=options)
    _, stats, stderr = run(tmp_path, f"cam={whole}")
    assert stats["sources"]["cam"]["ended_early"] is None and "ended early" not in stderr  # whole: nothing said
    cut = media.cut_short(whole, tmp_path / f"cut{Path(name).suffix}", fraction)
    _, stats, stderr = run(tmp_path, f"cam={cut}")
    source = stats["sources"]["cam"]
    assert source["corrupt"] == 0 and 0 < stats["frames"] < 141
    assert source["ended_early"] == f"frame {stats['frames']} of 141"
    assert stderr.count("ended early at frame") == 1
    assert "[ WARN" not in stderr and "moov" not in stderr
