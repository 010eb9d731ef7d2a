"""The alert board, on-screen alert colours and acknowledge key, the console's API and its safety rules, and the
browser console end to end in headless Chromium: a real fall streamed over RTSP, a real MQTT broker, the camera
going away."""

from __future__ import annotations

import dataclasses
import time

import cv2
import numpy as np
import pytest

from edge_app.alerts.board import ALL, AlertBoard, clean_name
from edge_app.records import Event, Frame, TrackView
from edge_app.render.draw import ACKNOWLEDGED, SEVERITY_COLOURS
from edge_app.render.renderer import Processed, Renderer
from edge_app.render.window import Window
from edge_app.timing import Metrics
from edge_app.web.server import FrameHub
from helpers.console import (
    PipelineThread,
    raised,
)


def test_raised_alerts_get_ids_and_the_analyzers_clear_ends_them():
    board = AlertBoard()
    fall, tired = raised(), raised("fatigue", track=4)
    fall, tired = board.observe(fall), board.observe(tired)
    assert fall.details["alert_id"] != tired.details["alert_id"]
    assert [a.severity for a in board.open_alerts("hall")] == ["critical", "warning"]
    board.observe(Event("posture", "hall", 3, "info", 1.0, 13.0, time.time(), {}))  # ignored
    cleared = board.observe(Event("fall", "hall", 3, "cleared", 0.1, 20.0, time.time(), {}))
    assert cleared.details["alert_id"] == fall.details["alert_id"]
    assert [a.type for a in board.open_alerts("hall")] == ["fatigue"]
    assert board.get(fall.details["alert_id"]).cleared_by == "analysis"


def test_acknowledge_and_clear_become_events_once():
    board = AlertBoard()
    fall = raised()
    alert_id = board.observe(fall).details["alert_id"]
    assert "alert_id" not in fall.details  # the event given is not changed: the board returns a copy
    board.request("ack", alert_id, by="Ana <script>", via="console", timeout=None)
    board.request("ack", alert_id, by="Ben", via="console", timeout=None)  # already acknowledged: no second event
    events = board.apply_requests()
    assert [(e.state, e.details["by"], e.details["alert_id"]) for e in events] == [
        ("acknowledged", "Ana script", alert_id)]
    assert board.get(alert_id).state == "acknowledged"
    board.request("clear", alert_id, by="Ben", timeout=None)
    events = board.apply_requests()
    assert [(e.state, e.type, e.track_id, e.details["via"]) for e in events] == [("cleared", "fall", 3, "console")]
    assert board.open_alerts("hall") == []


def test_the_acknowledge_key_takes_every_active_alert():
    board = AlertBoard()
    for track in (1, 2):
        board.observe(raised(track=track))
    board.observe(raised("fatigue", stream="dock", track=7))
    board.request("ack", ALL, by="on-screen", via="keyboard", timeout=None)
    assert len(board.apply_requests()) == 3
    assert {a.state for a in board.alerts()} == {"acknowledged"}


def test_requests_wait_for_the_pipeline_and_say_when_it_is_not_running():
    board = AlertBoard()
    with pytest.raises(TimeoutError):
        board.request("ack", "x", timeout=0.1)
    with pytest.raises(ValueError, match="unknown action"):
        board.request("delete", "x")
    worker = PipelineThread(board)
    try:
        assert board.request("ack", "no-such-alert") is None
    finally:
        worker.stop()


def test_operator_names_are_cleaned():
    assert clean_name("") == "operator"
    assert clean_name("<img src=x onerror=alert(1)>") == "img srcx onerroralert1"
    assert len(clean_name("x" * 500)) == 40


def test_old_cleared_alerts_are_dropped_active_ones_never():
    board = AlertBoard(keep=5)
    for track in range(8):
        board.observe(raised(track=track))
    assert len(board.alerts()) == 8  # all active: kept
    for track in range(8):
        board.observe(Event("fall", "hall", track, "cleared", 0.0, 30.0, time.time(), {}))
    board.observe(raised(track=99))
    assert len(board.alerts()) == 5 and board.alerts()[0].track_id == 99


def test_the_acknowledge_key_works_in_a_kiosk_where_quit_keys_do_not():
    kiosk = Window(kiosk=True)
    kiosk.key(ord("q"))
    kiosk.key(ord("a"))
    assert not kiosk.quit_requested
    assert kiosk.take_ack() and not kiosk.take_ack()  # once per press


def processed(events=(), index: int = 1) -> Processed:
    """One frame of stream "hall" (240x320 grey) with person #3 standing, as the pipeline hands it to the renderer."""
    from edge_app.timing import FrameTiming

    landmarks = np.zeros((33, 5), np.float32)
    landmarks[:, :2], landmarks[:, 3] = (200, 150), 1.0
    frame = Frame("hall", index, np.full((240, 320, 3), 90, np.uint8), time.monotonic(), time.time(), index / 10)
    now = time.monotonic()
    timing = FrameTiming(captured=now, taken=now, pose_done=now, pose_parts=(0, 0, 0), tracked=now, analysed=now)
    return Processed(frame, [TrackView(3, landmarks, (150.0, 100.0, 250.0, 200.0))], list(events), timing)


def render_one(board: AlertBoard, events=(), window=None) -> np.ndarray:
    hub = FrameHub()
    renderer = Renderer(["hall"], Metrics(), "CPU", "INT8", None, window, hub=hub, board=board)
    hub.newer_than(0, 0)  # a console client watching: frames are drawn for it
    renderer._render(processed(events))
    return hub.newer_than(0, 0)[1]


def test_a_frame_nobody_watches_is_counted_but_not_drawn_until_a_client_asks():
    hub, metrics, board = FrameHub(), Metrics(), AlertBoard()
    renderer = Renderer(["hall"], metrics, "CPU", "INT8", None, None, hub=hub, board=board)
    renderer._render(processed(index=1))
    assert metrics.streams["hall"].frames == 1  # rendered as far as latency and fps go
    assert hub.seq == 0 and "hall" not in renderer.canvases  # no window, recording, evidence or client: no drawing
    assert hub.newer_than(0, 0)[1] is None  # a client asks: nothing drawn yet, and from now on frames are drawn
    renderer._render(processed(index=2))
    seq, view = hub.newer_than(0, 0)
    assert seq == 1 and view.shape == (240, 320, 3) and (view != 90).any()  # the skeleton and HUD drawn


def test_a_run_whose_result_is_its_last_view_has_every_frame_drawn():
    hub = FrameHub()
    hub.keep_drawn()  # a console upload's photo: its annotated view is the result
    renderer = Renderer(["upload"], Metrics(), "CPU", "INT8", None, None, hub=hub)
    item = processed()
    renderer._render(Processed(dataclasses.replace(item.frame, stream="upload"), item.tracks, [], item.timing))
    hub.newer_than(0, 0)  # a client asking meanwhile does not end it
    assert hub.wanted() and hub.newer_than(0, 0, "upload")[1] is not None


def test_a_client_arriving_after_the_last_frame_still_gets_that_frame_drawn():
    """A camera gone offline (or a file ended) sends no more frames: a console opened then shows the last one."""
    hub = FrameHub()
    renderer = Renderer(["hall"], Metrics(), "CPU", "INT8", None, None, hub=hub)
    renderer.start()
    try:
        renderer.submit(processed())  # nobody watching: not drawn
        time.sleep(0.1)
        assert hub.seq == 0
        started = time.monotonic()
        seq, view = hub.newer_than(0, 3.0)  # a client asks; no new frame will come
        assert seq == 1 and view is not None and view.shape == (240, 320, 3)
        assert time.monotonic() - started < 2.0
    finally:
        renderer.close()


def test_frames_of_every_stream_finishing_together_all_reach_the_render_stage():
    names = [f"cam{i}" for i in range(8)]
    renderer = Renderer(names, Metrics(), "CPU", "INT8", None, None, hub=FrameHub())
    for name in names:  # the render thread not running: as when it is behind
        item = processed()
        renderer.submit(Processed(dataclasses.replace(item.frame, stream=name), item.tracks, [], item.timing))
    assert renderer.dropped == 0 and renderer.inbox.qsize() == 8


def test_an_alert_raised_while_nobody_watches_still_gets_its_thumbnail():
    board = AlertBoard()
    renderer = Renderer(["hall"], Metrics(), "CPU", "INT8", None, None, hub=FrameHub(), board=board)
    event = board.observe(raised("fall"))
    renderer._render(processed([event]))
    thumbnail = board.thumbnail(event.details["alert_id"])
    assert thumbnail is not None and cv2.imdecode(np.frombuffer(thumbnail, np.uint8), cv2.IMREAD_COLOR).shape == \
        (240, 320, 3)


def test_a_request_after_undrawn_frames_waits_for_the_next_view_not_an_old_one():
    import threading

    hub = FrameHub()
    old, new = np.zeros((8, 8, 3), np.uint8), np.full((8, 8, 3), 255, np.uint8)
    hub.publish(old)
    assert hub.newer_than(0, 0)[1] is old  # the newest frame's view: no wait
    hub.skipped()  # frames went by undrawn (the viewer had left)
    threading.Timer(0.2, hub.publish, (new,)).start()
    started = time.monotonic()
    seq, view = hub.newer_than(0, 5.0)
    assert view is new and seq == 2 and 0.1 < time.monotonic() - started < 4.0


def banner_colour(image: np.ndarray) -> np.ndarray:
    return np.median(image[:6, :, :].reshape(-1, 3), axis=0)  # the banner's colour (most of it is not text)


def expected(colour) -> np.ndarray:
    return np.array([90, 90, 90]) * 0.35 + np.array(colour) * 0.65


@pytest.mark.parametrize("type_", ["fall", "fatigue"])
def test_banner_and_box_take_the_severity_colour_then_the_acknowledged_one(type_):
    board = AlertBoard()
    event = raised(type_)
    event = board.observe(event)
    image = render_one(board, [event])
    colour = SEVERITY_COLOURS["critical" if type_ == "fall" else "warning"]
    assert np.abs(banner_colour(image) - expected(colour)).max() < 4
    assert tuple(int(v) for v in image[150, 254]) == colour  # the box around the person (its right side, x1+4)
    board.request("ack", event.details["alert_id"], timeout=None)
    board.apply_requests()
    image = render_one(board)
    assert np.abs(banner_colour(image) - expected(ACKNOWLEDGED)).max() < 4
    thumbnail = cv2.imdecode(np.frombuffer(board.thumbnail(event.details["alert_id"]), np.uint8), cv2.IMREAD_COLOR)
    assert thumbnail.shape == (240, 320, 3)  # made from the frame that raised it


def test_an_alert_restored_from_an_earlier_run_keeps_its_banner_but_boxes_nobody():
    earlier = AlertBoard()
    earlier.observe(raised("fall", track=3))
    board = AlertBoard(restored=earlier.alerts())  # the next run: its own person #3 is someone else
    image = render_one(board)
    assert np.abs(banner_colour(image) - expected(SEVERITY_COLOURS["critical"])).max() < 4  # still shouted
    assert tuple(int(v) for v in image[150, 254]) != SEVERITY_COLOURS["critical"]  # but #3 is not boxed red
    assert board.alerts()[0].restored and board.alerts()[0].to_dict()["restored"] is True
