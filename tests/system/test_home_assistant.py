"""Home Assistant MQTT discovery with a real Mosquitto broker: the sensors announced, their state following a fall,
their availability following the box (its last will when the process dies), and what a restart does."""

from __future__ import annotations

import json
import subprocess
import threading
import time

from edge_app.alerts.board import AlertBoard
from edge_app.alerts.bus import event_record
from edge_app.alerts.mqtt import MqttSettings, MqttSink
from edge_app.records import Event, EventState
from support import PYTHON, REPO, wait_for

CONFIG = "homeassistant/binary_sensor/{box}/{stream}_{type}/config"


class Watcher:
    """A subscriber (as Home Assistant is one) that keeps every message, in order, on ``topics``."""

    def __init__(self, port: int, topics: tuple[str, ...] = ("homeassistant/#", "vigil/#")):
        import paho.mqtt.client as mqtt

        self.messages: list[tuple[str, str, bool]] = []
        self.lock = threading.Lock()
        subscribed = threading.Event()
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"watcher-{time.monotonic_ns()}")
        client.on_connect = lambda c, u, f, rc, p: c.subscribe([(t, 1) for t in topics])
        client.on_subscribe = lambda c, u, mid, codes, p: subscribed.set()
        client.on_message = self._on_message
        client.connect("127.0.0.1", port, keepalive=5)
        client.loop_start()
        self.client = client
        assert subscribed.wait(10), "no SUBACK"

    def _on_message(self, client, userdata, msg) -> None:
        with self.lock:
            self.messages.append((msg.topic, msg.payload.decode(), msg.retain))

    def payloads(self, topic: str) -> list[str]:
        with self.lock:
            return [p for t, p, _ in self.messages if t == topic]

    def last(self, topic: str) -> str | None:
        got = self.payloads(topic)
        return got[-1] if got else None

    def wait(self, topic: str, payload: str, timeout: float = 10) -> None:
        wait_for(lambda: self.last(topic) == payload, timeout, f"{topic} = {payload} (got {self.payloads(topic)})")

    def publish(self, topic: str, payload: str, retain: bool = True) -> None:
        self.client.publish(topic, payload, qos=1, retain=retain).wait_for_publish(5)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def sink_for(broker, tmp_path, box: str = "box-ha") -> MqttSink:
    return MqttSink(MqttSettings(enabled=True, port=broker.port, client_id=box, spool_dir=tmp_path / "spool",
                                 home_assistant=True))


def through(board: AlertBoard, kind: str, state: EventState, track: int = 3, stream: str = "hall") -> dict:
    """An analyzer's event through the real alert board, as the event bus publishes it."""
    return event_record(board.observe(Event(kind, stream, track, state, 0.95, 12.0, time.time(), {})), 40)


def test_a_fall_turns_its_sensor_on_then_off_and_the_discovery_names_the_availability(broker, tmp_path):
    ha = Watcher(broker.port)
    sink = sink_for(broker, tmp_path).start()
    board = AlertBoard()
    state = "vigil/hall/fall/state"
    try:
        assert sink.connected.wait(10)
        sink.status("hall", {"status": "online", "fps": 15.0})
        wait_for(lambda: ha.last(CONFIG.format(box="box-ha", stream="hall", type="fatigue")), 10, "discovery")
        config = json.loads(ha.last(CONFIG.format(box="box-ha", stream="hall", type="fall")))
        assert config["unique_id"] == "box-ha_hall_fall" and config["device_class"] == "safety"
        assert config["availability_topic"] == sink.availability == "vigil/box-ha/availability"
        assert (config["payload_available"], config["payload_not_available"]) == ("online", "offline")
        assert config["state_topic"] == state and config["device"]["manufacturer"] == "Vigil"
        assert ha.last(sink.availability) == config["payload_available"]
        ha.wait(state, "OFF")

        raised = through(board, "fall", EventState.RAISED)
        sink.publish(raised)
        ha.wait(state, "ON")
        sink.publish(through(board, "fall_long_lie", EventState.RAISED))
        ha.wait("vigil/hall/fall_long_lie/state", "ON")
        board.request("ack", raised["details"]["alert_id"], by="Ann", timeout=None)
        for event in board.apply_requests():
            sink.publish(event_record(event, None))
        time.sleep(1.0)
        assert ha.last(state) == "ON"  # acknowledged: still down
        sink.publish(through(board, "fall", EventState.CLEARED))  # got up: the fall and its long lie end
        ha.wait(state, "OFF")
        ha.wait("vigil/hall/fall_long_lie/state", "OFF")
        changes = [p for i, p in enumerate(ha.payloads(state)) if i == 0 or p != ha.payloads(state)[i - 1]]
        assert changes == ["OFF", "ON", "OFF"]  # (a state may be said twice: at the connect and as a stream appears)
        # the events themselves still go out as before
        wait_for(lambda: len([p for t, p, _ in ha.messages if t == "vigil/hall/events"]) == 4, 10, "4 events")
        # a stream first seen through an event gets its sensors then
        sink.publish(through(board, "fatigue", EventState.RAISED, stream="dock"))
        wait_for(lambda: ha.last(CONFIG.format(box="box-ha", stream="dock", type="fall")), 10, "dock's sensors")
        ha.wait("vigil/dock/fatigue/state", "ON")
        ha.wait("vigil/dock/fall/state", "OFF")
    finally:
        sink.close()
        ha.close()


def test_the_sensors_go_unavailable_when_the_box_dies(broker, tmp_path):
    """kill -9: the broker publishes the last will on the availability topic the discovery names."""
    ha = Watcher(broker.port)
    script = (
        "import time\n"
        "from pathlib import Path\n"
        "from edge_app.alerts.mqtt import MqttSettings, MqttSink\n"
        f"sink = MqttSink(MqttSettings(enabled=True, port={broker.port}, client_id='box-ha9', home_assistant=True,"
        f" spool_dir=Path({str(tmp_path / 'spool')!r}))).start()\n"
        "sink.connected.wait(10)\n"
        "sink.status('hall', {'status': 'online'})\n"
        "while True:\n"
        "    time.sleep(0.5)\n")
    box = subprocess.Popen([PYTHON, "-c", script], cwd=REPO)
    try:
        topic = CONFIG.format(box="box-ha9", stream="hall", type="fall")
        wait_for(lambda: ha.last(topic), 20, "the discovery message")
        config = json.loads(ha.last(topic))
        ha.wait(config["availability_topic"], config["payload_available"])
        box.kill()
        box.wait(5)
        ha.wait(config["availability_topic"], config["payload_not_available"], timeout=25)  # keepalive 10 s
    finally:
        if box.poll() is None:
            box.kill()
        ha.close()


def test_a_restart_keeps_an_open_fall_on_until_released_and_clears_stale_states(broker, tmp_path):
    board = AlertBoard()
    first = sink_for(broker, tmp_path).start()
    try:
        assert first.connected.wait(10)
        first.status("dock", {"status": "online"})
        first.publish(through(board, "fall", EventState.RAISED))  # hall: a fall, never cleared before the stop
    finally:
        first.close()
    ha = Watcher(broker.port)
    # a state left ON on the broker that Vigil knows is clear (its OFF never got there)
    ha.publish("vigil/dock/fall/state", "ON")
    second = sink_for(broker, tmp_path).start()
    try:
        assert second.connected.wait(10)
        ha.wait("vigil/dock/fall/state", "OFF")  # every known sensor is published again at the start ...
        wait_for(lambda: len(ha.payloads("vigil/hall/fall/state")) >= 1, 10, "hall's state")
        time.sleep(1.0)
        assert set(ha.payloads("vigil/hall/fall/state")) == {"ON"}  # ... but a person may still be down: ON
        # this run's fall of a track of the same number, raised and cleared: the held-over fall stays open
        new_board = AlertBoard()
        second.publish(through(new_board, "fall", EventState.RAISED))
        second.publish(through(new_board, "fall", EventState.CLEARED))
        time.sleep(1.0)
        assert ha.last("vigil/hall/fall/state") == "ON"
        ha.publish("vigil/hall/fall/state", "OFF")  # someone went to look: released
        time.sleep(1.0)
        assert ha.last("vigil/hall/fall/state") == "OFF"
        # a person's OFF never switches off an alert of this run: it is put back
        second.publish(through(new_board, "fall", EventState.RAISED, track=5))
        ha.wait("vigil/hall/fall/state", "ON")
        count = len(ha.payloads("vigil/hall/fall/state"))
        ha.publish("vigil/hall/fall/state", "OFF")
        wait_for(lambda: ha.payloads("vigil/hall/fall/state")[count:] == ["OFF", "ON"], 10, "ON put back")
        second.publish(through(new_board, "fall", EventState.CLEARED, track=5))
        ha.wait("vigil/hall/fall/state", "OFF")
    finally:
        second.close()
    seen = len(ha.payloads("vigil/hall/fall/state"))
    third = sink_for(broker, tmp_path).start()
    try:
        assert third.connected.wait(10)
        wait_for(lambda: len(ha.payloads("vigil/hall/fall/state")) > seen, 10, "the third start's states")
        time.sleep(0.5)
        assert ha.last("vigil/hall/fall/state") == "OFF"  # the release was kept
    finally:
        third.close()
        ha.close()
