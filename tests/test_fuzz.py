"""Property-based fuzzing (hypothesis) of every payload Vigil parses: whatever arrives, the answer is a result or
the clear error (VigilError, one line), never a crash. The config loader's fuzz is in test_config.py."""

from __future__ import annotations

import http.client
import json
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge_app.alerts.board import AlertBoard
from edge_app.alerts.spool import Spool
from edge_app.errors import VigilError
from edge_app.records import Event

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
                           lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                                      max_size=4), max_leaves=12)


def one_line(exc: Exception) -> None:
    assert str(exc) and "\n" not in str(exc) and "Traceback" not in str(exc)


# --- the console's HTTP API ------------------------------------------------------------------------------------

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


# --- the spool on restart ----------------------------------------------------------------------------------------

@FUZZ
@given(outbox=st.binary(max_size=400) | st.lists(json_values, max_size=5).map(
    lambda vs: "\n".join(json.dumps(v) for v in vs).encode()), delivered=st.binary(max_size=40))
def test_a_damaged_spool_is_read_or_cleanly_refused(tmp_path_factory, outbox, delivered):
    folder = tmp_path_factory.mktemp("spool")
    (folder / "outbox.jsonl").write_bytes(outbox)
    (folder / "delivered").write_bytes(delivered)
    try:
        spool = Spool(folder)
    except VigilError as exc:
        one_line(exc)
        return
    pending = spool.pending()
    assert all(isinstance(r, dict) and isinstance(r.get("seq"), int) for r in pending)
    record = spool.put({"type": "fall"})  # and it still takes new events
    assert record["seq"] > max([r["seq"] for r in pending], default=0)


# --- files and arguments a user gives ------------------------------------------------------------------------------

@FUZZ
@given(data=json_values)
def test_model_manifests(tmp_path_factory, runtime, data):
    from edge_app.inference.model_store import ModelStore

    folder = tmp_path_factory.mktemp("models")
    (folder / "manifest.json").write_text(json.dumps(data))
    try:
        store = ModelStore(folder)
        for name in list(store.models)[:2]:
            store.choose(name, runtime, "auto")
    except VigilError as exc:
        one_line(exc)


@FUZZ
@given(data=json_values | st.text(max_size=80))
def test_clip_lists(tmp_path_factory, data):
    from edge_app.evaluate import load_clips

    folder = tmp_path_factory.mktemp("clips")
    path = folder / "clips.json"
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    try:
        load_clips(path, None)
    except VigilError as exc:
        one_line(exc)


@FUZZ
@given(text=st.text(max_size=200))
def test_label_csv(tmp_path_factory, text):
    from edge_app.evaluate import urfd_labels

    path = tmp_path_factory.mktemp("labels") / "labels.csv"
    path.write_text(text)
    try:
        labels = urfd_labels(path)
    except VigilError as exc:
        one_line(exc)
        return
    assert labels


@FUZZ
@given(http=st.text(max_size=30), crop=st.text(max_size=30), source=st.text(min_size=1, max_size=40))
def test_command_line_values(http, crop, source):
    from edge_app.__main__ import parse_crops, server_override, source_spec
    from edge_app.config import ServerConfig

    for parse in (lambda: server_override(ServerConfig(), http), lambda: parse_crops([crop]),
                  lambda: source_spec(source, 0, False)):
        try:
            parse()
        except VigilError as exc:
            one_line(exc)
