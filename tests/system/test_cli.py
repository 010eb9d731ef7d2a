"""Command lines: results for good input, one clear line and a non-zero exit for bad input."""

from __future__ import annotations

import json

import pytest

from support import MODELS_IR, assert_clean_error, need_shared, run_cli


def test_config_describe_lists_keys():
    proc = run_cli("edge_app", "config", "--describe")
    assert proc.returncode == 0 and "min_detection_score: float = 0.5" in proc.stdout


def test_config_validate_bad_key(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("inference:\n  devise: GPU\n")
    assert_clean_error(run_cli("edge_app", "config", "--config", str(bad)), str(bad), "inference.devise")


@pytest.mark.parametrize("make_source, needle", [
    (lambda d: str(d / "missing.mp4"), "not found"),
    (lambda d: ((d / "notes.txt").write_text("hello"), str(d / "notes.txt"))[1], "cannot open"),
    (lambda d: ((d / "empty.mp4").write_bytes(b""), str(d / "empty.mp4"))[1], "empty.mp4"),
    (lambda d: ((d / "noise.mp4").write_bytes(bytes(range(256)) * 64), str(d / "noise.mp4"))[1], "noise.mp4"),
    (lambda d: ((d / "imgs").mkdir(), str(d / "imgs"))[1], "folder has no images"),
    (lambda d: "rtsp://user:secret@127.0.0.1:9/none", "cannot open"),
])
def test_run_bad_sources(tmp_path, manifest, make_source, needle):
    source = make_source(tmp_path)
    proc = run_cli("edge_app", "run", "--headless", "--source", source, "--max-frames", "5", timeout=120)
    last = assert_clean_error(proc, needle)
    assert "secret" not in proc.stderr + proc.stdout  # credentials are never printed
    if "rtsp" in source:
        assert "***@127.0.0.1" in last


def test_run_missing_models_dir(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"models:\n  dir: {tmp_path / 'no_models'}\n")
    proc = run_cli("edge_app", "run", "--config", str(cfg), "--source", "0", "--headless")
    assert_clean_error(proc, "manifest.json: not found", "make models")


def test_run_unwritable_record_path(tmp_path, manifest):
    clip = need_shared("falls", "urfd", "fall-01-cam0.mp4")
    blocker = tmp_path / "file"
    blocker.write_text("x")
    proc = run_cli("edge_app", "run", "--headless", "--source", str(clip), "--max-frames", "3",
                   "--record", str(blocker / "out.mp4"))
    assert_clean_error(proc, "--record")


def test_run_records_video_events_and_stats(tmp_path, manifest):
    import cv2

    clip = need_shared("falls", "upfall_s1", "Activity8", "Trial1Cam1.mp4")
    out, stats, events = tmp_path / "out.mp4", tmp_path / "stats.json", tmp_path / "events.jsonl"
    proc = run_cli("edge_app", "run", "--headless", "--fast", "--source", f"cam1={clip}", "--max-frames", "200",
                   "--record", str(out), "--stats", str(stats), "--events", str(events))
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(stats.read_text())
    assert summary["frames"] == 200 and summary["dropped"] == 0
    cam = summary["streams"]["cam1"]
    assert cam["frames"] == 200 and cam["fps"] > 0
    assert set(cam["stage_ms"]) == {"queue", "preprocess", "infer", "postprocess", "pose", "tracking", "analysis",
                                    "render"}
    assert {"p50", "p95", "p99"} <= set(cam["glass_to_render_ms"]) and summary["rss_mb"] > 0
    assert "int8" in summary["models"]["landmarks"] or "f32" in summary["models"]["landmarks"]
    cap = cv2.VideoCapture(str(out))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 200  # --fast records every frame
    lines = [json.loads(line) for line in events.read_text().splitlines()]
    assert lines, "no events"
    for key in ("ts", "wall", "stream", "frame", "type", "track_id", "state", "score", "details"):
        assert key in lines[0]
    assert lines[0]["type"] == "posture" and lines[0]["stream"] == "cam1" and lines[0]["state"] == "info"
    assert [e["details"]["posture"] for e in lines][:2] == ["standing", "sitting"]


def test_evaluate_pose_gt_box_writes_json(tmp_path, manifest):
    root = need_shared("pose", "coco_minitrain")
    out = tmp_path / "eval.json"
    proc = run_cli("convert", "evaluate-pose", "--annotations", str(root / "person_keypoints.json"),
                   "--images", str(root / "images"), "--model", "pose_landmark_full", "--precision", "int8",
                   "--mode", "gt-box", "--json", str(out))
    assert proc.returncode == 0, proc.stderr
    result = json.loads(out.read_text())
    for key in ("people", "mean_oks", "oks_ge_0.5", "oks_ge_0.75", "pck_0.2", "keypoint_error_px"):
        assert key in result
    recorded = json.loads((MODELS_IR / "manifest.json").read_text())["models"]["pose_landmark_full"]
    assert result["mean_oks"] == pytest.approx(
        recorded["variants"]["int8"]["runs"]["int8"]["accuracy"]["mean_oks"], abs=0.002)


def test_evaluate_pose_full_reports_coco_ap(tmp_path, manifest):
    root = need_shared("pose", "coco_minitrain")
    proc = run_cli("convert", "evaluate-pose", "--annotations", str(root / "person_keypoints.json"),
                   "--images", str(root / "images"), "--precision", "int8", "--mode", "full")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout[proc.stdout.index("{"):])
    assert 0 < result["ap"] <= 1 and result["detector"]["people"] == result["people"]


def test_evaluate_pose_bad_annotations(tmp_path, manifest):
    bad = tmp_path / "a.json"
    bad.write_text('{"images": []}')
    proc = run_cli("convert", "evaluate-pose", "--annotations", str(bad), "--images", str(tmp_path))
    assert_clean_error(proc, str(bad), "not a COCO keypoint annotation file")


def test_build_unknown_model_name():
    assert_clean_error(run_cli("convert", "build", "no_such_model"), "no model 'no_such_model'")


def test_demo_serves_the_clip_over_rtsp_and_records(tmp_path, manifest):
    import cv2

    from support import rtsp_available

    if not rtsp_available():
        pytest.skip("needs GStreamer's RTSP server for the system python3 (make setup installs it)")
    out, stats = tmp_path / "demo.mp4", tmp_path / "stats.json"
    proc = run_cli("edge_app", "demo", "--headless", "--duration", "8", "--record", str(out), "--stats", str(stats),
                   timeout=240)
    assert proc.returncode == 0, proc.stderr[-2000:]
    summary = json.loads(stats.read_text())
    if "0" in summary["streams"] or "stream0" in summary["streams"]:
        pytest.skip("a webcam is present: the demo used it")
    assert summary["streams"]["vtest"]["frames"] > 20  # the clip came over RTSP at 10 fps
    assert summary["sources"]["vtest"]["captured"] > 20
    assert int(cv2.VideoCapture(str(out)).get(cv2.CAP_PROP_FRAME_COUNT)) > 20


def test_crop_a_side_by_side_clip(tmp_path, manifest):
    clip = need_shared("falls", "urfd", "fall-04-cam0.mp4")
    stats = tmp_path / "s.json"
    proc = run_cli("edge_app", "run", "--headless", "--fast", "--source", f"ur={clip}", "--crop", "ur=320,0,320,240",
                   "--max-frames", "40", "--stats", str(stats))
    assert proc.returncode == 0, proc.stderr[-1500:]
    assert json.loads(stats.read_text())["streams"]["ur"]["frames"] == 40


def test_sources_and_crops_from_the_config(tmp_path, manifest):
    clip = need_shared("falls", "urfd", "fall-04-cam0.mp4")
    cfg = tmp_path / "site.yaml"
    cfg.write_text(f"sources:\n  - name: ur-rgb\n    uri: {clip}\n    crop: [320, 0, 320, 240]\n"
                   f"  - name: ur-whole\n    uri: {clip}\n")
    stats = tmp_path / "s.json"
    proc = run_cli("edge_app", "run", "--config", str(cfg), "--headless", "--fast", "--max-frames", "40",
                   "--stats", str(stats))
    assert proc.returncode == 0, proc.stderr[-1500:]
    assert set(json.loads(stats.read_text())["streams"]) == {"ur-rgb", "ur-whole"}
    cfg.write_text(f"sources:\n  - name: ur\n    uri: {clip}\n    crop: [400, 0, 320, 240]\n")
    assert_clean_error(run_cli("edge_app", "run", "--config", str(cfg), "--headless", "--max-frames", "2"),
                       "source ur", "does not fit")
    cfg.write_text("pose:\n  max_people: 2\n")
    assert_clean_error(run_cli("edge_app", "run", "--config", str(cfg), "--headless"), "no source", str(cfg))


@pytest.mark.parametrize("crop, needle", [("ur=1,2,3", "expected NAME=X,Y,W,H"), ("other=0,0,10,10", "names no source"),
                                          ("ur=0,0,0,10", "crop must be"),
                                          ("ur=400,0,320,240", "does not fit its 640x240 frames")])
def test_bad_crops(tmp_path, manifest, crop, needle):
    clip = need_shared("falls", "urfd", "fall-04-cam0.mp4")
    proc = run_cli("edge_app", "run", "--headless", "--source", f"ur={clip}", "--crop", crop, "--max-frames", "2")
    assert_clean_error(proc, needle)
