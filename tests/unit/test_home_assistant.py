"""Home Assistant in the MQTT sink, the part without sockets: which sensor is ON (from event records alone, as the
alert board decides them) and the discovery message."""

from __future__ import annotations

import json

import pytest

from edge_app.alerts.board import SEVERITY, AlertBoard, OperatorAction
from edge_app.alerts.bus import event_record
from edge_app.alerts.mqtt import HA_TYPES, MqttSettings, OpenAlerts, ha_discovery, ha_safe, ha_state_topic
from edge_app.records import Event, EventState


def record(board: AlertBoard, kind: str, state: str, track: int = 1, stream: str = "hall") -> dict:
    """The record the event bus would publish: the event through the real alert board (which names the alert)."""
    event = board.observe(Event(kind, stream, track, EventState(state), 0.9, 1.0, 1000.0, {}))
    return event_record(event, 7)


def operator(board: AlertBoard, action: OperatorAction, alert_id: str) -> dict:
    board.request(action, alert_id, by="Ann", timeout=None)  # queued; applied below, as the pipeline thread does
    (event,) = board.apply_requests()
    return event_record(event, None)


def test_the_sensor_types_are_the_alert_types():
    assert set(HA_TYPES) == set(SEVERITY) == {"fall", "fall_long_lie", "fatigue"}


def test_on_while_raised_or_acknowledged_off_once_cleared():
    board, alerts = AlertBoard(), OpenAlerts()
    raised = record(board, "fall", "raised")
    assert alerts.observe(raised) == [("hall", "fall")]
    assert alerts.state("hall", "fall") == "ON" and alerts.state("hall", "fatigue") == "OFF"
    assert alerts.observe(operator(board, OperatorAction.ACK, raised["details"]["alert_id"])) == []
    assert alerts.state("hall", "fall") == "ON"  # acknowledged: someone has seen it, the person is still down
    assert alerts.observe(record(board, "fall", "cleared")) == [("hall", "fall")]
    assert alerts.state("hall", "fall") == "OFF"


def test_off_only_when_no_other_alert_of_that_type_on_that_stream_is_open():
    board, alerts = AlertBoard(), OpenAlerts()
    alerts.observe(record(board, "fall", "raised", track=1))
    assert alerts.observe(record(board, "fall", "raised", track=2)) == []  # already ON: nothing to publish
    alerts.observe(record(board, "fall", "raised", track=3, stream="ward"))
    assert alerts.observe(record(board, "fall", "cleared", track=1)) == []
    assert alerts.is_on("hall", "fall")  # track 2 is still down
    assert alerts.observe(record(board, "fall", "cleared", track=2)) == [("hall", "fall")]
    assert not alerts.is_on("hall", "fall") and alerts.is_on("ward", "fall")


def test_the_analyzer_clearing_a_fall_also_ends_its_long_lie_but_an_operator_clears_one_alert():
    board, alerts = AlertBoard(), OpenAlerts()
    alerts.observe(record(board, "fall", "raised"))
    alerts.observe(record(board, "fall_long_lie", "raised"))
    assert alerts.is_on("hall", "fall_long_lie")
    assert sorted(alerts.observe(record(board, "fall", "cleared"))) == [("hall", "fall"), ("hall", "fall_long_lie")]
    # an operator clears one alert only (the board does the same)
    fall = record(board, "fall", "raised", track=4)
    lie = record(board, "fall_long_lie", "raised", track=4)
    alerts.observe(fall)
    alerts.observe(lie)
    assert alerts.observe(operator(board, OperatorAction.CLEAR, fall["details"]["alert_id"])) == [("hall", "fall")]
    assert alerts.is_on("hall", "fall_long_lie")
    assert alerts.observe(operator(board, OperatorAction.CLEAR, lie["details"]["alert_id"])) == \
        [("hall", "fall_long_lie")]


def test_info_events_other_types_and_unknown_alerts_change_nothing():
    alerts = OpenAlerts()
    assert alerts.observe({"stream": "hall", "type": "posture", "state": "info", "details": {}}) == []
    assert alerts.observe({"stream": "hall", "type": "exercise", "state": "raised", "details": {}}) == []
    assert alerts.observe({"stream": "hall", "type": "fall", "state": "cleared", "track_id": 1,
                           "details": {"alert_id": "never-raised"}}) == []
    assert not any(alerts.is_on("hall", t) for t in HA_TYPES)


def test_alerts_open_at_a_restart_stay_on_until_named_or_released():
    board, alerts = AlertBoard(), OpenAlerts()
    alerts.add_stream("dock")
    kept = record(board, "fall", "raised", track=1)
    kept["details"]["alert_id"] = "earlier-run-1"  # (boards made within one second may share a prefix)
    alerts.observe(kept)
    saved = json.loads(json.dumps(alerts.to_json()))  # through the file's format
    again = OpenAlerts.from_json(saved)
    assert again.streams == ["dock", "hall"] and again.state("hall", "fall") == "ON"
    assert again.state("dock", "fall") == "OFF"
    new_board = AlertBoard()  # the new run's board: its track 1 is somebody else
    now = record(new_board, "fall", "raised", track=1)
    again.observe(now)
    again.observe(record(new_board, "fall", "cleared", track=1))  # clears this run's alert, not the held one
    assert again.is_on("hall", "fall") and again.held("hall", "fall") == [kept["details"]["alert_id"]]
    assert again.release_held("hall", "fall") and not again.is_on("hall", "fall")
    # a held alert also goes when an event names it (an operator clears it on a board that restored it)
    other = OpenAlerts.from_json(saved)
    other.observe({**kept, "state": "cleared", "details": {"alert_id": kept["details"]["alert_id"], "by": "Ann"}})
    assert not other.is_on("hall", "fall")


def test_release_never_drops_this_runs_alerts():
    board, alerts = AlertBoard(), OpenAlerts()
    alerts.observe(record(board, "fatigue", "raised"))
    assert not alerts.release_held("hall", "fatigue") and alerts.is_on("hall", "fatigue")


@pytest.mark.parametrize("data", [{}, {"streams": []}, {"streams": [], "open": [{"stream": "hall"}]}])
def test_a_damaged_state_file_is_an_error_the_sink_can_catch(data):
    with pytest.raises((KeyError, TypeError, ValueError)):
        OpenAlerts.from_json(data)


def test_the_discovery_message_of_a_fall_sensor():
    topic, payload = ha_discovery("homeassistant", "vigil-box.1", "hall", "fall",
                                  ha_state_topic("vigil", "hall", "fall"), "vigil/vigil-box.1/availability")
    assert topic == f"homeassistant/binary_sensor/{ha_safe('vigil-box.1')}/hall_fall/config"
    assert json.loads(json.dumps(payload)) == payload
    assert payload["unique_id"] == f"{ha_safe('vigil-box.1')}_hall_fall"
    assert payload["device_class"] == "safety" and payload["name"] == "hall fall"
    assert payload["state_topic"] == "vigil/hall/fall/state"
    assert (payload["payload_on"], payload["payload_off"]) == ("ON", "OFF")
    assert (payload["availability_topic"], payload["payload_available"], payload["payload_not_available"]) == \
        ("vigil/vigil-box.1/availability", "online", "offline")
    device = payload["device"]
    assert device["identifiers"] == [ha_safe("vigil-box.1")] and device["manufacturer"] == "Vigil"
    assert device["model"] and "vigil-box.1" in device["name"]
    assert ha_discovery("homeassistant", "b", "hall", "fatigue", "t", "a")[1]["device_class"] == "problem"


def test_discovery_ids_are_safe_and_never_shared():
    assert ha_safe("vigil-host-1a2b3c4d") == "vigil-host-1a2b3c4d"
    odd = [ha_safe(s) for s in ("走廊", "大厅", "a b", "a_b", "a.b")]
    assert len(set(odd)) == len(odd)
    assert all(c.isascii() and (c.isalnum() or c in "_-") for s in odd for c in s)
    boxes = {ha_discovery("homeassistant", box, "hall", "fall", "t", "a")[1]["unique_id"] for box in ("b1", "b2")}
    assert len(boxes) == 2  # two boxes with a stream of one name: two sensors


@pytest.mark.parametrize("prefix", ["", "/ha", "ha/", "ha/#", "h+a"])
def test_a_bad_discovery_prefix_is_refused(prefix):
    with pytest.raises(ValueError, match="discovery_prefix"):
        MqttSettings(discovery_prefix=prefix).validate()
    MqttSettings(discovery_prefix="site/homeassistant").validate()
