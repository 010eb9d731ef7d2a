"""The operator HTTP endpoints: MJPEG view, snapshot, Prometheus /metrics, health, token and binding rules."""

from __future__ import annotations

import time
import urllib.error
import urllib.request

import cv2
import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families

from edge_app.timing import FrameTiming, Metrics
from edge_app.web.server import FrameHub, OperatorServer
from helpers.web import get, raw_request, read_mjpeg_frames, snapshot_of


@pytest.fixture
def served():
    hub = FrameHub()
    server = OperatorServer(hub, snapshot_of, "127.0.0.1", 0).start()
    yield hub, server
    server.stop()


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
    assert 'vigil_frames_total{stream="cam-1"} 5.0' in body.splitlines()
    assert b'"cam-1": "online"' in get(server.url + "health").read()
    with pytest.raises(urllib.error.HTTPError) as err:
        get(server.url + "nothing")
    assert err.value.code == 404


def test_a_refused_post_closes_its_connection_and_its_unread_body_is_not_a_request(served, capfd, caplog):
    _, server = served
    # sent as the body of a POST that is refused unread
    smuggled = b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    got, _ = raw_request(server.port, b"POST /api/alerts/a1/ack HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                      b"Content-Type: text/plain\r\n"
                                      b"Content-Length: %d\r\n\r\n" % len(smuggled) + smuggled)
    assert got.startswith(b"HTTP/1.1 415 ") and b"Connection: close" in got
    assert got.count(b"HTTP/1.1 ") == 1  # the body was not answered as a second request
    assert server.failures == 0 and "Traceback" not in capfd.readouterr().err


def test_metrics_serves_the_pipelines_histograms_and_its_snapshot():
    """The runner's way: the server is given Metrics.registry, /metrics has its histograms (seconds) next to the
    snapshot's counters, in the text format 0.0.4 that Prometheus parses."""
    metrics = Metrics()
    for i in range(4):
        t = 10.0 + i
        metrics.add("hall", FrameTiming(captured=t, taken=t + 0.001, pose_done=t + 0.03, tracked=t + 0.031,
                                        analysed=t + 0.032, rendered=t + 0.05))
    metrics.alert(120.0)

    def snapshot():
        snap = metrics.summary()
        snap["sources"] = {"hall": {"status": "reconnecting", "captured": 4, "reconnects": 2}}
        return snap

    server = OperatorServer(FrameHub(), snapshot, "127.0.0.1", 0, registry=metrics.registry).start()
    try:
        with get(server.url + "metrics") as resp:
            assert resp.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
            body = resp.read().decode()
    finally:
        server.stop()
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for f in text_string_to_metric_families(body) for s in f.samples}
    assert samples[("vigil_frames_total", (("stream", "hall"),))] == 4
    assert samples[("vigil_glass_to_render_seconds_count", (("stream", "hall"),))] == 4
    assert samples[("vigil_glass_to_render_seconds_bucket", (("le", "0.04"), ("stream", "hall")))] == 0
    assert samples[("vigil_glass_to_render_seconds_bucket", (("le", "0.08"), ("stream", "hall")))] == 4
    assert samples[("vigil_stage_latency_seconds_count", (("stage", "pose"), ("stream", "hall")))] == 4
    assert samples[("vigil_glass_to_alert_seconds_count", ())] == 1
    assert samples[("vigil_source_up", (("stream", "hall"),))] == 0
    assert samples[("vigil_source_status", (("status", "reconnecting"), ("stream", "hall")))] == 1
    assert samples[("vigil_source_status", (("status", "online"), ("stream", "hall")))] == 0
