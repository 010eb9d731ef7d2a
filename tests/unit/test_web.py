"""The operator HTTP endpoints: MJPEG view, snapshot, Prometheus /metrics, health, token and binding rules."""

from __future__ import annotations

import numpy as np
import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from edge_app.timing import STAGES, FrameTiming, Metrics
from edge_app.web.prometheus import SOURCE_STATUSES, serve_registry
from edge_app.web.server import FrameHub
from helpers.web import snapshot_of


def scrape(registry) -> dict:
    """The families of one scrape as Prometheus parses them, by name (counters without ``_total``)."""
    return {f.name: f for f in text_string_to_metric_families(generate_latest(registry).decode())}


def values(family) -> dict:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value for s in family.samples}


def served_metrics(frames: int = 5) -> tuple[Metrics, dict]:
    """A Metrics with ``frames`` frames of stream cam-1 and the snapshot a runner would serve with it."""
    metrics = Metrics()
    for i in range(frames):
        t = 10.0 + i
        metrics.add("cam-1", FrameTiming(captured=t, taken=t + 0.001, pose_done=t + 0.006,
                                         pose_parts=(0.001, 0.003, 0.0005), tracked=t + 0.0062,
                                         analysed=t + 0.0063, rendered=t + 0.008))
    snap = metrics.summary({"cam-1": 2})
    snap["sources"] = {"cam-1": {"status": "online", "captured": 9, "reconnects": 1, "corrupt": 3}}
    snap["io_faults"] = {"errors": {"events": 4}}
    return metrics, snap


def test_prometheus_text_parses_with_histograms_and_snapshot_families():
    metrics, snap = served_metrics(5)
    families = scrape(serve_registry(lambda: snap, metrics.registry))
    kinds = {name: f.type for name, f in families.items()}
    assert {"vigil_frames": "counter", "vigil_fps": "gauge", "vigil_dropped_frames": "counter",
            "vigil_stage_latency_seconds": "histogram", "vigil_glass_to_render_seconds": "histogram",
            "vigil_glass_to_alert_seconds": "histogram", "vigil_source_up": "gauge", "vigil_source_status": "gauge",
            "vigil_source_reconnects": "counter", "vigil_source_frames": "counter", "vigil_alerts_raised": "counter",
            "vigil_corrupt_frames": "counter", "vigil_source_frozen_frames": "counter", "vigil_io_errors": "counter",
            "vigil_resident_memory_bytes": "gauge"}.items() <= kinds.items()
    assert not any(name.endswith("_ms") for name in families)  # base units only
    assert values(families["vigil_frames"]) == {("vigil_frames_total", (("stream", "cam-1"),)): 5}
    assert values(families["vigil_dropped_frames"]) == {("vigil_dropped_frames_total", (("stream", "cam-1"),)): 2}
    assert values(families["vigil_corrupt_frames"]) == {("vigil_corrupt_frames_total", (("stream", "cam-1"),)): 3}
    assert values(families["vigil_io_errors"]) == {("vigil_io_errors_total", (("output", "events"),)): 4}
    assert values(families["vigil_source_up"]) == {("vigil_source_up", (("stream", "cam-1"),)): 1}
    assert values(families["vigil_resident_memory_bytes"])[("vigil_resident_memory_bytes", ())] > 2**20
    stage = values(families["vigil_stage_latency_seconds"])
    for name in STAGES:  # one frame count per stage, the same as vigil_frames_total
        key = (("stage", name), ("stream", "cam-1"))
        assert stage[("vigil_stage_latency_seconds_count", key)] == 5
        assert stage[("vigil_stage_latency_seconds_bucket", (("le", "+Inf"), *key))] == 5
    infer = (("stage", "infer"), ("stream", "cam-1"))
    assert stage[("vigil_stage_latency_seconds_sum", infer)] == pytest.approx(5 * 0.003)
    assert stage[("vigil_stage_latency_seconds_bucket", (("le", "0.0025"), *infer))] == 0
    assert stage[("vigil_stage_latency_seconds_bucket", (("le", "0.005"), *infer))] == 5
    glass = values(families["vigil_glass_to_render_seconds"])
    assert glass[("vigil_glass_to_render_seconds_count", (("stream", "cam-1"),))] == 5
    assert glass[("vigil_glass_to_render_seconds_bucket", (("le", "0.01"), ("stream", "cam-1")))] == 5


def test_source_status_series_do_not_churn_when_the_status_changes():
    snap = snapshot_of()
    registry = serve_registry(lambda: snap)
    seen = []
    for status in ("online", "reconnecting", "frozen", "online"):
        snap["sources"]["cam-1"]["status"] = status
        families = scrape(registry)
        state = values(families["vigil_source_status"])
        seen.append(set(state))
        assert {labels for _, labels in state} == {(("status", s), ("stream", "cam-1")) for s in SOURCE_STATUSES}
        assert {dict(labels)["status"]: v for (_, labels), v in state.items() if v} == {status: 1.0}
        assert values(families["vigil_source_up"]) == {
            ("vigil_source_up", (("stream", "cam-1"),)): 1.0 if status == "online" else 0.0}
    assert all(keys == seen[0] for keys in seen)  # the same series in every scrape
    assert {"online", "reconnecting", "frozen", "offline", "ended"} <= set(SOURCE_STATUSES)


def test_a_registry_serves_one_snapshot_and_metrics_do_not_clash():
    first, snap = served_metrics(3)
    second, _ = served_metrics(1)
    registry = serve_registry(lambda: snap, first.registry)
    serve_registry(lambda: snap, second.registry)  # another Metrics, another registry: no clash
    with pytest.raises(ValueError, match="Duplicated"):
        serve_registry(lambda: snap, first.registry)
    counts = values(scrape(registry)["vigil_glass_to_render_seconds"])
    assert counts[("vigil_glass_to_render_seconds_count", (("stream", "cam-1"),))] == 3


def test_prometheus_escapes_label_values():
    snap = snapshot_of()
    snap["sources"] = {'a"b\\c\nd': {"status": "online", "captured": 1, "reconnects": 0}}
    text = generate_latest(serve_registry(lambda: snap)).decode()
    assert 'stream="a\\"b\\\\c\\nd"' in text
    families = scrape(serve_registry(lambda: snap))
    assert {s.labels["stream"] for s in families["vigil_source_up"].samples} == {'a"b\\c\nd'}


def test_hub_builds_the_mosaic_only_when_asked_and_once_per_frame():
    hub = FrameHub()
    red, blue = np.zeros((120, 160, 3), np.uint8), np.zeros((120, 160, 3), np.uint8)
    red[..., 2], blue[..., 0] = 255, 255
    hub.publish(None, {"door": red, "hall": blue})  # the renderer's way with no window and no recording
    seq, view = hub.newer_than(0, 0)
    assert seq == 1 and view.shape == (480, 1280, 3)  # two tiles side by side, each scaled to 640 wide
    assert view[240, 320, 2] == 255 and view[240, 960, 0] == 255 and view[240, 960, 2] == 0  # in stream order
    assert hub.newer_than(0, 0)[1] is view  # built once for this frame, whoever asks
    assert hub.newer_than(0, 0, "hall")[1] is blue  # one stream's own view is never rebuilt
    hub.publish(None, {"door": blue, "hall": red})
    assert hub.newer_than(1, 0)[1][240, 320, 0] == 255  # the next frame gets a new mosaic
