"""Notifications through Apprise, delivered for real over HTTP (Apprise's json:// service, which carries attachments
base64 in the JSON body) to local receivers: the title, the body and the exact snapshot bytes arrive; failures are
retried; a bad URL in the config is one line naming its key without the secret."""

from __future__ import annotations

import base64
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import cv2
import numpy as np
import pytest

from edge_app.alerts.board import AlertBoard
from edge_app.alerts.bus import event_record
from edge_app.alerts.notify import ATTACH_TRIES, AppriseSettings, NotifySink
from edge_app.config import load_config
from edge_app.errors import ConfigError
from edge_app.records import Event, EventState
from support import assert_clean_error, free_port, run_cli, wait_for

SECRET = "S3cret-Pw"


class Receiver:
    """A local HTTP endpoint (a real server on loopback). ``answer(body) -> status``: by default 200. Keeps every
    request: (JSON body, headers, status answered)."""

    def __init__(self, answer=None, port: int = 0):
        self.requests: list[tuple[dict, dict, int]] = []
        self.paths: list[str] = []
        self.answer = answer or (lambda body: 200)
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                status = receiver.answer(body)
                receiver.requests.append((body, dict(self.headers), status))
                receiver.paths.append(self.path)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, path: str = "vigil") -> str:
        return f"json://vigil:{SECRET}@127.0.0.1:{self.port}/{path}"

    def accepted(self) -> list[dict]:
        return [body for body, _, status in self.requests if 200 <= status < 300]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def snapshot(tmp_path) -> bytes:
    """A real JPEG on disk (what the event bus writes for a raised alert); returns its bytes."""
    image = np.zeros((120, 160, 3), np.uint8)
    cv2.rectangle(image, (40, 30), (120, 100), (0, 0, 255), -1)
    ok, jpeg = cv2.imencode(".jpg", image)
    assert ok
    (tmp_path / "hall-fall-track3.jpg").write_bytes(jpeg.tobytes())
    return jpeg.tobytes()


def fall(tmp_path, board: AlertBoard | None = None, state: EventState = EventState.RAISED) -> dict:
    """A fall on stream hall, track 3, as the event bus publishes it (through the real board; the snapshot named)."""
    details = {"snapshot": str(tmp_path / "hall-fall-track3.jpg")} if state == EventState.RAISED else {}
    event = (board or AlertBoard()).observe(Event("fall", "hall", 3, state, 0.93, 12.5, time.time(), details))
    return event_record(event, 42)


def sink(tmp_path, *urls: str, **settings) -> NotifySink:
    return NotifySink(AppriseSettings(enabled=True, urls=list(urls), spool_dir=tmp_path / "spool", **settings))


def test_a_fall_arrives_with_its_title_body_and_the_exact_snapshot(tmp_path, caplog):
    caplog.set_level("DEBUG")
    jpeg = snapshot(tmp_path)
    receiver = Receiver()
    board = AlertBoard()
    notify = sink(tmp_path, receiver.url("vigil/PathT0ken?-key=QueryT0ken&+X-Key=HeadT0ken"))
    notify.start()  # tokens in the path, the query and a header
    try:
        raised = fall(tmp_path, board)
        notify.publish(raised)
        notify.publish(fall(tmp_path, board, EventState.CLEARED))  # not in `states` (raised only): not sent
        wait_for(lambda: receiver.accepted(), 15, "the notification")
        assert notify.flush(10)
        time.sleep(1.0)
    finally:
        notify.close()
        receiver.stop()
    assert len(receiver.requests) == 1
    body, headers, _ = receiver.requests[0]
    assert body["title"] == "Vigil: fall on stream hall (track 3)"
    for text in ("Severity: critical", "Score: 0.93", f"Alert id: {raised['details']['alert_id']}",
                 "Snapshot: hall-fall-track3.jpg (attached)", "Time: "):
        assert text in body["message"], body["message"]
    (attached,) = body["attachments"]
    assert base64.b64decode(attached["base64"]) == jpeg  # the very bytes written
    assert attached["filename"] == "hall-fall-track3.jpg" and attached["mimetype"] == "image/jpeg"
    assert body["type"] == "failure"  # a critical alert raised
    assert base64.b64decode(headers["Authorization"].split()[1]).decode() == f"vigil:{SECRET}"
    assert receiver.paths == ["/vigil/PathT0ken?key=QueryT0ken"] and headers["X-Key"] == "HeadT0ken"
    for secret in (SECRET, "PathT0ken", "QueryT0ken", "HeadT0ken"):
        assert secret not in caplog.text, secret  # not even at debug level (Apprise's and its HTTP library's)


def test_a_failing_service_is_retried_and_the_alert_arrives_once(tmp_path, caplog):
    snapshot(tmp_path)
    answers = iter([500])
    receiver = Receiver(lambda body: next(answers, 200))
    notify = sink(tmp_path, receiver.url()).start()
    try:
        with caplog.at_level("WARNING"):
            notify.publish(fall(tmp_path))
            wait_for(lambda: receiver.accepted(), 20, "the notification after a retry")
            assert notify.flush(10)
            time.sleep(1.5)
    finally:
        notify.close()
        receiver.stop()
    assert [status for _, _, status in receiver.requests] == [500, 200]
    assert len(receiver.accepted()) == 1 and receiver.accepted()[0]["attachments"]
    assert "not delivered" in caplog.text and "500" in caplog.text, caplog.text
    assert SECRET not in caplog.text


def test_of_two_services_only_the_failing_one_is_tried_again(tmp_path):
    snapshot(tmp_path)
    steady = Receiver()
    answers = iter([503, 503])
    flaky = Receiver(lambda body: next(answers, 200))
    notify = sink(tmp_path, steady.url("a"), flaky.url("b")).start()
    try:
        notify.publish(fall(tmp_path))
        wait_for(lambda: flaky.accepted(), 20, "the flaky service's notification")
        assert notify.flush(10)
        time.sleep(1.0)
    finally:
        notify.close()
        steady.stop()
        flaky.stop()
    assert len(steady.requests) == 1  # not sent again while the other service failed
    assert [status for _, _, status in flaky.requests] == [503, 503, 200]


def test_a_service_that_refuses_the_snapshot_still_gets_the_alert(tmp_path):
    snapshot(tmp_path)
    receiver = Receiver(lambda body: 413 if body["attachments"] else 200)  # "payload too large"
    notify = sink(tmp_path, receiver.url()).start()
    try:
        notify.publish(fall(tmp_path))
        wait_for(lambda: receiver.accepted(), 30, "the notification without its snapshot")
    finally:
        notify.close()
        receiver.stop()
    assert len(receiver.requests) == ATTACH_TRIES + 1
    (body,) = receiver.accepted()
    assert body["title"] == "Vigil: fall on stream hall (track 3)" and not body["attachments"]
    assert "snapshot is left out" in body["message"]


def test_a_notification_waits_on_disk_while_the_service_is_down_and_goes_after_a_restart(tmp_path):
    snapshot(tmp_path)
    port = free_port()  # nothing listens there yet
    url = f"json://vigil:{SECRET}@127.0.0.1:{port}/vigil"
    first = sink(tmp_path, url, timeout_s=1.0).start()
    first.publish(fall(tmp_path))
    time.sleep(1.5)
    first.close(flush_timeout=0.5)  # Vigil stops while the service is down: kept for the next start
    receiver = Receiver(port=port)
    second = sink(tmp_path, url).start()
    try:
        wait_for(lambda: receiver.accepted(), 15, "the notification kept across the restart")
    finally:
        second.close()
        receiver.stop()
    assert receiver.accepted()[0]["title"] == "Vigil: fall on stream hall (track 3)"


@pytest.mark.parametrize("url", [f"foo://vigil:{SECRET}@host", f"json://vigil:{SECRET}@host:port/x",
                                 f"vigil:{SECRET}@mail.example.com", f"mailto://vigil:{SECRET}@"])
def test_a_bad_url_is_one_line_naming_its_key_without_the_secret(tmp_path, url):
    cfg = tmp_path / "site.yaml"
    cfg.write_text(f"alerts:\n  notify:\n    enabled: true\n    urls:\n      - json://127.0.0.1:9/ok\n"
                   f"      - {json.dumps(url)}\n")
    with pytest.raises(ConfigError) as err:
        load_config(cfg)
    text = str(err.value)
    assert "alerts.notify: urls[1]:" in text and str(cfg) in text, text
    assert "\n" not in text and SECRET not in text, text
    last = assert_clean_error(run_cli("edge_app", "config", "--config", str(cfg)), "alerts.notify: urls[1]")
    assert SECRET not in last


def test_a_good_config_loads_and_the_keys_are_described(tmp_path):
    cfg = tmp_path / "site.yaml"
    cfg.write_text(f"alerts:\n  notify:\n    enabled: true\n    urls: [\"mailto://vigil:{SECRET}@example.com\", "
                   f"\"ntfys://vigil-site-alerts\"]\n    states: [raised, cleared]\n    types: [fall]\n")
    notify = load_config(cfg).alerts.notify
    assert notify.enabled and notify.states == ["raised", "cleared"] and notify.spool_dir.is_absolute()
    assert SECRET not in repr(load_config(cfg))  # the URLs are secret: never in a printed config
    described = run_cli("edge_app", "config", "--describe")
    assert described.returncode == 0
    for key in ("notify:", "urls:", "states:", "types:", "attach_snapshot:", "home_assistant:", "discovery_prefix:"):
        assert key in described.stdout, key
