"""The metrics collector: per-frame stage timings kept in a fixed ring, and the statistics derived from them."""

from __future__ import annotations

import numpy as np
import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from edge_app.timing import (
    LATENCY_BUCKETS,
    STAGES,
    FrameTiming,
    Metrics,
    TimingRing,
    columns,
    stage_ms,
    stage_seconds,
)


def timing(i: int) -> FrameTiming:
    t = 100.0 + i / 15
    return FrameTiming(captured=t, taken=t + 0.002, pose_done=t + 0.010, pose_parts=(0.001, 0.006, 0.001),
                       tracked=t + 0.011, analysed=t + 0.012 + i * 1e-6, rendered=t + 0.020 + i * 1e-6)


def test_ring_keeps_the_newest_frames_in_order_and_its_memory_is_fixed():
    ring = TimingRing(capacity=10)
    before = ring._data.nbytes
    for i in range(25):
        ring.append(timing(i))
    assert len(ring) == 10 and ring._data.nbytes == before
    rows = ring.newest()
    assert rows[:, 0].tolist() == pytest.approx([timing(i).captured for i in range(15, 25)])
    assert ring.newest(3)[:, 0].tolist() == pytest.approx([timing(i).captured for i in range(22, 25)])
    assert ring.newest(50).shape == (10, 9)


def test_ring_stage_times_agree_with_the_frame_record():
    ring = TimingRing(capacity=4)
    for i in range(3):
        ring.append(timing(i))
    per_stage = stage_ms(columns(ring.newest()))
    for i in range(3):
        one = timing(i).stage_ms()
        assert set(one) == set(STAGES)
        for stage in STAGES:
            assert per_stage[stage][i] == pytest.approx(one[stage])
    assert one["render"] == pytest.approx(8.0) and one["infer"] == pytest.approx(6.0)


def test_summary_and_fps_from_the_ring():
    metrics = Metrics()
    assert metrics.recent_fps("cam") == 0.0
    for i in range(40):
        metrics.add("cam", timing(i))
    assert metrics.recent_fps("cam") == pytest.approx(15.0, rel=1e-3)
    stream = metrics.summary()["streams"]["cam"]
    assert stream["frames"] == 40 and stream["fps"] == pytest.approx(15.0, rel=1e-3)
    assert stream["stage_ms"]["pose"]["p50"] == pytest.approx(8.0, abs=0.01)
    assert stream["glass_to_render_ms"]["p50"] == pytest.approx(20.0, abs=0.05)
    recent = metrics.summary(recent=5)["streams"]["cam"]
    assert recent["frames"] == 40  # counts are the whole run's


def test_recent_percentiles_cover_only_the_last_frames():
    """The window must be the newest frames: 35 fast frames, then 5 slow ones."""
    metrics = Metrics()
    for i in range(40):
        t = timing(i)
        if i >= 35:  # the render stage takes 100 ms more
            t.rendered += 0.1
        metrics.add("cam", t)
    whole = metrics.summary()["streams"]["cam"]["glass_to_render_ms"]
    recent = metrics.summary(recent=5)["streams"]["cam"]["glass_to_render_ms"]
    assert whole["p50"] == pytest.approx(20.0, abs=0.05)
    assert recent["p50"] == pytest.approx(120.0, abs=0.05)


def test_empty_metrics_summarise_to_zeros():
    out = Metrics().summary()
    assert out["frames"] == 0 and out["streams"] == {} and out["glass_to_alert_ms"]["p50"] == 0.0
    assert np.isfinite(out["seconds"])


def sample(metrics: Metrics, name: str, **labels) -> float | None:
    return metrics.registry.get_sample_value(name, labels)


def test_every_frame_is_observed_in_the_stage_histograms_in_seconds():
    """timing(i): queue 2 ms, preprocess 1, infer 6, postprocess 1, pose 8, tracking 1, analysis 1, render 8 ms."""
    metrics = Metrics()
    for i in range(40):
        metrics.add("cam", timing(i))
    expected = {"queue": 0.002, "preprocess": 0.001, "infer": 0.006, "postprocess": 0.001, "pose": 0.008,
                "tracking": 0.001, "analysis": 0.001, "render": 0.008}
    assert set(expected) == set(STAGES)
    name = "vigil_stage_latency_seconds"
    for stage, seconds in expected.items():
        labels = {"stream": "cam", "stage": stage}
        assert sample(metrics, f"{name}_count", **labels) == 40, stage
        exact = sum(timing(i).stage_ms()[stage] for i in range(40)) / 1000  # what the frame records say
        assert sample(metrics, f"{name}_sum", **labels) == pytest.approx(exact, rel=1e-9), stage
        assert exact == pytest.approx(40 * seconds, rel=0.05)
        assert sample(metrics, f"{name}_bucket", **labels, le="+Inf") == 40, stage
        for bound in LATENCY_BUCKETS:  # cumulative: every frame in each bucket at or above its duration
            want = 40 if bound >= seconds * 1.01 else 0 if bound <= seconds * 0.99 else None
            if want is not None:
                assert sample(metrics, f"{name}_bucket", **labels, le=str(bound)) == want, (stage, bound)
    assert sample(metrics, "vigil_glass_to_render_seconds_count", stream="cam") == 40
    glass = sum(timing(i).glass_to_render_ms for i in range(40)) / 1000
    assert sample(metrics, "vigil_glass_to_render_seconds_sum", stream="cam") == pytest.approx(glass, rel=1e-9)


def test_histograms_agree_with_the_summary_and_cover_the_whole_run():
    """35 fast frames then 5 slow ones (render +100 ms): the histogram counts every frame, the buckets split them
    where the summary's percentiles say they are."""
    metrics = Metrics()
    for i in range(40):
        t = timing(i)
        if i >= 35:
            t.rendered += 0.1
        metrics.add("cam", t)
    summary = metrics.summary(recent=5)["streams"]["cam"]
    assert summary["frames"] == sample(metrics, "vigil_glass_to_render_seconds_count", stream="cam") == 40
    assert summary["glass_to_render_ms"]["p50"] == pytest.approx(120.0, abs=0.05)
    bucket = "vigil_glass_to_render_seconds_bucket"
    assert sample(metrics, bucket, stream="cam", le="0.04") == 35  # the fast ones, 20 ms
    assert sample(metrics, bucket, stream="cam", le="0.08") == 35
    assert sample(metrics, bucket, stream="cam", le="0.15") == 40  # and the slow ones, 120 ms
    render = {"stream": "cam", "stage": "render"}
    assert sample(metrics, "vigil_stage_latency_seconds_bucket", **render, le="0.01") == 35
    assert sample(metrics, "vigil_stage_latency_seconds_sum", **render) == pytest.approx(40 * 0.008 + 5 * 0.1,
                                                                                        rel=1e-3)


def test_stage_seconds_is_the_one_definition_and_in_stage_order():
    named = timing(3).named()
    assert tuple(stage_seconds(named)) == STAGES
    assert stage_ms(named) == {s: v * 1000 for s, v in stage_seconds(named).items()}


def test_a_stamp_never_set_is_observed_as_zero_and_the_sums_only_grow():
    metrics = Metrics()
    metrics.add("cam", FrameTiming(captured=50.0, taken=50.0, rendered=50.01))  # pose_done etc. still 0
    pose = {"stream": "cam", "stage": "pose"}
    assert sample(metrics, "vigil_stage_latency_seconds_count", **pose) == 1
    assert sample(metrics, "vigil_stage_latency_seconds_sum", **pose) == 0.0
    assert sample(metrics, "vigil_stage_latency_seconds_bucket", **pose, le="0.001") == 1
    assert sample(metrics, "vigil_glass_to_render_seconds_sum", stream="cam") == pytest.approx(0.01)


def test_glass_to_alert_is_a_histogram_in_seconds():
    metrics = Metrics()
    for ms in (250.0, 40.0, -3.0):  # a wall clock stepped back: observed as 0
        metrics.alert(ms)
    assert sample(metrics, "vigil_glass_to_alert_seconds_count") == 3
    assert sample(metrics, "vigil_glass_to_alert_seconds_sum") == pytest.approx(0.29)
    assert sample(metrics, "vigil_glass_to_alert_seconds_bucket", le="0.001") == 1
    assert sample(metrics, "vigil_glass_to_alert_seconds_bucket", le="0.15") == 2
    assert sample(metrics, "vigil_glass_to_alert_seconds_bucket", le="0.3") == 3
    assert metrics.summary()["alerts_raised"] == 3  # the snapshot's count is unchanged


def test_two_metrics_have_registries_of_their_own():
    first, second = Metrics(), Metrics()  # on one shared registry the second would raise "Duplicated timeseries"
    assert first.registry is not second.registry
    for i in range(3):
        first.add("cam", timing(i))
    second.add("cam", timing(0))
    assert sample(first, "vigil_glass_to_render_seconds_count", stream="cam") == 3
    assert sample(second, "vigil_glass_to_render_seconds_count", stream="cam") == 1


def test_the_histogram_text_parses_and_is_consistent():
    metrics = Metrics()
    for i in range(7):
        metrics.add("door", timing(i))
    families = {f.name: f for f in text_string_to_metric_families(generate_latest(metrics.registry).decode())}
    assert families["vigil_stage_latency_seconds"].type == "histogram"
    samples = [s for s in families["vigil_stage_latency_seconds"].samples if s.labels.get("stage") == "infer"]
    buckets = [s for s in samples if s.name.endswith("_bucket")]
    assert [b.labels["le"] for b in buckets] == [*(str(b) for b in LATENCY_BUCKETS), "+Inf"]
    counts = [b.value for b in buckets]
    assert counts == sorted(counts) and counts[-1] == 7  # cumulative, ending at the count
    assert {s.name: s.value for s in samples if not s.name.endswith(("_bucket", "_created"))} == {
        "vigil_stage_latency_seconds_count": 7, "vigil_stage_latency_seconds_sum": pytest.approx(7 * 0.006)}
