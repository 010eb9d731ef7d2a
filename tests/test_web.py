"""The operator HTTP endpoints: MJPEG view, snapshot, Prometheus /metrics, health, token and binding rules."""

from __future__ import annotations

import re
import socket
import subprocess
import time
import urllib.error
import urllib.request

import cv2
import numpy as np
import pytest

from edge_app.errors import VigilError
from edge_app.metrics import FrameTiming, Metrics
from edge_app.web.prometheus import render
from edge_app.web.server import BOUNDARY, FrameHub, OperatorServer
from support import PYTHON, REPO, assert_clean_error, free_port, need_shared, run_cli

SAMPLE = re.compile(r'^[a-z_]+(\{([a-z_]+="[^"]*",?)*\})? -?[0-9.e+-]+$')


def snapshot_of(frames: int = 5) -> dict:
    metrics = Metrics()
    t0 = time.monotonic()
    for i in range(frames):
        metrics.add("cam-1", FrameTiming(captured=t0 + i, taken=t0 + i + 0.001, pose_done=t0 + i + 0.006,
                                         pose_parts=(0.001, 0.003, 0.0005), tracked=t0 + i + 0.0062,
                                         analysed=t0 + i + 0.0063, rendered=t0 + i + 0.008))
    snap = metrics.summary({"cam-1": 2})
    snap["sources"] = {"cam-1": {"status": "online", "captured": 9, "reconnects": 1}}
    return snap


def test_prometheus_text_is_well_formed():
    text = render(snapshot_of())
    lines = text.strip().splitlines()
    families = {ln.split()[2] for ln in lines if ln.startswith("# TYPE")}
    assert {"vigil_frames_total", "vigil_stage_latency_ms", "vigil_glass_to_render_ms", "vigil_source_up"} <= families
    for line in lines:
        assert line.startswith("# ") or SAMPLE.match(line), line
    assert 'vigil_frames_total{stream="cam-1"} 5' in lines
    assert 'vigil_dropped_frames_total{stream="cam-1"} 2' in lines
    assert 'vigil_stage_latency_ms{stream="cam-1",stage="infer",quantile="0.50"} 3' in lines
    assert 'vigil_glass_to_render_ms{stream="cam-1",quantile="0.99"} 8' in lines


def test_prometheus_escapes_label_values():
    snap = snapshot_of()
    snap["sources"] = {'a"b\\c': {"status": "online", "captured": 1, "reconnects": 0}}
    assert 'stream="a\\"b\\\\c"' in render(snap)


def get(url: str, token: str | None = None, timeout: float = 5.0):
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    return urllib.request.urlopen(request, timeout=timeout)


def read_mjpeg_frames(url: str, count: int, timeout: float = 10.0) -> list[np.ndarray]:
    frames = []
    with get(url, timeout=timeout) as resp:
        assert resp.headers["Content-Type"] == f"multipart/x-mixed-replace; boundary={BOUNDARY}"
        while len(frames) < count:
            assert resp.readline().strip() == f"--{BOUNDARY}".encode()
            headers = {}
            while (line := resp.readline().strip()):
                key, _, value = line.decode().partition(": ")
                headers[key] = value
            assert headers["Content-Type"] == "image/jpeg"
            data = resp.read(int(headers["Content-Length"]))
            resp.readline()
            frames.append(cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR))
    return frames


@pytest.fixture
def served():
    hub = FrameHub()
    server = OperatorServer(hub, snapshot_of, "127.0.0.1", 0).start()
    yield hub, server
    server.stop()


def test_hub_builds_the_mosaic_only_when_asked_and_once_per_frame():
    hub = FrameHub()
    red, blue = np.zeros((120, 160, 3), np.uint8), np.zeros((120, 160, 3), np.uint8)
    red[..., 2], blue[..., 0] = 255, 255
    hub.publish(None, {"door": red, "hall": blue})  # the renderer's way with no window and no recording
    seq, view = hub.newer_than(0, 0)
    assert seq == 1 and view.shape == (480, 1280, 3)  # two tiles side by side, each scaled to 640 wide
    assert view[240, 320, 2] == 255 and view[240, 960, 0] == 255 and view[240, 960, 2] == 0  # in stream order
    assert hub.newer_than(0, 0)[1] is view  # built once for this frame, whoever asks
    assert hub.newer_than(0, 0, "hall")[1] is blue  # one stream's own view is never rebuilt
    hub.publish(None, {"door": blue, "hall": red})
    assert hub.newer_than(1, 0)[1][240, 320, 0] == 255  # the next frame gets a new mosaic


def test_snapshot_stream_metrics_and_health(served):
    hub, server = served
    with pytest.raises(urllib.error.HTTPError) as err:
        get(server.url + "snapshot.jpg", timeout=5)
    assert err.value.code == 503  # nothing rendered yet: says so instead of a blank picture
    image = np.zeros((120, 160, 3), np.uint8)
    image[:, 80:] = (0, 0, 255)
    hub.publish(image)
    snap = cv2.imdecode(np.frombuffer(get(server.url + "snapshot.jpg").read(), np.uint8), cv2.IMREAD_COLOR)
    assert snap.shape == (120, 160, 3) and snap[60, 120, 2] > 200 and snap[60, 20, 2] < 40

    def publisher():
        for i in range(40):
            frame = np.full((120, 160, 3), i * 5, np.uint8)
            hub.publish(frame)
            time.sleep(0.03)

    import threading

    thread = threading.Thread(target=publisher)
    thread.start()
    frames = read_mjpeg_frames(server.url + "stream.mjpg?fps=30", 3)
    thread.join()
    assert all(f.shape == (120, 160, 3) for f in frames)
    assert len({int(f.mean()) for f in frames}) == 3  # three different frames, not one repeated
    body = get(server.url + "metrics").read().decode()
    assert 'vigil_frames_total{stream="cam-1"} 5' in body
    assert b'"cam-1": "online"' in get(server.url + "health").read()
    with pytest.raises(urllib.error.HTTPError) as err:
        get(server.url + "nothing")
    assert err.value.code == 404


def test_a_token_is_required_beyond_loopback():
    with pytest.raises(VigilError, match="token"):
        OperatorServer(FrameHub(), snapshot_of, "0.0.0.0", 0)
    server = OperatorServer(FrameHub(), snapshot_of, "0.0.0.0", 0, token="s3cret").start()
    try:
        url = f"http://127.0.0.1:{server.port}/metrics"
        for bad in (None, "wrong"):
            with pytest.raises(urllib.error.HTTPError) as err:
                get(url, token=bad)
            assert err.value.code == 401
        assert get(url, token="s3cret").status == 200
        assert get(url + "?token=s3cret").status == 200
    finally:
        server.stop()


def raw_request(port: int, data: bytes, timeout: float = 5.0) -> tuple[bytes, float]:
    """Sends raw bytes, reads until the server closes the connection; returns what came back and how long it took."""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as conn:
        conn.sendall(data)
        got = b""
        while (chunk := conn.recv(4096)):
            got += chunk
    return got, time.monotonic() - started


def test_a_refused_post_closes_its_connection_and_its_unread_body_is_not_a_request(served, capfd, caplog):
    _, server = served
    smuggled = b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"  # sent as the body of a POST that is refused unread
    got, _ = raw_request(server.port, b"POST /api/alerts/a1/ack HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n"
                                      b"Content-Length: %d\r\n\r\n" % len(smuggled) + smuggled)
    assert got.startswith(b"HTTP/1.1 415 ") and b"Connection: close" in got
    assert got.count(b"HTTP/1.1 ") == 1  # the body was not answered as a second request
    assert server.failures == 0 and "Traceback" not in capfd.readouterr().err


def test_a_stalled_client_is_dropped_and_an_internal_fault_is_one_log_line(monkeypatch, capfd, caplog):
    import edge_app.web.server as web

    monkeypatch.setattr(web._Handler, "timeout", 0.5)
    failing = []

    def snapshot():  # the pipeline's snapshot fails once: the console logs it and keeps serving
        if failing and failing.pop():
            raise RuntimeError("metrics unavailable")
        return snapshot_of()

    server = OperatorServer(FrameHub(), snapshot, "127.0.0.1", 0).start()
    try:
        # a body announced and never sent: without a timeout this thread would wait forever
        got, took = raw_request(server.port, b"POST /api/alerts/a1/ack HTTP/1.1\r\nHost: x\r\n"
                                             b"Content-Type: application/json\r\nContent-Length: 50\r\n\r\n{")
        assert got == b"" and took < 3.0
        got, took = raw_request(server.port, b"GET /api/state HTTP/1.1\r\nHost: x\r\n\r\n")  # headers, then idle
        assert got.startswith(b"HTTP/1.1 200 ") and took < 3.0  # the kept-alive connection is closed when idle
        failing.append(True)
        with caplog.at_level("WARNING", logger="edge_app.web.server"):
            with pytest.raises((urllib.error.URLError, ConnectionError)):  # dropped, not answered
                get(server.url + "health")
        assert server.failures == 1
        assert [r.getMessage() for r in caplog.records] == [
            "http request from 127.0.0.1 failed: RuntimeError: metrics unavailable"]
        assert get(server.url + "health").status == 200  # still serving
    finally:
        server.stop()
    assert "Traceback" not in capfd.readouterr().err


def test_port_in_use_is_a_clear_error():
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        port = blocker.getsockname()[1]
        with pytest.raises(VigilError, match=f"127.0.0.1:{port}: cannot listen \\(address in use\\)"):
            OperatorServer(FrameHub(), snapshot_of, "127.0.0.1", port).start()


def test_cli_port_in_use_and_bad_http(manifest, tmp_path):
    clip = need_shared("falls", "urfd", "fall-01-cam0.mp4")
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        port = blocker.getsockname()[1]
        proc = run_cli("edge_app", "run", "--headless", "--source", str(clip), "--max-frames", "3",
                       "--http", f"127.0.0.1:{port}")
        assert_clean_error(proc, f"127.0.0.1:{port}", "address in use")
    assert_clean_error(run_cli("edge_app", "run", "--source", str(clip), "--http", "nowhere"), "--http 'nowhere'")
    assert_clean_error(run_cli("edge_app", "run", "--source", str(clip), "--http", "0.0.0.0:8000"),
                       "--http '0.0.0.0:8000'", "token")
    cfg = tmp_path / "open.yaml"
    cfg.write_text("server:\n  host: 0.0.0.0\n")
    assert_clean_error(run_cli("edge_app", "config", "--config", str(cfg)), "server", "token")


def test_live_run_serves_annotated_view_and_metrics(manifest):
    """A real run on a real clip: /metrics counts frames as they are processed and the MJPEG view serves the
    rendered frames (what is drawn on them is tested through the kiosk window in test_kiosk.py)."""
    clip = need_shared("falls", "upfall_s1", "Activity1", "Trial1Cam1.mp4")
    port = free_port()
    proc = subprocess.Popen([PYTHON, "-m", "edge_app", "run", "--headless", "--source", f"cam1={clip}",
                             "--duration", "20", "--http", f"127.0.0.1:{port}"], cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        base = f"http://127.0.0.1:{port}/"
        deadline = time.monotonic() + 60
        counts = []
        while time.monotonic() < deadline and len(counts) < 2:
            try:
                body = get(base + "metrics").read().decode()
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.5)
                continue
            found = re.search(r'^vigil_frames_total\{stream="cam1"\} (\d+)$', body, re.M)
            if found and int(found.group(1)) > 0:
                counts.append(int(found.group(1)))
                time.sleep(1.0)
        assert len(counts) == 2 and counts[1] > counts[0], counts
        assert 'vigil_source_up{stream="cam1",status="online"} 1' in body
        frames = read_mjpeg_frames(base + "stream.mjpg?fps=10", 2)
        assert frames[0].shape == (480, 640, 3)
        assert b'"cam1": "online"' in get(base + "health").read()
    finally:
        proc.terminate()
        proc.wait(30)
