"""Capture threads against real sources: files and a real RTSP server on loopback."""

from __future__ import annotations

import time

import pytest

from edge_app.errors import VigilError
from edge_app.sources.capture import CaptureThread, SourceSpec, Status, is_blank
from support import need_shared


def test_file_paced_in_real_time_and_lossless_fast_mode():
    clip = need_shared("falls", "urfd", "fall-03-cam0.mp4")
    paced = CaptureThread(SourceSpec("f", str(clip), realtime=True))
    paced.start()
    t0 = time.monotonic()
    got = [paced.get(1.0) for _ in range(15)]
    elapsed = time.monotonic() - t0
    paced.stop()
    assert all(got) and 0.35 < elapsed < 1.5  # 15 frames at 30 fps ~ 0.5 s
    fast = CaptureThread(SourceSpec("f", str(clip), realtime=False, lossless=True))
    fast.start()
    seqs = []
    while not fast.exhausted:
        f = fast.get(0.5)
        if f is not None:
            seqs.append(f.seq)
            time.sleep(0.002)  # a slow consumer loses nothing in lossless mode
    fast.stop()
    assert seqs == list(range(len(seqs))) and len(seqs) > 100 and fast.stats.dropped == 0


def test_a_looped_file_keeps_its_rate_when_a_pass_ends_late(tmp_path):
    """A looped file paced as a camera keeps one clock over its passes: a pass that ends late (here the consumer's
    hook holds the capture thread 0.8 s on its last picture) is made up in the next, not lost."""
    import numpy as np

    from media import encode

    rng = np.random.default_rng(0)
    clip = encode(tmp_path / "ten.mp4", ((rng.integers(0, 255, (48, 64, 3), dtype=np.uint8), i / 20)
                                         for i in range(10)), fps=20.0)  # 0.5 s a pass
    cap = CaptureThread(SourceSpec("loop", str(clip), realtime=True, loop=True), max_pending=200)
    published = []
    cap.on_frame = lambda: (published.append(time.monotonic()), len(published) == 10 and time.sleep(0.8))
    cap.start()
    try:
        time.sleep(2.2)
    finally:
        cap.stop()
    assert len(published) >= 41  # 2.2 s of 20 fps is 44; about 30 when the 0.8 s are lost
    assert cap.stats.dropped == 0


def test_unreachable_rtsp_stays_offline_and_retries():
    cap = CaptureThread(SourceSpec("nowhere", "rtsp://user:pw@127.0.0.1:9/none"), backoff_max=0.5)
    cap.start()
    try:
        time.sleep(2.0)
        assert cap.status == Status.OFFLINE and cap.get(0.1) is None
    finally:
        cap.stop()


def test_bad_specs_are_clear_errors(tmp_path):
    with pytest.raises(VigilError, match="missing.mp4.*not found"):
        CaptureThread(SourceSpec("a", str(tmp_path / "missing.mp4")))
    clip = tmp_path / "x.mp4"
    clip.write_bytes(b"")
    with pytest.raises(VigilError, match="crop must be"):
        CaptureThread(SourceSpec("a", str(clip), crop=(0, 0, 0, 10)))


def test_blank_frames_are_recognised():
    import numpy as np

    assert is_blank(np.full((480, 640, 3), 128, np.uint8))
    assert not is_blank(np.random.default_rng(0).integers(0, 255, (480, 640, 3), dtype=np.uint8))


@pytest.mark.parametrize("shape", [(480, 640, 3), (481, 643, 3), (7, 5, 3)])
def test_the_subsamples_are_every_nth_pixel_of_every_nth_row(shape):
    """Exactly ``image[::n, ::n]`` where the size is a multiple of 8, the nearest pixels to that grid otherwise."""
    import numpy as np

    from edge_app.sources.capture import fingerprint

    rng = np.random.default_rng(1)
    image = rng.integers(0, 255, shape, dtype=np.uint8)
    exact = shape[0] % 8 == 0 and shape[1] % 8 == 0  # else the nearest pixels to that grid, as many
    assert fingerprint(image).shape == image[::4, ::4].shape
    assert np.array_equal(fingerprint(image), fingerprint(image.copy()))
    assert not np.array_equal(fingerprint(image), fingerprint(255 - image))
    if exact:
        assert np.array_equal(fingerprint(image), image[::4, ::4])
        for spread in (1.0, 1.9, 2.1, 3.0):  # around the blank threshold of 2 levels
            noisy = np.clip(100 + rng.normal(0, spread, shape), 0, 255).astype(np.uint8)
            assert is_blank(noisy) == (float(noisy[::8, ::8].std()) < 2.0)


def test_a_live_picture_seconds_behind_the_streams_clock_is_late():
    from edge_app.sources.capture import LateWatch

    watch = LateWatch(late_s=1.0, window_s=30.0)
    arrivals = [i / 15 + 0.02 * (i % 3) for i in range(150)]  # 15 fps with network jitter
    assert not any(watch.is_late(a, i / 15) for i, a in enumerate(arrivals))
    # the stream stalls; its last picture (PTS 10.0 s) is handed out 2 s later, when the read times out
    assert watch.is_late(12.0, 10.0)
    # a camera clock 100 ppm slow against ours, for an hour at 15 fps: never late
    drift = LateWatch()
    assert not any(drift.is_late(i / 15, i / 15 * (1 - 1e-4)) for i in range(15 * 3600))
    # a path that now holds every picture 3 s: late at first, then the new normal once the window has passed
    steady = LateWatch()
    for i in range(450):
        steady.is_late(i / 15, i / 15)
    assert steady.is_late(30.0 + 3.0, 30.0)
    assert not steady.is_late(62.0 + 3.0, 62.0)


def test_background_threads_run_at_a_lower_priority_than_the_pipeline():
    """Capture and render threads lower their own nice level (Linux, per thread); the calling thread keeps its own."""
    import os
    import threading

    from edge_app.system import CAPTURE_NICE, lower_thread_priority

    mine = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    seen = {}

    def background():
        lower_thread_priority(CAPTURE_NICE)
        seen["nice"] = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    thread = threading.Thread(target=background)
    thread.start()
    thread.join()
    assert seen["nice"] == min(19, mine + CAPTURE_NICE)
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == mine
