"""Webhook alerts against a real local HTTP receiver that is down, then fails, then accepts."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from conftest import assert_clean_error, free_port, run_cli
from edge_app.alerts.spool import Spool
from edge_app.alerts.webhook import WebhookSettings, WebhookSink, redacted


class Receiver:
    """An HTTP endpoint that answers 503 to its first ``fail`` requests, then 200, and keeps what it accepted."""

    def __init__(self, port: int, fail: int = 0):
        self.got: list[dict] = []
        self.headers: list[dict] = []
        self.fail = fail
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                receiver.headers.append(dict(self.headers))
                if receiver.fail > 0:
                    receiver.fail -= 1
                    self.send_response(503)
                else:
                    receiver.got.append(body)
                    self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def alert(i: int) -> dict:
    return {"ts": float(i), "stream": "dock", "type": "fall", "state": "raised", "track_id": 2, "details": {"n": i}}


def test_events_raised_while_the_receiver_is_down_arrive_in_order(tmp_path):
    port = free_port()
    sink = WebhookSink(WebhookSettings(enabled=True, url=f"http://127.0.0.1:{port}/hook", token="t0k",
                                       backoff_max_s=1.0, spool_dir=tmp_path / "spool"))
    try:
        for i in range(5):  # nobody listens yet: connection refused
            sink(alert(i))
        time.sleep(2.0)
        assert len(sink.spool.pending()) == 5 and sink.attempts >= 2  # retried, kept
        receiver = Receiver(port, fail=3)  # up, but failing at first
        for i in range(5, 8):
            sink(alert(i))
        assert sink.flush(20), sink.spool.pending()
        assert [e["details"]["n"] for e in receiver.got] == list(range(8))
        assert receiver.headers[-1]["Authorization"] == "Bearer t0k"
        receiver.stop()
    finally:
        sink.close(0.5)
    assert not Spool(tmp_path / "spool").pending()


def test_undelivered_events_wait_for_the_next_start(tmp_path):
    port = free_port()
    first = WebhookSink(WebhookSettings(enabled=True, url=f"http://127.0.0.1:{port}/", spool_dir=tmp_path))
    first(alert(1))
    first.close(0.3)
    receiver = Receiver(port)
    second = WebhookSink(WebhookSettings(enabled=True, url=f"http://127.0.0.1:{port}/", spool_dir=tmp_path))
    try:
        assert second.flush(10) and [e["details"]["n"] for e in receiver.got] == [1]
    finally:
        second.close()
        receiver.stop()


def test_url_credentials_are_not_shown():
    assert redacted("https://user:secret@hooks.example:8443/v1/vigil?k=s") == "https://hooks.example:8443/v1/vigil"


@pytest.mark.parametrize("text, needle", [
    ("alerts:\n  webhook:\n    enabled: true\n    url: ftp://x\n", "url must be http:// or https://"),
    ("alerts:\n  webhook:\n    timeout_s: 0\n", "timeout_s and backoff_max_s must be > 0")])
def test_bad_webhook_config(tmp_path, text, needle):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(text)
    assert_clean_error(run_cli("edge_app", "config", "--config", str(cfg)), needle)


def test_event_log_rotates_without_losing_a_line(tmp_path):
    from edge_app.pipeline import EventLog
    from edge_app.records import Event

    path = tmp_path / "events.jsonl"
    log = EventLog(path, max_bytes=2000, backups=50)
    for i in range(100):
        log.write(Event("posture", "cam", 1, "info", 1.0, float(i), 0.0, {"n": i}), i)
    log.close()
    files = sorted(tmp_path.glob("events.jsonl.*"), key=lambda p: -int(p.suffix[1:])) + [path]
    assert len(files) > 3 and all(f.stat().st_size < 2000 + 300 for f in files)
    numbers = [json.loads(line)["frame"] for f in files for line in f.read_text().splitlines()]
    assert numbers == list(range(100))  # oldest file first, every event once, in order


def test_event_log_keeps_only_the_configured_backups(tmp_path):
    from edge_app.pipeline import EventLog
    from edge_app.records import Event

    log = EventLog(tmp_path / "e.jsonl", max_bytes=500, backups=2)
    for i in range(60):
        log.write(Event("posture", "cam", 1, "info", 1.0, float(i), 0.0, {}), i)
    log.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["e.jsonl", "e.jsonl.1", "e.jsonl.2"]
