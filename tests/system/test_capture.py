"""Capture threads against real sources: files and a real RTSP server on loopback."""

from __future__ import annotations

import time

from edge_app.sources.capture import CaptureThread, SourceSpec, Status
from support import need_shared


def wait_for(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_rtsp_stream_start_stream_stop_and_reconnect(rtsp_server):
    clip = need_shared("falls", "upfall_s1", "Activity7", "Trial1Cam1.mp4")
    server = rtsp_server({"cam1": clip})
    cap = CaptureThread(SourceSpec("cam1", server.url("cam1")), backoff_max=1.0)
    cap.start()
    try:
        frames = []
        deadline = time.monotonic() + 10
        while len(frames) < 30 and time.monotonic() < deadline:
            f = cap.get(1.0)
            if f is not None:
                frames.append(f)
        assert len(frames) == 30 and cap.status == Status.ONLINE
        assert frames[0].image.shape == (480, 640, 3)
        assert [f.seq for f in frames] == sorted({f.seq for f in frames})  # each frame once, in order
        server.stop()
        assert wait_for(lambda: cap.status == Status.RECONNECTING, 6.0)
        while cap.get(0.05) is not None:  # whatever was decoded before the cut
            pass
        assert cap.get(1.0) is None  # no stale frame is handed out while the server is down
        restarted = time.monotonic()
        server.start()
        assert wait_for(lambda: cap.status == Status.ONLINE, 8.0)
        resumed = cap.get(3.0)
        assert resumed is not None and resumed.seq > frames[-1].seq
        assert resumed.capture_mono > restarted
        assert cap.stats.reconnects >= 1
    finally:
        cap.stop()
    assert not cap.is_alive()


def test_slow_consumer_gets_only_the_newest_frame(rtsp_server):
    clip = need_shared("falls", "urfd", "fall-02-cam0.mp4")
    server = rtsp_server({"cam": clip})
    cap = CaptureThread(SourceSpec("cam", server.url("cam"), crop=(320, 0, 320, 240)))
    cap.start()
    try:
        assert wait_for(lambda: cap.status == Status.ONLINE, 10)
        time.sleep(1.5)  # nobody reads for 1.5 s at 15 fps
        first = cap.get(1.0)
        assert first is not None and cap.stats.dropped >= 10
        assert first.image.shape == (240, 320, 3)  # the source's crop (UR Fall: right half is RGB)
        second = cap.get(1.0)
        assert second is not None and second.seq > first.seq
    finally:
        cap.stop()


def test_rtsp_media_time_is_the_streams_own_clock(rtsp_server):
    """Media time of a live stream comes from its timestamps (PTS), not from when pictures arrive: the burst a
    server sends on connect, which arrives all at once, keeps its 1/15 s spacing."""
    clip = need_shared("falls", "upfall_s1", "Activity7", "Trial1Cam1.mp4")
    server = rtsp_server({"cam": clip})
    cap = CaptureThread(SourceSpec("cam", server.url("cam"), lossless=True), max_pending=64)
    cap.start()
    try:
        frames = []
        deadline = time.monotonic() + 15
        while len(frames) < 45 and time.monotonic() < deadline:
            frame = cap.get(0.5)
            if frame is not None:
                frames.append(frame)
    finally:
        cap.stop()
    assert len(frames) == 45
    steps = [b.media_time - a.media_time for a, b in zip(frames, frames[1:], strict=False)]
    assert all(abs(s - 1 / 15) < 0.002 for s in steps), [round(s, 4) for s in steps]


def test_a_live_source_that_freezes_reads_frozen_and_is_reopened(tmp_path):
    """A live source (HTTP here) whose picture stops changing: repeats are never delivered, the status turns
    frozen after frozen_after_s, and after twice that the capture is reopened (counted as a reconnect)."""
    import functools
    import http.server
    import threading

    import numpy as np

    import media

    rng = np.random.default_rng(0)
    moving = [rng.integers(0, 255, (120, 160, 3), dtype=np.uint8) for _ in range(10)]
    pictures = [(img, i / 10) for i, img in enumerate(moving + [moving[-1]] * 60)]  # 1 s moving, 6 s frozen
    media.encode(tmp_path / "cam.mkv", pictures, fps=10, codec="mjpeg", options={"qmin": "3", "qmax": "3"})
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{httpd.server_address[1]}/cam.mkv"
    cap = CaptureThread(SourceSpec("cam", url, frozen_after_s=1.0), backoff_start=0.1, backoff_max=0.2)
    cap.start()
    delivered = []
    try:
        assert wait_for(lambda: (delivered.append(cap.get(0.05)) or True) and cap.stats.reconnects >= 1, 20)
    finally:
        cap.stop()
        httpd.shutdown()
    statuses = [s for _, s in cap.stats.status_changes]
    assert "frozen" in statuses and statuses[statuses.index("frozen") + 1] == "reconnecting", statuses
    assert cap.stats.frozen >= 20
    images = [f.image for f in delivered if f is not None]
    assert images and all(not np.array_equal(a, b) for a, b in zip(images, images[1:], strict=False))
