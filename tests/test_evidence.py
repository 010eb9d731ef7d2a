"""Evidence of alerts: snapshot and clip from a real fall, retention, safe names, and no event lost to a slow
render stage."""

from __future__ import annotations

import json
import os
import time

import cv2
import numpy as np

from edge_app.alerts.evidence import EvidenceRecorder, EvidenceSettings, paths_for
from edge_app.records import Event
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


def event(stream="cam", wall=None, type_="fall"):
    return Event(type_, stream, 3, "raised", 1.0, 10.0, wall or time.time(), {})


def test_names_are_safe_and_inside_the_folder(tmp_path):
    settings = EvidenceSettings(dir=tmp_path)
    snap, clip = paths_for(settings, event(stream="../../etc/passwd", type_="fall/../x"))
    for p in (snap, clip):
        assert p.resolve().is_relative_to(tmp_path.resolve()) and ".." not in p.name


def test_retention_by_size_and_age(tmp_path):
    rec = EvidenceRecorder(EvidenceSettings(dir=tmp_path, max_mb=0.05, max_days=1))
    for i in range(8):
        p = tmp_path / "cam" / f"{i}.jpg"
        p.parent.mkdir(exist_ok=True)
        p.write_bytes(os.urandom(10_000))
        os.utime(p, (time.time() - 100 + i, time.time() - 100 + i))
    old = tmp_path / "cam" / "old.mp4"
    old.write_bytes(b"x")
    os.utime(old, (time.time() - 3 * 86400,) * 2)
    rec.prune()
    left = sorted(p.name for p in (tmp_path / "cam").iterdir())
    assert "old.mp4" not in left
    assert left == [f"{i}.jpg" for i in range(3, 8)]  # newest kept, under 0.05 MB


def test_a_clip_holds_the_seconds_before_and_after(tmp_path):
    settings = EvidenceSettings(dir=tmp_path, before_s=1.0, after_s=0.5)
    rec = EvidenceRecorder(settings)
    alert = event()
    snap, clip = paths_for(settings, alert)
    alert.details.update(snapshot=str(snap), clip=str(clip))
    for i in range(60):  # 3 s at 20 fps, the alert at 2 s
        image = np.full((48, 64, 3), i * 4, np.uint8)
        rec.frame("cam", i / 20, image, [alert] if i == 40 else [])
    rec.close()
    cap = cv2.VideoCapture(str(clip))
    means = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        means.append(frame.mean() / 4)
    assert 28 <= len(means) <= 32  # 1 s before + the alert frame + 0.5 s after, at 20 fps
    assert abs(means[0] - 20) <= 1.5 and abs(means[-1] - 50) <= 1.5  # from 1 s before to 0.5 s after


def test_the_render_stage_never_drops_an_event():
    from edge_app.metrics import FrameTiming, Metrics
    from edge_app.records import Frame
    from edge_app.render.renderer import Processed, Renderer

    renderer = Renderer(["cam"], Metrics(), "CPU", "int8", None)  # not started: its queue fills up
    img = np.zeros((8, 8, 3), np.uint8)
    for i in range(6):
        frame = Frame("cam", i, img, 0.0, 0.0, float(i))
        renderer.submit(Processed(frame, [], [event()] if i == 1 else [], FrameTiming(captured=0.0)))
    waiting = [renderer.inbox.get_nowait() for _ in range(renderer.inbox.qsize())]
    assert renderer.dropped == 4 and sum(len(p.events) for p in waiting) == 1


def test_unicode_stream_names_keep_their_own_folders_and_appear_in_file_names(tmp_path):
    settings = EvidenceSettings(dir=tmp_path)
    names = ["走廊", "大厅", "Küche", "hall-2", "hall_2"]
    paths = {name: paths_for(settings, event(stream=name))[0] for name in names}
    assert len({p.parent for p in paths.values()}) == len(names)  # never a shared folder
    for name in names:
        assert paths[name].parent == tmp_path / name and name in paths[name].name


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
