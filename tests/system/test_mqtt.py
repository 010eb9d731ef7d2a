"""Alerts over MQTT with a real Mosquitto broker (Debian's package), started and stopped by the tests."""

from __future__ import annotations

import json
import shutil
import subprocess
import time

import pytest

from edge_app.alerts.mqtt import MqttSettings, MqttSink
from edge_app.alerts.spool import Spool
from support import MOSQUITTO, Broker, ControlRoom, assert_clean_error, outbox, run_cli


def alert(i: int) -> dict:
    return {"ts": float(i), "wall": time.time(), "stream": "ward-3", "frame": i, "type": "fall", "track_id": 1,
            "state": "raised", "score": 0.99, "details": {"n": i}}


def test_alerts_raised_while_the_broker_is_down_arrive_in_order(broker, tmp_path):
    room = ControlRoom(broker.port)
    sink = MqttSink(MqttSettings(enabled=True, port=broker.port, spool_dir=tmp_path / "spool",
                                 client_id="box-1")).start()
    try:
        for i in range(3):
            sink.publish(alert(i))
        assert [e["details"]["n"] for e in room.wait_events(3, 10)] == [0, 1, 2]
        broker.stop()  # the network or the broker is down for 30 s while alerts are raised
        for i in range(3, 13):
            sink.publish(alert(i))
            time.sleep(3.0)
        assert len(sink.spool.pending()) == 10  # waiting on disk
        broker.start()
        got = room.wait_events(13, 30)
        numbers = [e["details"]["n"] for e in got]
        assert sorted(set(numbers)) == list(range(13)), numbers  # every alert arrived
        firsts = [n for k, n in enumerate(numbers) if n not in numbers[:k]]
        assert firsts == list(range(13)), numbers  # in order (QoS 1 may repeat one, never reorder)
        assert all(e["stream"] == "ward-3" and e["seq"] >= 1 for e in got)
        assert not sink.spool.pending()
    finally:
        sink.close()
        room.close()


def test_a_restart_resumes_the_spool_and_availability_is_published(broker, tmp_path):
    spool = tmp_path / "spool"
    room = ControlRoom(broker.port)
    broker.stop()
    first = MqttSink(MqttSettings(enabled=True, port=broker.port, spool_dir=spool, client_id="box-2")).start()
    for i in range(4):
        first.publish(alert(i))
    first.close(flush_timeout=0.5)  # Vigil stops with the broker unreachable: the alerts stay on disk
    assert len(Spool.in_folder(spool, "mqtt").pending()) == 4
    broker.start()
    second = MqttSink(MqttSettings(enabled=True, port=broker.port, spool_dir=spool, client_id="box-2")).start()
    try:
        assert [e["details"]["n"] for e in room.wait_events(4, 20)] == [0, 1, 2, 3]
        second.status("ward-3", {"status": "online", "fps": 15.0})
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not any(t == "vigil/ward-3/status" for t, _, _ in room.messages):
            time.sleep(0.1)
        topics = {t: p for t, p, _ in room.messages}
        assert topics.get("vigil/box-2/availability") == b"online"
        assert json.loads(topics["vigil/ward-3/status"])["status"] == "online"
    finally:
        second.close()
    time.sleep(0.5)
    assert [p for t, p, _ in room.messages if t == "vigil/box-2/availability"][-1] == b"offline"
    room.close()


@pytest.mark.parametrize("text, needle", [("alerts:\n  mqtt:\n    port: 0\n", "port must be 1-65535"),
                                          ("alerts:\n  mqtt:\n    client_id: a/b\n", "client_id must not"),
                                          ("alerts:\n  mqtt:\n    hots: x\n", "alerts.mqtt.hots: unknown key")])
def test_bad_mqtt_config(tmp_path, text, needle):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(text)
    assert_clean_error(run_cli("edge_app", "config", "--config", str(cfg)), needle)


def test_a_real_fall_reaches_the_broker(broker, tmp_path, manifest):
    """The whole pipeline on a held-back UR Fall clip with MQTT on: the fall alert arrives on the topic."""
    from support import need_shared

    if "fall_detector" not in manifest["models"]:
        pytest.skip("fall_detector not built")
    clip = need_shared("falls", "urfd", "fall-16-cam0.mp4")
    room = ControlRoom(broker.port)
    cfg = tmp_path / "site.yaml"
    cfg.write_text(f"alerts:\n  mqtt:\n    enabled: true\n    port: {broker.port}\n    client_id: box-3\n"
                   f"    spool_dir: {tmp_path / 'spool'}\n")
    proc = run_cli("edge_app", "run", "--config", str(cfg), "--headless", "--fast", "--source", f"bed-2={clip}",
                   "--crop", "bed-2=320,0,320,240")
    try:
        assert proc.returncode == 0, proc.stderr[-2000:]
        falls = [e for e in room.wait_events(1, 10) if e["type"] == "fall" and e["state"] == "raised"]
        assert len(falls) == 1 and falls[0]["stream"] == "bed-2" and falls[0]["score"] > 0.9
        assert not outbox("mqtt")
        assert "password" not in proc.stderr
    finally:
        room.close()


@pytest.fixture
def secure_broker(tmp_path):
    """Mosquitto with TLS (a self-signed certificate for 127.0.0.1) and a password file: user vigil, password
    'pa55-w0rd'."""
    if MOSQUITTO is None or not shutil.which("openssl") or not shutil.which("mosquitto_passwd"):
        pytest.skip("needs mosquitto, mosquitto_passwd and openssl")
    cert, key, users = tmp_path / "broker.crt", tmp_path / "broker.key", tmp_path / "users"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    subprocess.run(["mosquitto_passwd", "-b", "-c", str(users), "vigil", "pa55-w0rd"], check=True, capture_output=True)
    b = Broker(tmp_path, secure=f"certfile {cert}\nkeyfile {key}\nallow_anonymous false\npassword_file {users}\n")
    b.cert = cert
    yield b.start()
    b.stop()


def test_tls_and_a_password_deliver_and_the_password_is_never_logged(secure_broker, tmp_path, caplog):
    import ssl

    import paho.mqtt.client as mqtt

    got: list[dict] = []
    room = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="room-tls")
    room.tls_set(ca_certs=str(secure_broker.cert), cert_reqs=ssl.CERT_REQUIRED)
    room.username_pw_set("vigil", "pa55-w0rd")
    room.on_connect = lambda c, u, f, rc, p: c.subscribe("vigil/+/events", qos=1)
    room.on_message = lambda c, u, m: got.append(json.loads(m.payload))
    room.connect("127.0.0.1", secure_broker.port)
    room.loop_start()
    settings = dict(enabled=True, port=secure_broker.port, tls=True, ca_file=secure_broker.cert, username="vigil")
    caplog.set_level("DEBUG")
    wrong = MqttSink(MqttSettings(**settings, password="not-it", spool_dir=tmp_path / "wrong",
                                  client_id="box-w")).start()
    right = MqttSink(MqttSettings(**settings, password="pa55-w0rd", spool_dir=tmp_path / "right",
                                  client_id="box-r")).start()
    try:
        wrong.publish(alert(1))
        right.publish(alert(2))
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and not got:
            time.sleep(0.1)
        time.sleep(1.0)
        assert [e["details"]["n"] for e in got] == [2]  # only the box with the right password got through
        assert len(wrong.spool.pending()) == 1  # the refused box keeps its alert on disk
        assert right.connected.is_set() and not wrong.connected.is_set()
        assert any("refused" in r.getMessage() for r in caplog.records)
        assert not any("pa55-w0rd" in r.getMessage() or "not-it" in r.getMessage() for r in caplog.records)
    finally:
        wrong.close(flush_timeout=0.1)
        right.close()
        room.loop_stop()
        room.disconnect()


def retained(port: int, topic: str = "vigil/#", wait: float = 1.5) -> dict[str, str]:
    """What a new subscriber receives at once (the retained messages), topic -> payload."""
    import paho.mqtt.client as mqtt

    got: dict[str, str] = {}
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"probe-{time.monotonic_ns()}")
    client.on_connect = lambda c, u, f, rc, p: c.subscribe(topic, qos=1)
    client.on_message = lambda c, u, msg: got.__setitem__(msg.topic, msg.payload.decode())
    client.connect("127.0.0.1", port, keepalive=5)
    client.loop_start()
    time.sleep(wait)
    client.loop_stop()
    client.disconnect()
    return got


def test_a_dead_boxs_stream_status_expires_instead_of_saying_online(broker, tmp_path):
    """kill -9: the availability goes offline at once (the will), and the stream's retained status is no longer
    handed to new subscribers once its expiry has passed."""
    sink = None
    script = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from edge_app.alerts.mqtt import MqttSettings, MqttSink\n"
        f"sink = MqttSink(MqttSettings(enabled=True, port={broker.port}, client_id='box-9', status_expiry_s=3,"
        f" spool_dir=Path({str(tmp_path / 'spool')!r}))).start()\n"
        "sink.connected.wait(10)\n"
        "while True:\n"
        "    sink.status('hall', {'status': 'online', 'fps': 15.0})\n"
        "    time.sleep(0.5)\n")
    from support import PYTHON, REPO

    box = subprocess.Popen([PYTHON, "-c", script], cwd=REPO)
    try:
        from support import wait_for

        wait_for(lambda: json.loads(retained(broker.port).get("vigil/hall/status", "{}")).get("status") ==
                 "online", 20, "the stream's status online")
        time.sleep(4.0)  # longer than the expiry: a running box keeps its status fresh
        assert "vigil/hall/status" in retained(broker.port)
        box.kill()
        box.wait(5)
        time.sleep(4.5)  # keepalive 10 s: the will may take up to 15 s; the status expires after 3 s
        after = retained(broker.port)
        assert "vigil/hall/status" not in after, after
        wait_for(lambda: retained(broker.port, wait=0.5).get("vigil/box-9/availability") == "offline", 20,
                 "the will: offline")
    finally:
        if box.poll() is None:
            box.kill()
        if sink is not None:
            sink.close(0.1)


def test_two_boxes_with_one_client_id_are_named_in_the_log(broker, tmp_path, caplog):
    first = MqttSink(MqttSettings(enabled=True, port=broker.port, client_id="cloned-box",
                                  spool_dir=tmp_path / "a")).start()
    second = None
    try:
        assert first.connected.wait(10)
        with caplog.at_level("ERROR"):
            second = MqttSink(MqttSettings(enabled=True, port=broker.port, client_id="cloned-box",
                                           spool_dir=tmp_path / "b")).start()
            deadline = time.monotonic() + 30  # they take the id from each other about every second at first
            while time.monotonic() < deadline and "took over its session" not in caplog.text:
                time.sleep(0.1)
        assert "another client connected with this box's client id 'cloned-box'" in caplog.text
    finally:
        first.close(0.1)
        if second is not None:
            second.close(0.1)
