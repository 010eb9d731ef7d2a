"""Property-based fuzzing (hypothesis) of every payload Vigil parses: whatever arrives, the answer is a result or
the clear error (VigilError, one line), never a crash. The config loader's fuzz is in test_config.py."""

from __future__ import annotations

import http.client
import json
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge_app.alerts.board import AlertBoard
from edge_app.records import Event
from helpers.fuzz import FUZZ, json_values


@pytest.fixture(scope="module")
def console():
    import threading

    from edge_app.web.server import FrameHub, OperatorServer

    board = AlertBoard()
    board.observe(Event("fall", "hall", 1, "raised", 1.0, 1.0, time.time(), {}))
    stop = threading.Event()

    def pipeline():  # applies the actions, as the pipeline thread does
        while not stop.is_set():
            board.apply_requests()
            time.sleep(0.005)

    threading.Thread(target=pipeline, daemon=True).start()
    server = OperatorServer(FrameHub(), lambda: {"sources": {"hall": {"status": "online"}}}, "127.0.0.1", 0,
                            board=board).start()
    yield server, board
    stop.set()
    server.stop()
ANSWERS = {200, 400, 401, 403, 404, 413, 415, 503}
paths = st.one_of(st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), max_size=60).map(
    lambda s: "/" + s.replace(" ", "")), st.sampled_from(["/api/alerts/{id}/ack", "/api/alerts/{id}/clear",
                                                          "/api/state", "/stream.mjpg?fps=abc", "/snapshot.jpg"]))


@FUZZ
@given(path=paths, body=st.binary(max_size=600) | json_values.map(lambda v: json.dumps(v).encode()),
       content_type=st.sampled_from(["application/json", "text/plain", "", "application/json; charset=utf-8"]),
       length=st.sampled_from([None, -1, 10**9, 0]))
def test_http_requests_get_an_answer_never_a_crash(console, path, body, content_type, length):
    server, board = console
    alert_id = board.alerts()[0].id
    path = path.replace("{id}", alert_id)
    if "stream.mjpg" in path and "fps=abc" not in path:
        path = "/health"  # a live stream never ends by itself
    headers = {"Content-Type": content_type} if content_type else {}
    if length is not None:  # a lying or absurd Content-Length
        headers["Content-Length"] = str(length)
        body = b"" if length <= 0 else body
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    try:
        try:
            conn.request("POST", path, body=body, headers=headers)
        except (http.client.InvalidURL, UnicodeEncodeError):
            return  # not even sendable
        resp = conn.getresponse()
        assert resp.status in ANSWERS, (path, resp.status)
        resp.read()
    finally:
        conn.close()
    check = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)  # still serving
    try:
        check.request("GET", "/api/state")
        assert check.getresponse().status == 200
    finally:
        check.close()
    assert server.failures == 0  # no request ended in an error of ours (a client hanging up is not one)
