"""Evidence of alerts from whole runs: the snapshot and the H.264 clip of a real fall, and two Unicode-named streams'
evidence kept apart."""

from __future__ import annotations

import json
import os

import av
import cv2
import numpy as np

from support import need_shared, run_cli


def test_a_real_fall_leaves_a_snapshot_and_a_clip_that_decodes(tmp_path, manifest):
    if "fall_detector" not in manifest["models"]:
        import pytest

        pytest.skip("fall_detector not built")
    clip = need_shared("falls", "urfd", "fall-16-cam0.mp4")
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"alerts:\n  evidence:\n    dir: {tmp_path / 'evidence'}\n    before_s: 1.0\n    after_s: 0.2\n")
    events = tmp_path / "events.jsonl"
    proc = run_cli("edge_app", "run", "--config", str(cfg), "--headless", "--fast", "--source", f"bed-2={clip}",
                   "--crop", "bed-2=320,0,320,240", "--events", str(events))
    assert proc.returncode == 0, proc.stderr[-2000:]
    raised = [json.loads(x) for x in events.read_text().splitlines() if '"raised"' in x]
    assert len(raised) == 1
    snapshot, video = raised[0]["details"]["snapshot"], raised[0]["details"]["clip"]
    assert os.path.dirname(snapshot) == str(tmp_path / "evidence" / "bed-2")
    image = cv2.imread(snapshot)
    assert image is not None and image.shape == (240, 320, 3)
    banner = np.median(image[:12, :, :].reshape(-1, 3), axis=0)
    assert banner[2] > 150 and banner[0] < 110  # the red alert banner is on the snapshot
    cap = cv2.VideoCapture(video)
    frames = 0
    while cap.read()[0]:
        frames += 1
    assert frames >= 30 * (1.0 + 0.2) - 3, frames  # a second before and 0.2 s after, at 30 fps
    with av.open(video) as box:  # H.264, which browsers play (tests/system/test_clip_playback.py)
        assert box.streams.video[0].codec_context.name == "h264"
        assert (box.streams.video[0].width, box.streams.video[0].height) == (320, 240)
    assert f"evidence clip {video} (h264, " in proc.stderr


def test_two_unicode_streams_write_their_evidence_apart(tmp_path, manifest):
    clip = need_shared("falls", "upfall_s1", "Activity1", "Trial2Cam1.mp4")
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"alerts:\n  evidence:\n    dir: {tmp_path / 'evidence'}\n    before_s: 0.5\n    after_s: 0.2\n")
    proc = run_cli("edge_app", "run", "--config", str(cfg), "--headless", "--fast", "--http", "off", "--source",
                   f"走廊={clip}", "--source", f"大厅={clip}")
    assert proc.returncode == 0, proc.stderr[-2000:]
    for name in ("走廊", "大厅"):
        files = sorted(p.name for p in (tmp_path / "evidence" / name).iterdir())
        assert [f.rsplit(".", 1)[1] for f in files] == ["jpg", "mp4"] and all(name in f for f in files), files
