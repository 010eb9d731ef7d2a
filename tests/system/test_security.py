"""Security: loopback by default, secrets never shown (RTSP credentials, the MQTT password) in logs, events, the
console, metrics or MQTT, and no way out of the configured folders through stream names or URLs."""

from __future__ import annotations

import subprocess
import time
import urllib.error
import urllib.request

import pytest

from helpers.security import CAM_SECRET, MQTT_SECRET
from support import PYTHON, REPO, ControlRoom, database_bytes, free_port, need_shared

HOOK_SECRET, SERVER_SECRET = "hook-T0ken", "server-T0ken-secret-1"
SECRETS = (CAM_SECRET, MQTT_SECRET, HOOK_SECRET, SERVER_SECRET)


def test_secrets_never_appear_anywhere(tmp_path, manifest, rtsp_server, broker):
    clip = need_shared("falls", "upfall_s1", "Activity1", "Trial2Cam1.mp4")  # a fall: events and MQTT traffic
    camera = rtsp_server({"hall": clip}).warm()
    url = camera.url("hall").replace("rtsp://", f"rtsp://admin:{CAM_SECRET}@")
    room = ControlRoom(broker.port, "vigil/#")
    from helpers.webhook import Answering

    hook = Answering(lambda method, path: (200, {}, 0.0))
    port = free_port()
    cfg = tmp_path / "vigil.yaml"
    cfg.write_text(f"alerts:\n  mqtt:\n    enabled: true\n    port: {broker.port}\n    username: vigil\n"
                   f"    password: {MQTT_SECRET}\n    spool_dir: {tmp_path / 'spool'}\n"
                   f"  webhook:\n    enabled: true\n    url: http://127.0.0.1:{hook.port}/hook?key={HOOK_SECRET}\n"
                   f"    token: {HOOK_SECRET}\n    spool_dir: {tmp_path / 'hook-spool'}\n"
                   f"  evidence:\n    dir: {tmp_path / 'evidence'}\n    after_s: 1\n"
                   f"server:\n  token: {SERVER_SECRET}\n"
                   f"sources:\n  - name: hall\n    uri: {url}\n")
    events, stats = tmp_path / "events.jsonl", tmp_path / "stats.json"
    vigil = subprocess.Popen([PYTHON, "-m", "edge_app", "-v", "run", "--config", str(cfg), "--headless",
                              "--http", f"127.0.0.1:{port}", "--events", str(events), "--stats", str(stats),
                              "--duration", "25"], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
    pages = []
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (events.exists() and '"raised"' in events.read_text()):
            time.sleep(0.5)
        for path in ("api/state", "metrics", "health", "", "snapshot.jpg"):
            request = urllib.request.Request(f"http://127.0.0.1:{port}/{path}",
                                             headers={"Authorization": f"Bearer {SERVER_SECRET}"})
            with urllib.request.urlopen(request, timeout=5) as resp:
                pages.append(resp.read().decode("latin-1"))
        out, err = vigil.communicate(timeout=60)
    finally:
        if vigil.poll() is None:
            vigil.kill()
        room.close()
        hook.stop()
    assert vigil.returncode == 0, err[-2000:]
    assert any(method == "POST" for method, _, _ in hook.requests), "and webhook traffic"
    assert '"raised"' in events.read_text(), "the run must have produced alerts for the check to mean something"
    assert room.events(), "and MQTT traffic"
    mqtt_payloads = "".join(p.decode("latin-1") for _, p, _ in room.messages)
    everything = {"stderr": err, "stdout": out, "events": events.read_text(), "stats": stats.read_text(),
                  "console and metrics": "".join(pages), "mqtt": mqtt_payloads,
                  "database (history, outboxes)": database_bytes()}
    for where, text in everything.items():
        for secret in SECRETS:
            assert secret not in text, f"{secret} in {where}"
    assert "***@127.0.0.1" in err  # the camera is still named, credentials hidden


@pytest.mark.parametrize("path", ["/stream.mjpg?stream=../../etc/passwd", "/snapshot.jpg?stream=%2e%2e%2fx",
                                  "/api/alerts/..%2F..%2Fetc%2Fpasswd/thumbnail.jpg", "/../../etc/passwd",
                                  "/api/alerts/x/thumbnail.jpg/../../../etc/passwd"])
def test_the_console_serves_nothing_outside_its_routes(path):
    from edge_app.web.server import FrameHub, OperatorServer

    server = OperatorServer(FrameHub(), lambda: {"sources": {"hall": {"status": "online"}}}, "127.0.0.1", 0).start()
    try:
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(f"http://127.0.0.1:{server.port}{path}", timeout=5)
        assert err.value.code in (404, 503)
        assert b"root:" not in err.value.read()
    finally:
        server.stop()
