"""Fall detection: features, the state machine on scripted skeletons, and the real model and pipeline on the shared
footage (held-back clips)."""

from __future__ import annotations

import json

import pytest

from support import assert_clean_error, need_shared, run_cli


@pytest.mark.parametrize("text, needle", [("analysis:\n  fall:\n    threshold: 2\n", "threshold must be"),
                                          ("analysis:\n  fall:\n    confirm_s: -1\n", "confirm_s must be >= 0"),
                                          ("analysis:\n  fall:\n    modle: x\n", "analysis.fall.modle: unknown")])
def test_bad_fall_config(tmp_path, text, needle):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(text)
    assert_clean_error(run_cli("edge_app", "config", "--config", str(cfg)), needle)


def test_real_fall_clip_raises_and_sitting_clip_does_not(manifest, tmp_path):
    if "fall_detector" not in manifest["models"]:
        pytest.skip("fall_detector not built")
    fall = need_shared("falls", "urfd", "fall-16-cam0.mp4")  # held back from training
    sitting = need_shared("falls", "upfall_s1", "Activity8", "Trial2Cam1.mp4")
    lying_down = need_shared("falls", "upfall_s1", "Activity11", "Trial2Cam1.mp4")  # on purpose: only the model
    for clip, crop, expected in ((fall, ["--crop", "c=320,0,320,240"], 1), (sitting, [], 0), (lying_down, [], 0)):
        events = tmp_path / f"{clip.stem}.jsonl"
        proc = run_cli("edge_app", "run", "--headless", "--fast", "--source", f"c={clip}", *crop,
                       "--events", str(events))
        assert proc.returncode == 0, proc.stderr[-2000:]
        falls = [json.loads(line) for line in events.read_text().splitlines() if '"fall"' in line]
        raised = [e for e in falls if e["type"] == "fall" and e["state"] == "raised"]
        assert len(raised) == expected, (clip, raised)
        if expected:
            assert raised[0]["ts"] < 55 / 30 + 1.0  # within a second of the first labelled lying frame (55)
            assert raised[0]["details"]["person_lost"] is False and "lost_track" not in raised[0]["details"]
            assert raised[0]["score"] >= 0.95  # through the model's path: its score at the threshold


def test_evaluate_writes_per_clip_and_total_results(manifest, tmp_path):
    if "fall_detector" not in manifest["models"]:
        pytest.skip("fall_detector not built")
    labels = need_shared("falls", "urfd", "urfall-cam0-falls.csv")
    clip_list = tmp_path / "clips.json"
    clip_list.write_text(json.dumps([
        {"path": str(need_shared("falls", "urfd", "fall-18-cam0.mp4")), "kind": "fall", "crop": [320, 0, 320, 240],
         "label_source": "urfd-csv"},
        {"path": str(need_shared("falls", "upfall_s1", "Activity9", "Trial2Cam2.mp4")), "kind": "adl"}]))
    out = tmp_path / "eval.json"
    proc = run_cli("edge_app", "evaluate", "--clips", str(clip_list), "--labels", str(labels), "--json", str(out))
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(out.read_text())
    totals = result["totals"]
    assert totals["fall_clips"] == 1 and totals["adl_clips"] == 1 and totals["fall_recall"] == 1.0
    assert totals["false_fall_alerts"] == 0 and totals["alert_delay_s"]["clips_with_labels"] == 1
    first = result["clips"][0]
    assert first["first_lying_s"] == pytest.approx(45 / 30, abs=0.01) and first["alert_delay_s"] <= 1.0


@pytest.mark.parametrize("content, needle", [("[]", "non-empty list"), ("{", "not a JSON clip list"),
                                             ('[{"path": "x.mp4"}]', "needs \"path\" and \"kind\""),
                                             ('[{"path": "nope.mp4", "kind": "fall"}]', "not found")])
def test_evaluate_bad_clip_lists(tmp_path, content, needle):
    clip_list = tmp_path / "clips.json"
    clip_list.write_text(content)
    proc = run_cli("edge_app", "evaluate", "--clips", str(clip_list), "--json", str(tmp_path / "o.json"))
    assert_clean_error(proc, needle)
