"""The metrics collector: per-frame stage timings kept in a fixed ring, and the statistics derived from them."""

from __future__ import annotations

import numpy as np
import pytest

from edge_app.timing import STAGES, FrameTiming, Metrics, TimingRing, columns, stage_ms


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
