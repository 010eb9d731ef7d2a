"""The operator HTTP endpoints: MJPEG view, snapshot, Prometheus /metrics, health, token and binding rules."""

from __future__ import annotations

import socket
import subprocess
import time
import urllib.error
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from edge_app.errors import VigilError
from edge_app.web.server import FrameHub, OperatorServer
from helpers.web import get, raw_request, read_mjpeg_frames, snapshot_of
from support import PYTHON, REPO, assert_clean_error, free_port, need_shared, run_cli


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
        got, took = raw_request(server.port, b"POST /api/alerts/a1/ack HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                             b"Content-Type: application/json\r\nContent-Length: 50\r\n\r\n{")
        assert got == b"" and took < 3.0
        # headers, then idle
        got, took = raw_request(server.port, b"GET /api/state HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
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
                       "server.host 0.0.0.0 (config or --http)", "token")
    cfg = tmp_path / "open.yaml"
    cfg.write_text("server:\n  host: 0.0.0.0\n")
    # the file itself is valid (accounts live in the database, not the config): the run refuses it, before models load
    assert run_cli("edge_app", "config", "--config", str(cfg)).returncode == 0
    assert_clean_error(run_cli("edge_app", "run", "--config", str(cfg), "--source", str(clip), "--http", "0.0.0.0:0"),
                       "server.host 0.0.0.0", "console accounts", "token")


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
            samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
                       for f in text_string_to_metric_families(body) for s in f.samples}
            if samples.get(("vigil_frames_total", (("stream", "cam1"),)), 0) > 0:
                counts.append(samples[("vigil_frames_total", (("stream", "cam1"),))])
                time.sleep(1.0)
        assert len(counts) == 2 and counts[1] > counts[0], counts
        assert samples[("vigil_source_up", (("stream", "cam1"),))] == 1
        assert samples[("vigil_source_status", (("status", "online"), ("stream", "cam1")))] == 1
        # the histograms count the same frames (observed just after the count: compared with the scrape before)
        assert samples[("vigil_glass_to_render_seconds_count", (("stream", "cam1"),))] >= counts[0]
        assert samples[("vigil_stage_latency_seconds_count", (("stage", "infer"), ("stream", "cam1")))] >= counts[0]
        frames = read_mjpeg_frames(base + "stream.mjpg?fps=10", 2)
        assert frames[0].shape == (480, 640, 3)
        assert b'"cam1": "online"' in get(base + "health").read()
    finally:
        proc.terminate()
        proc.wait(30)
