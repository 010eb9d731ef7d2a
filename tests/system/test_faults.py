"""RTSP faults with the real server, on one of two streams: the camera's server is killed ten times during a run
and comes back after 1 to 10 s, then it stalls (the server frozen with SIGSTOP: connected, no frames) and thaws.
Vigil keeps running; the other stream goes on at its rate throughout; the faulty stream's status reads
`reconnecting` in /health, /metrics and its retained MQTT status while it is down and `online` when it is back;
it resumes after each fault; no black or stale frame reaches analysis, and the gaps raise no alert. (How fast it
resumes is measured by `make benchmark`, scenario `reconnect`, not timed here.)"""

from __future__ import annotations

import json
import os
import random
import signal
import threading
import time
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from edge_app.sources.capture import SourceSpec
from support import ControlRoom, need_shared, wait_for

OUTAGES_S = [1, 10, 2, 9, 3, 8, 4, 7, 5, 6]  # each from 1 to 10 s, all of them, in a mixed order
STALL_S = 6.0  # longer than the 2 s stall watchdog


def get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return resp.read().decode()


def statuses(url: str, room: ControlRoom) -> dict:
    """What each place says of the faulty stream `cam` and of `other` right now."""
    health = json.loads(get(url + "health"))["streams"]
    metrics = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for f in text_string_to_metric_families(get(url + "metrics")) for s in f.samples}
    mqtt = {}
    with room.lock:
        for topic, payload, _ in room.messages:
            if topic.endswith("/status"):
                mqtt[topic.split("/")[1]] = json.loads(payload)["status"]
    return {"health": health, "metrics_cam_up": metrics.get(("vigil_source_up", (("stream", "cam"),))) == 1,
            "metrics_cam_reconnecting": metrics.get(("vigil_source_status",
                                                     (("status", "reconnecting"), ("stream", "cam")))) == 1,
            "mqtt": mqtt}


def test_a_dying_and_stalling_camera_resumes_and_the_other_stream_goes_on(rtsp_server, broker, manifest, tmp_path):
    from edge_app.alerts.bus import MemorySink
    from edge_app.alerts.mqtt import MqttSettings, MqttSink
    from edge_app.app import build_pose_stack, build_runner
    from edge_app.bench.scenarios import bench_config
    from edge_app.config import ServerConfig, load_config

    clip = need_shared("falls", "upfall_s1", "Activity7", "Trial2Cam1.mp4")  # a person standing
    server = rtsp_server({"cam": clip}).warm()
    steady = rtsp_server({"other": clip}).warm()
    room = ControlRoom(broker.port)
    cfg = bench_config(load_config())
    events = MemorySink()
    mqtt = MqttSink(MqttSettings(enabled=True, port=broker.port, spool_dir=tmp_path / "spool", client_id="box-f"))
    pipe = build_runner(cfg, build_pose_stack(cfg, 2), [SourceSpec("cam", server.url("cam")),
                                                        SourceSpec("other", steady.url("other"))],
                        log_every=3600.0, sinks=[events, mqtt], server=ServerConfig(port=0))
    seen: list[tuple[str, float, float, float]] = []  # (stream, processed at, captured at, image std)

    def spy(item):
        frame = item.frame
        seen.append((frame.stream, time.monotonic(), frame.capture_mono, float(frame.image[::4, ::4].std())))

    pipe.observers.append(spy)
    runner = threading.Thread(target=pipe.run, name="vigil", daemon=True)
    runner.start()
    capture = pipe.captures[0]

    def cam() -> list:
        return [s for s in seen if s[0] == "cam"]

    def other_frames_between(a: float, b: float) -> int:
        return sum(1 for s in seen if s[0] == "other" and a <= s[2] <= b)

    outages, down_views = [], []
    try:
        wait_for(lambda: capture.status.value == "online" and cam() and pipe.server is not None, 30,
                 "the stream to start", every=0.02)
        url = pipe.server.url
        wait_for(lambda: statuses(url, room)["mqtt"].get("cam") == "online", 15, "MQTT status online")
        faults = [("kill", s) for s in OUTAGES_S] + [("stall", STALL_S)]
        for kind, seconds in faults:
            time.sleep(random.uniform(2.0, 3.0))  # running
            if kind == "kill":
                server.proc.kill()  # the camera dies: no goodbye
                server.proc.wait(5)
            else:
                os.kill(server.proc.pid, signal.SIGSTOP)  # connected, but no frame comes
            stopped = time.monotonic()
            if seconds >= 6:  # long enough to look at what the operator sees while it is down
                wait_for(lambda: capture.status.value == "reconnecting", seconds - 1, f"{kind}: reconnecting")
                down_views.append((kind, wait_for(lambda: (v := statuses(url, room))["health"]["cam"] ==
                                                  "reconnecting" and v["mqtt"].get("cam") == "reconnecting" and v,
                                                  seconds - 2, f"{kind}: status reconnecting everywhere")))
            time.sleep(max(0.0, seconds - (time.monotonic() - stopped)))
            if kind == "kill":
                server.start()
            else:
                os.kill(server.proc.pid, signal.SIGCONT)
            back = time.monotonic()
            wait_for(lambda back=back: cam() and cam()[-1][2] > back, 30, f"frames after a {seconds} s {kind}",
                     every=0.02)
            outages.append((kind, seconds, stopped, back, time.monotonic()))
            assert runner.is_alive(), "Vigil stopped"
        back_online = wait_for(lambda: (v := statuses(url, room))["health"]["cam"] == "online" and
                               v["mqtt"].get("cam") == "online" and v["metrics_cam_up"] and v, 15, "online again")
    finally:
        pipe.stop_event.set()
        runner.join(30)
        room.close()
    print(f"faults {[(k, s) for k, s, *_ in outages]}, resumed {[round(r - b, 2) for *_, b, r in outages]} s after")
    assert len(outages) == len(OUTAGES_S) + 1
    for kind, view in down_views:  # the operator saw it down, everywhere, while the other stream was fine
        assert view["health"] == {"cam": "reconnecting", "other": "online"}, (kind, view)
        assert view["metrics_cam_reconnecting"] and view["mqtt"].get("other") == "online", (kind, view)
    assert back_online["health"] == {"cam": "online", "other": "online"}
    for kind, seconds, stopped, back, _ in outages:  # the other stream went on at its rate through every fault
        assert other_frames_between(stopped, back) >= 10 * (back - stopped) - 10, (kind, seconds)
    raised = [(e["stream"], e["ts"], e["type"], e["details"]) for e in events.records if e["state"] == "raised"]
    print(f"alerts raised: {raised}")  # the steady stream's are issue 18's business (fatigue on standing still)
    assert not [r for r in raised if r[0] == "cam"], f"a gap raised an alert: {raised}"
    changes = [s for _, s in capture.stats.status_changes]
    transitions = sum(1 for a, b in zip(changes, changes[1:]) if (a, b) == ("reconnecting", "online"))
    assert transitions >= len(outages), changes
    assert capture.stats.reconnects >= len(outages)
    for stream, processed, captured, std in seen:
        assert std > 2.0, "a blank frame reached analysis"
        assert processed - captured < 1.0, "a stale frame reached analysis"
        if stream == "cam":
            for kind, seconds, stopped, back, _ in outages:
                assert not (stopped + 0.5 < captured < back), \
                    f"a frame from inside a {seconds} s {kind}: {captured - stopped:.2f} s after it began"
    captured_times = [c for _, _, c, _ in cam()]
    assert captured_times == sorted(captured_times), "frames out of order"
    for _, _, stopped, back, _ in outages:  # nothing from before an outage is handed out after the server returned
        assert not [c for _, p, c, _ in cam() if p > back and c < stopped], "a frame from before the outage after it"


@pytest.fixture(autouse=True)
def _seed():
    random.seed(7)
