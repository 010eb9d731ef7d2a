"""Soak: four live RTSP streams from the real server through the whole pipeline (every analyzer on). After the
warm-up, memory grows by less than 20 MB, queues stay bounded, the frame rate stays steady, and no thread or file
descriptor leaks. Three minutes in CI; the 30-minute run is `make test-slow`."""

from __future__ import annotations

import os
import threading
import time

import numpy as np
import pytest

from edge_app.timing import rss_mb
from support import need_shared

CLIPS = [("Activity1", "Trial2Cam1"), ("Activity7", "Trial2Cam2"), ("Activity8", "Trial2Cam1"),
         ("Activity4", "Trial2Cam2")]  # two falls among them (7.8 s clips): alerts raised again and again
LONG_CLIPS = [("Activity6", "Trial2Cam1"), ("Activity7", "Trial2Cam2"), ("Activity8", "Trial2Cam1"),
              ("Activity11", "Trial2Cam2")]  # 42-45 s of walking, standing, sitting, lying: for the long soak
WARM_UP_S = 75.0  # the tracks' history rings fill in 60 s at 15 fps


def fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def soak(rtsp_server, minutes: float) -> tuple[list[dict], object]:
    from edge_app.app import build_pose_stack, build_runner
    from edge_app.bench.scenarios import bench_config
    from edge_app.config import load_config
    from edge_app.sources.capture import SourceSpec

    clips = CLIPS if minutes <= 4 else LONG_CLIPS  # the server loops each clip for as long as the run lasts
    mounts = {f"cam{i + 1}": need_shared("falls", "upfall_s1", a, f"{t}.mp4") for i, (a, t) in enumerate(clips)}
    server = rtsp_server(mounts, fps=15).warm()
    cfg = bench_config(load_config())
    pipe = build_runner(cfg, build_pose_stack(cfg, len(mounts)), [SourceSpec(n, server.url(n)) for n in mounts],
                        duration=minutes * 60, log_every=3600.0)
    runner = threading.Thread(target=pipe.run, name="vigil", daemon=True)
    started = time.monotonic()
    runner.start()
    samples = []
    while runner.is_alive():
        time.sleep(5.0)
        samples.append({
            "t": time.monotonic() - started, "rss": rss_mb(), "threads": threading.active_count(), "fds": fds(),
            "frames": {n: m.frames for n, m in pipe.metrics.streams.items()},
            "capture_queue": max(len(c._pending) for c in pipe.captures), "render_queue": pipe.renderer.inbox.qsize(),
        })
    runner.join()
    return samples, pipe


@pytest.mark.parametrize("minutes", [pytest.param(3, id="3min"),
                                     pytest.param(30, id="30min", marks=pytest.mark.slow)])
def test_soak_four_streams(minutes, rtsp_server, manifest):
    samples, pipe = soak(rtsp_server, minutes)
    running = [s for s in samples if s["t"] <= minutes * 60 - 3]  # not the samples taken during the shutdown
    warm, end = next(s for s in running if s["t"] >= WARM_UP_S), running[-1]
    print(f"soak {minutes} min: rss {warm['rss']} -> {end['rss']} MB, threads {warm['threads']} -> {end['threads']}, "
          f"fds {warm['fds']} -> {end['fds']}, max queues {max(s['capture_queue'] for s in samples)}/"
          f"{max(s['render_queue'] for s in samples)}")
    assert end["rss"] - warm["rss"] < 20, [(round(s["t"]), s["rss"]) for s in samples]
    # and the trend after the warm-up: a least-squares slope, so a steady leak cannot hide inside the 20 MB over a
    # short run (700 MB an hour would be 20 MB in the CI soak's 100 s); the measured runs grew 2-3 MB in 100 s
    after = [s for s in running if s["t"] >= WARM_UP_S]
    slope_mb_per_h = float(np.polyfit([s["t"] for s in after], [s["rss"] for s in after], 1)[0]) * 3600
    print(f"rss slope after warm-up: {slope_mb_per_h:.0f} MB/h")
    assert slope_mb_per_h < 200, [(round(s["t"]), s["rss"]) for s in after]
    assert end["threads"] <= warm["threads"], (warm["threads"], end["threads"])
    assert end["fds"] <= warm["fds"] + 2, (warm["fds"], end["fds"])
    assert max(s["capture_queue"] for s in samples) <= 2 and max(s["render_queue"] for s in samples) <= 2
    # steady: every stream analysed in every minute after the warm-up, never stalled, no invented frame (how close to
    # the server's 15 fps a loaded box keeps them is the benchmark's claim: `make benchmark`, target streams_4)
    by_minute = [s for s in running if s["t"] >= WARM_UP_S]
    for a, b in zip(by_minute, by_minute[12:]):  # 12 samples of 5 s = one minute
        for name in b["frames"]:
            rate = (b["frames"][name] - a["frames"][name]) / (b["t"] - a["t"])
            assert 10.0 <= rate <= 16.0, (name, round(a["t"]), round(rate, 2))
    dropped = pipe.dropped()
    frames = {n: m.frames for n, m in pipe.metrics.streams.items()}
    for name in frames:
        assert dropped[name] <= 0.1 * frames[name], (name, dropped[name], frames[name])
    for name, source in pipe.sources_summary().items():
        assert source["reconnects"] == 0, (name, source)
    for name, stream in pipe.metrics.summary(dropped).get("streams").items():
        assert stream["glass_to_render_ms"]["p99"] <= 1000, (name, stream["glass_to_render_ms"])  # within a second
