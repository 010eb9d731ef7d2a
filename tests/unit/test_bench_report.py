"""The benchmark's Markdown report (edge_app/bench/report.py) from a benchmark JSON: pure, no measuring."""

from __future__ import annotations

from edge_app.bench import targets
from edge_app.bench.report import markdown


def stream_scenario(n: int, fps_each: float, dropped: int, **extra) -> dict:
    lat = {"p50": 10.0, "p95": 20.0}
    return {"streams": n, "fps": n * fps_each, "fps_per_stream": {f"cam{i}": fps_each for i in range(n)},
            "frames": int(n * fps_each * 30), "dropped": dropped, "source_fps": 18.0, "alerts_raised": n,
            "stage_ms": {k: lat for k in ("queue", "preprocess", "infer", "postprocess", "pose", "tracking",
                                          "analysis", "render")},
            "glass_to_render_ms": {"p50": 50.0, "p95": 100.0, "p99": 160.0},
            "glass_to_alert_ms": {"p50": 40.0, "p95": 90.0, "p99": 95.0}, "cpu_pct": 150.0, "rss_mb": 600.0,
            "inference_threads": 1, **extra}


def result() -> dict:
    lat = {"p50_ms": 3.0, "p95_ms": 4.0, "p99_ms": 5.0, "fps": 300.0}
    return {
        "machine": {"cpu": "test CPU", "cores": 2, "cpu_flags": ["avx2", "avx512f", "avx512_vnni"], "system": "linux",
                    "openvino": "2026.4", "openvino_devices": ["CPU"]},
        "commands": {"benchmark": "python -m edge_app benchmark", "make": "make benchmark", "mediapipe": "mp"},
        "setup": {"threads": 2, "latency_method": "sync", "latency_iterations": 10, "throughput_method": "async",
                  "throughput_seconds": 1.0},
        "seconds": 10.0, "ratios": {}, "models": {}, "peers": {}, "skipped": [], "plots": [],
        "pipeline": {"streams_8": stream_scenario(8, 14.3, 289),
                     "streams_4": stream_scenario(4, 18.1, 0, cpu_pct=99.7),
                     "streams_8_cctv": stream_scenario(8, 6.0, 2000, config="configs/cctv.yaml")},
        "preprocessing": {"pose_landmark_full": {"int8": {"host": lat, "in_model": {**lat, "p50_ms": 2.7},
                                                          "saved_ms": 0.3}}},
        "isa_caps": {"none": {"applies": True, "models": {"pose_landmark_full": {
                         "f32": lat, "int8": {**lat, "p50_ms": 2.0}, "int8_speedup": 1.5}}},
                     "AVX512_CORE_AMX": {"applies": False, "models": {}},
                     "AVX2": {"applies": True, "error": "could not find a pooling primitive"}},
    }


def test_report_shows_the_cctv_streams_beside_the_default_and_every_new_section():
    r = result()
    r["targets"] = targets(r)
    text = markdown(r)
    assert "| 8 (configs/cctv.yaml) | 48.0 |" in text and "| 8 | 114.4 |" in text
    assert "| pose_landmark_full | int8 | 3.000 | 2.700 | 0.300 |" in text
    assert "| none | 3.00 / 2.00 (1.50x) |" in text
    assert "AVX512_CORE_AMX (this CPU's own set or above: no effect)" in text
    assert "| AVX2 | does not run: could not find a pooling primitive |" in text
    assert "CPU % (200 = both cores)" in text and "of one core" not in text


def test_the_issue_19_targets_are_checked_against_their_bounds():
    r = result()
    met = {t["target"]: t["met"] for t in targets(r)}
    assert met["streams_8: slowest stream's fps"] is False  # 14.3 < 17.5
    assert met["streams_8: glass-to-alert p95 (ms)"] is True  # 90 <= 200
    assert met["streams_8: glass-to-render p99 (ms)"] is False  # 160 > 150
    assert met["streams_4: CPU % (200 % = both cores)"] is False  # 99.7 > 80
    assert not any("cctv" in name for name in met)  # the CCTV streams are reported, not held to the bounds
