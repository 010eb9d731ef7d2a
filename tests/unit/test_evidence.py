"""Evidence of alerts: clips (H.264 a browser plays: yuv420p, faststart, time stamps from media times, odd sizes,
partial files, the mp4v fallback, refused writes), retention, safe names, and no event lost to a slow render
stage."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import av
import cv2
import numpy as np

from edge_app.alerts.evidence import EvidenceRecorder, EvidenceSettings, paths_for
from edge_app.io_faults import IO_FAULTS
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


# H.264 clips (alerts/clip.py): what a browser needs, time stamps from media times, partial files, faults


def raised_alert(settings, stream="cam", wall=None, type_="fall"):
    """A raised event naming its snapshot and clip, as the pipeline hands it to the render thread; and its clip."""
    alert = event(stream=stream, wall=wall, type_=type_)
    snap, clip = paths_for(settings, alert)
    alert.details.update(snapshot=str(snap), clip=str(clip))
    return alert, clip


def picture(i: int, size=(64, 48)) -> np.ndarray:
    """Frame ``i``: grey level 4*i, so a decoded frame says which one it was."""
    return np.full((size[1], size[0], 3), i * 4, np.uint8)


def top_boxes(path) -> list[str]:
    """The MP4's top-level box types in file order (ftyp, moov, mdat ...)."""
    data, kinds, at = path.read_bytes(), [], 0
    while at + 8 <= len(data):
        size = int.from_bytes(data[at:at + 4], "big")
        kinds.append(data[at + 4:at + 8].decode("latin-1"))
        if size == 1:
            size = int.from_bytes(data[at + 8:at + 16], "big")
        if size < 8:
            break
        at += size
    return kinds


def decoded(path) -> list[tuple[float, float]]:
    """Every frame of ``path`` as (PTS seconds, mean grey / 4)."""
    with av.open(str(path)) as box:
        return [(float(f.time), f.to_ndarray(format="gray").mean() / 4) for f in box.decode(video=0)]


def test_a_clip_is_h264_yuv420p_faststart_and_spans_before_and_after(tmp_path, caplog):
    settings = EvidenceSettings(dir=tmp_path, before_s=1.0, after_s=0.5)
    rec = EvidenceRecorder(settings)
    alert, clip = raised_alert(settings)
    with caplog.at_level("INFO", logger="edge_app.alerts.evidence"):
        for i in range(60):  # 3 s at 20 fps, the alert at 2 s
            rec.frame("cam", i / 20, picture(i), [alert] if i == 40 else [])
        rec.close()
    assert sorted(p.name for p in clip.parent.iterdir()) == [clip.name]  # no partial file left
    assert rec.written == [Path(alert.details["snapshot"]), clip]
    with av.open(str(clip)) as box:
        video = box.streams.video[0]
        assert video.codec_context.name == "h264" and video.codec_context.pix_fmt == "yuv420p"
        assert (video.width, video.height) == (64, 48)
        duration = box.duration / av.time_base
    assert abs(duration - 1.5) <= 2 / 20, duration  # before_s + after_s, within two frames (20 fps)
    kinds = top_boxes(clip)
    assert kinds.index("moov") < kinds.index("mdat"), kinds  # +faststart: the index first
    frames = decoded(clip)
    times = [t for t, _ in frames]
    assert all(b > a for a, b in zip(times, times[1:]))
    assert len(frames) == 31 and max(abs(t - k / 20) for k, t in enumerate(times)) < 0.002
    assert abs(frames[0][1] - 20) <= 1.5 and abs(frames[-1][1] - 50) <= 1.5  # from 1 s before to 0.5 s after
    assert f"evidence clip {clip} (h264, 31 frames, 1.5 s" in caplog.text


def test_dropped_frames_are_gaps_in_time_not_a_faster_clip(tmp_path):
    settings = EvidenceSettings(dir=tmp_path, before_s=1.0, after_s=1.0)
    rec = EvidenceRecorder(settings)
    alert, clip = raised_alert(settings)
    kept = [i for i in range(60) if not 40 <= i < 46 and i % 7 != 3]  # a 0.3 s hole and every 7th frame lost
    for i in kept:
        rec.frame("cam", i / 20, picture(i), [alert] if i == 30 else [])
        if i == 38:
            rec.frame("cam", i / 20, picture(0), [])  # the same media time again: skipped, never a step back
    rec.close()
    frames = decoded(clip)
    expected = [i for i in kept if 10 <= i <= 50]
    assert len(frames) == len(expected)
    for (t, grey), i in zip(frames, expected):
        assert abs(t - (i - expected[0]) / 20) < 0.002 and abs(grey - i) <= 1.5, (t, grey, i)
    with av.open(str(clip)) as box:
        assert abs(box.duration / av.time_base - 2.0) <= 2 / 20


def test_odd_frame_sizes_lose_one_pixel_row_and_column(tmp_path):
    settings = EvidenceSettings(dir=tmp_path, before_s=0.5, after_s=0.5)
    rec = EvidenceRecorder(settings)
    alert, clip = raised_alert(settings)
    for i in range(30):
        image = picture(i, (65, 49))
        image[:, :8] = (0, 0, 255)  # a red band on the left, kept
        image[:, -1] = image[-1, :] = (255, 0, 0)  # the odd last column and row: dropped
        rec.frame("cam", i / 20, image, [alert] if i == 15 else [])
    rec.close()
    with av.open(str(clip)) as box:
        assert (box.streams.video[0].width, box.streams.video[0].height) == (64, 48)
        first = next(box.decode(video=0)).to_ndarray(format="bgr24")
    assert first.shape == (48, 64, 3)
    assert first[24, 2, 2] > 200 and first[24, 2, 0] < 60  # red
    assert abs(int(first[24, 63, 0]) - 20) < 12 and abs(int(first[47, 40, 0]) - 20) < 12  # no blue edge: grey 20


def test_several_clips_at_once_on_one_stream_and_another(tmp_path):
    settings = EvidenceSettings(dir=tmp_path, before_s=0.5, after_s=0.5)
    rec = EvidenceRecorder(settings)
    now = time.time()
    first, clip1 = raised_alert(settings, wall=now)
    second, clip2 = raised_alert(settings, wall=now + 0.3, type_="fatigue")
    hall, clip3 = raised_alert(settings, stream="hall", wall=now + 0.2)
    for i in range(40):
        rec.frame("cam", i / 20, picture(i), [first] if i == 20 else [second] if i == 26 else [])
        rec.frame("hall", i / 20, picture(i, (80, 60)), [hall] if i == 22 else [])
    rec.close()
    for clip, at in ((clip1, 20), (clip2, 26), (clip3, 22)):
        frames = decoded(clip)
        assert len(frames) == 21 and abs(frames[0][1] - (at - 10)) <= 1.5 and abs(frames[-1][1] - (at + 10)) <= 1.5
    assert len(rec.written) == 6


def test_a_clip_is_written_under_a_partial_name_that_prune_leaves_alone(tmp_path):
    settings = EvidenceSettings(dir=tmp_path, before_s=0.5, after_s=1.0)
    rec = EvidenceRecorder(settings)
    alert, clip = raised_alert(settings)
    partial = clip.with_name(f".{clip.stem}.part.mp4")
    for i in range(25):
        rec.frame("cam", i / 20, picture(i), [alert] if i == 10 else [])
    deadline = time.monotonic() + 10
    while not partial.exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert partial.exists() and not clip.exists()  # being written: never under its final name
    os.utime(partial, (time.time() - 3600,) * 2)  # however old it looks, it is this recorder's
    rec.prune()
    assert partial.exists()
    for i in range(25, 40):
        rec.frame("cam", i / 20, picture(i), [])
    rec.close()
    assert clip.exists() and not partial.exists() and clip in rec.written


def test_partial_clips_are_never_evidence_and_a_crash_leaves_none_for_long(tmp_path):
    folder = tmp_path / "cam"
    folder.mkdir()
    snapshots = []
    for i in range(3):
        snapshots.append(folder / f"{i}.jpg")
        snapshots[-1].write_bytes(os.urandom(10_000))
    crashed, writing = folder / ".crashed.part.mp4", folder / ".another-vigil.part.mp4"
    crashed.write_bytes(os.urandom(100_000))
    writing.write_bytes(os.urandom(100_000))
    os.utime(crashed, (time.time() - 120,) * 2)  # older than a clip (10 s) and than a minute
    EvidenceRecorder(EvidenceSettings(dir=tmp_path, max_mb=0.05))  # pruned at start
    assert not crashed.exists()
    assert writing.exists()  # fresh: someone may be writing it
    assert all(p.exists() for p in snapshots)  # 30 kB of evidence under 0.05 MB: the partial's 100 kB not counted


def test_without_libx264_clips_fall_back_to_mp4v_said_once(tmp_path, caplog, monkeypatch):
    from edge_app.alerts import clip as clip_module

    monkeypatch.setattr(clip_module, "H264_ENCODER", "no-such-h264-encoder")
    monkeypatch.setattr(clip_module, "_fallback_said", threading.Event())
    settings = EvidenceSettings(dir=tmp_path, before_s=0.5, after_s=0.5)
    rec = EvidenceRecorder(settings)
    now = time.time()
    (a, clip_a), (b, clip_b) = raised_alert(settings, wall=now), raised_alert(settings, wall=now + 1)
    with caplog.at_level("INFO"):
        for i in range(40):
            rec.frame("cam", i / 20, picture(i), [a] if i == 10 else [b] if i == 25 else [])
        rec.close()
    for clip in (clip_a, clip_b):
        with av.open(str(clip)) as box:
            assert box.streams.video[0].codec_context.name == "mpeg4"
        assert 19 <= len(decoded(clip)) <= 21
        assert f"evidence clip {clip} (mp4v" in caplog.text
    assert caplog.text.count("clips are written with OpenCV's mp4v") == 1


def test_a_clip_folder_that_cannot_be_made_is_a_counted_fault_and_recording_goes_on(tmp_path):
    settings = EvidenceSettings(dir=tmp_path, before_s=0.2, after_s=0.2)
    rec = EvidenceRecorder(settings)
    (tmp_path / "cam").write_bytes(b"")  # a file where the stream's folder should be
    before = IO_FAULTS.snapshot()["errors"].get("evidence", 0)
    bad, _ = raised_alert(settings)
    good, clip = raised_alert(settings, stream="hall")
    for i in range(20):
        rec.frame("cam", i / 20, picture(i), [bad] if i == 8 else [])
        rec.frame("hall", i / 20, picture(i), [good] if i == 8 else [])
    rec.close()
    assert IO_FAULTS.snapshot()["errors"].get("evidence", 0) == before + 1
    assert clip.exists() and "evidence" not in IO_FAULTS.snapshot()["failing"]  # the next clip: recovered
    assert sorted(p.name for p in tmp_path.rglob("*") if ".part" in p.name) == []


def test_a_disk_that_refuses_the_clip_removes_the_partial_and_counts_it(tmp_path, caplog):
    """The partial file is a link to /dev/full: every write the kernel refuses with ENOSPC, as on a full disk."""
    if not os.path.exists("/dev/full"):
        import pytest

        pytest.skip("no /dev/full here")
    settings = EvidenceSettings(dir=tmp_path, before_s=0.5, after_s=0.5)
    rec = EvidenceRecorder(settings)
    alert, clip = raised_alert(settings)
    partial = clip.with_name(f".{clip.stem}.part.mp4")
    clip.parent.mkdir()
    partial.symlink_to("/dev/full")
    IO_FAULTS.ok("evidence")
    before = IO_FAULTS.snapshot()["errors"].get("evidence", 0)
    with caplog.at_level("WARNING"):
        for i in range(30):
            rec.frame("cam", i / 20, picture(i), [alert] if i == 12 else [])
        rec.close()
    assert IO_FAULTS.snapshot()["errors"].get("evidence", 0) == before + 1
    assert "evidence: cannot write" in caplog.text and "No space left on device" in caplog.text
    assert not partial.exists() and not partial.is_symlink() and not clip.exists()
    assert os.path.exists("/dev/full") and clip not in rec.written
    IO_FAULTS.ok("evidence")
