"""Evidence of alerts: snapshot and clip from a real fall, retention, safe names, and no event lost to a slow
render stage."""

from __future__ import annotations

import os
import time

import cv2
import numpy as np

from edge_app.alerts.evidence import EvidenceRecorder, EvidenceSettings, paths_for
from edge_app.records import Event


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
    from edge_app.records import Frame
    from edge_app.render.renderer import Processed, Renderer
    from edge_app.timing import FrameTiming, Metrics

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
