"""Low frame rates (issue 16, kind 7): falls seen at 2 and 5 frames per second raise one alert each; below the rate
an analyzer needs it pauses, with a warning, instead of guessing. Variants made here from real UP-Fall clips
(18 fps) by keeping every n-th picture at its own timestamp (tests/media.py). System tier."""

from __future__ import annotations

import json

import av
import pytest

import media
from support import need_shared, run_cli


def thinned(tmp_path, activity: int, camera: int, rate: float):
    clip = need_shared("falls", "upfall_s1", f"Activity{activity}", f"Trial2Cam{camera}.mp4")
    with av.open(str(clip)) as box:
        step = max(1, round(float(box.streams.video[0].average_rate) / rate))
    return media.thinned(clip, tmp_path / f"a{activity}c{camera}-{rate:g}fps.mp4", lambda i: i % step == 0, fps=rate)


def run(tmp_path, path):
    events, stats = tmp_path / "events.jsonl", tmp_path / "stats.json"
    events.unlink(missing_ok=True)
    proc = run_cli("edge_app", "run", "--headless", "--fast", "--http", "off", "--source", f"cam={path}",
                   "--events", str(events), "--stats", str(stats))
    assert proc.returncode == 0, proc.stderr[-2000:]
    raised = [json.loads(x) for x in events.read_text().splitlines()] if events.exists() else []
    return [e for e in raised if e["state"] == "raised"], json.loads(stats.read_text()), proc.stderr


@pytest.mark.parametrize("rate", [5, 2])
@pytest.mark.parametrize("activity, camera", [(1, 1), (3, 2), (5, 1)])  # falls forward, sideways, from sitting
def test_a_fall_seen_at_a_low_frame_rate_raises_one_alert(tmp_path, manifest, rate, activity, camera):
    raised, stats, stderr = run(tmp_path, thinned(tmp_path, activity, camera, rate))
    assert [e["type"] for e in raised] == ["fall"], raised
    assert "cam:fall" not in stats["paused"] and "fall alerts are paused" not in stderr
    assert "cam:fatigue" in stats["paused"]  # fatigue needs 8 fps: paused, and said


def test_below_the_rate_fall_detection_pauses_and_says_so(tmp_path, manifest):
    raised, stats, stderr = run(tmp_path, thinned(tmp_path, 1, 1, 1))
    assert raised == []
    assert "cam:fall" in stats["paused"] and "cam:fatigue" in stats["paused"]
    assert stderr.count("below the 2 fall detection needs: fall alerts are paused") == 1
    assert any("fall alerts are paused" in hint for hint in stats["hints"]["cam"])


def test_walking_at_one_frame_per_second_raises_no_fatigue(tmp_path, manifest):
    raised, stats, stderr = run(tmp_path, thinned(tmp_path, 6, 1, 1))
    assert raised == [] and "cam:fatigue" in stats["paused"]
    assert "fatigue alerts are paused" in stderr
