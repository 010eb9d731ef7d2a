"""Webhook alerts against a real local HTTP receiver that is down, then fails, then accepts."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from edge_app.alerts.spool import Spool
from edge_app.alerts.webhook import WebhookSettings, WebhookSink
from helpers.webhook import Answering, info
from support import assert_clean_error, free_port, run_cli


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
                                       backoff_max_s=1.0, spool_dir=tmp_path / "spool")).start()
    try:
        for i in range(5):  # nobody listens yet: connection refused
            sink.publish(alert(i))
        time.sleep(2.0)
        assert len(sink.spool.pending()) == 5 and sink.attempts >= 2  # retried, kept
        receiver = Receiver(port, fail=3)  # up, but failing at first
        for i in range(5, 8):
            sink.publish(alert(i))
        assert sink.flush(20), sink.spool.pending()
        assert [e["details"]["n"] for e in receiver.got] == list(range(8))
        assert receiver.headers[-1]["Authorization"] == "Bearer t0k"
        receiver.stop()
    finally:
        sink.close(0.5)
    assert not Spool.in_folder(tmp_path / "spool").pending()


def test_undelivered_events_wait_for_the_next_start(tmp_path):
    port = free_port()
    first = WebhookSink(WebhookSettings(enabled=True, url=f"http://127.0.0.1:{port}/", spool_dir=tmp_path)).start()
    first.publish(alert(1))
    first.close(0.3)
    receiver = Receiver(port)
    second = WebhookSink(WebhookSettings(enabled=True, url=f"http://127.0.0.1:{port}/", spool_dir=tmp_path)).start()
    try:
        assert second.flush(10) and [e["details"]["n"] for e in receiver.got] == [1]
    finally:
        second.close()
        receiver.stop()


@pytest.mark.parametrize("text, needle", [
    ("alerts:\n  webhook:\n    enabled: true\n    url: ftp://x\n", "url must be http:// or https://"),
    ("alerts:\n  webhook:\n    timeout_s: 0\n", "timeout_s and backoff_max_s must be > 0")])
def test_bad_webhook_config(tmp_path, text, needle):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(text)
    assert_clean_error(run_cli("edge_app", "config", "--config", str(cfg)), needle)


@pytest.mark.parametrize("code", [302, 307, 301, 308])
def test_a_redirect_is_never_delivery_and_the_warning_names_status_and_target(tmp_path, caplog, code):
    receiver = Answering(lambda method, path: (code, {"Location": "http://admin:s3cret@127.0.0.1:9/final"}, 0.0)
                         if path == "/hook" else (200, {}, 0.0))
    sink = WebhookSink(WebhookSettings(enabled=True, url=f"http://127.0.0.1:{receiver.port}/hook",
                                       backoff_max_s=0.5, spool_dir=tmp_path / "spool")).start()
    try:
        with caplog.at_level("WARNING"):
            sink.publish(alert(1))
            assert not sink.flush(3.0)  # never marked delivered
        assert [r[:2] for r in receiver.requests if r[0] == "GET"] == []  # no body-less GET taken for delivery
        assert len(sink.spool.pending()) == 1
        warnings = [r.getMessage() for r in caplog.records if "not delivered" in r.getMessage()]
        assert warnings and f"HTTP {code} redirect to http://127.0.0.1:9/final" in warnings[0]
        assert "s3cret" not in caplog.text and "admin" not in caplog.text
    finally:
        sink.close(0.1)
        receiver.stop()


def test_alerts_never_wait_behind_info_events_on_a_slow_receiver(tmp_path, caplog):
    """A receiver that takes everything but answers after the timeout: the fall goes first, the warning says it
    timed out, and with the timeout grown the slow receiver still gets every alert, confirmed."""
    receiver = Answering(lambda method, path: (200, {}, 0.8))
    spool = Spool.in_folder(tmp_path / "spool", "webhook")
    for record in (info(0), info(1), alert(2), alert(3)):  # waiting in the outbox, posture changes first
        spool.put(record)
    try:
        with caplog.at_level("WARNING"):
            sink = WebhookSink(WebhookSettings(enabled=True, url=f"http://127.0.0.1:{receiver.port}/hook",
                                               timeout_s=0.5, backoff_max_s=0.2, info_events=True,
                                               spool_dir=tmp_path / "spool"), spool).start()
            assert sink.flush(20.0), sink.spool.pending()
        posts = [body for method, _, body in receiver.requests if method == "POST"]
        assert posts[0]["type"] == "fall" and posts[0]["details"] == {"n": 2}  # the alert first
        assert {p["details"].get("n") for p in posts if p["type"] == "fall"} == {2, 3}
        assert "timed out after 0.5 s" in caplog.text
    finally:
        sink.close(0.1)
        receiver.stop()


def test_info_events_are_not_posted_unless_asked(tmp_path):
    receiver = Answering(lambda method, path: (200, {}, 0.0))
    sink = WebhookSink(WebhookSettings(enabled=True, url=f"http://127.0.0.1:{receiver.port}/hook",
                                       spool_dir=tmp_path / "spool")).start()
    try:
        sink.publish(info(0))
        sink.publish(alert(1))
        assert sink.flush(5.0)
        assert [body["type"] for _, _, body in receiver.requests] == ["fall"]
    finally:
        sink.close(0.1)
        receiver.stop()
