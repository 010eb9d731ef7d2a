"""Graceful shutdown on SIGINT and SIGTERM: the run drains, the open evidence clip is closed and decodes, the event
log is complete, undelivered MQTT events stay in the spool, and the next start delivers them."""

from __future__ import annotations

import json
import signal
import subprocess
import time

import cv2
import pytest

from support import MOSQUITTO, PYTHON, REPO, Broker, ControlRoom, free_port, need_shared, outbox, wait_for


def start_vigil(cfg, source: str, events, *extra: str) -> subprocess.Popen:
    return subprocess.Popen([PYTHON, "-m", "edge_app", "run", "--config", str(cfg), "--headless", "--source", source,
                             "--events", str(events), *extra], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_drains_closes_the_clip_and_keeps_undelivered_alerts_for_the_next_start(
        sig, tmp_path, manifest, rtsp_server):
    if "fall_detector" not in manifest["models"]:
        pytest.skip("fall_detector not built")
    if MOSQUITTO is None:
        pytest.skip("needs mosquitto (make setup installs it)")
    clip = need_shared("falls", "upfall_s1", "Activity1", "Trial2Cam1.mp4")  # a fall 1.4 s in
    camera = rtsp_server({"hall": clip}).warm()
    broker_port = free_port()  # no broker there yet: the site's network is down
    cfg = tmp_path / "vigil.yaml"
    cfg.write_text(f"alerts:\n  mqtt:\n    enabled: true\n    port: {broker_port}\n"
                   f"    spool_dir: {tmp_path / 'spool'}\n    client_id: box-{sig.name}\n"
                   f"  evidence:\n    dir: {tmp_path / 'evidence'}\n    before_s: 1\n    after_s: 60\n")
    events = tmp_path / "events.jsonl"
    vigil = start_vigil(cfg, f"hall={camera.url('hall')}", events, "--http", "off", "--stats",
                        str(tmp_path / "stats.json"))
    try:
        raised = wait_for(lambda: [json.loads(x) for x in (events.read_text().splitlines() if events.exists() else [])
                                   if '"raised"' in x], 60, "the fall alert")
        time.sleep(2.0)  # the clip is being recorded (60 s after the alert): the signal comes in the middle of it
        vigil.send_signal(sig)
        out, err = vigil.communicate(timeout=30)
    finally:
        if vigil.poll() is None:
            vigil.kill()
    assert vigil.returncode == 0, err[-2000:]
    assert f"{sig.name}: stopping" in err and "Traceback" not in err
    assert json.loads((tmp_path / "stats.json").read_text())["stopped_by"] == sig.name
    lines = events.read_text().splitlines()
    assert all(json.loads(x) for x in lines)  # every line whole
    clip_path = raised[0]["details"]["clip"]
    cap = cv2.VideoCapture(clip_path)
    frames = 0
    while cap.read()[0]:
        frames += 1
    assert frames >= 15, frames  # the second before and the two after, closed properly: it decodes
    waiting = outbox("mqtt")  # read back from the database, as the next start will
    assert [e["details"].get("alert_id") for e in waiting if e["state"] == "raised"] == \
        [raised[0]["details"]["alert_id"]], "the undelivered alert must wait on disk"
    assert "not yet delivered" in err

    if sig != signal.SIGTERM:
        return
    # the network is back: the next start delivers what waited, in order
    (tmp_path / "broker").mkdir()
    broker = Broker(tmp_path / "broker", port=broker_port)
    broker.start()
    room = ControlRoom(broker_port, "vigil/hall/events")
    try:
        quiet = need_shared("falls", "upfall_s1", "Activity7", "Trial2Cam1.mp4")  # standing: no new alert
        again = start_vigil(cfg, f"hall={quiet}", tmp_path / "events2.jsonl", "--http", "off", "--duration", "4")
        again.communicate(timeout=60)
        got = wait_for(lambda: [e for e in room.events() if e["state"] == "raised"], 15, "the spooled alert")
        assert got[0]["details"]["alert_id"] == raised[0]["details"]["alert_id"]
    finally:
        room.close()
        broker.stop()
