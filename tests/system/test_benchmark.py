"""`python -m edge_app benchmark --quick`: under two minutes, the documented JSON schema with measured numbers, the
peers side by side, the pipeline scenarios, plots that are real PNGs; and its failure paths."""

from __future__ import annotations

import json
import os
import time

import cv2
import pytest

from support import SHARED, assert_clean_error, run_cli

POSE = ("pose_detector", "pose_landmark_lite", "pose_landmark_full", "pose_landmark_heavy")


@pytest.fixture(scope="module")
def quick(tmp_path_factory, manifest):
    out = tmp_path_factory.mktemp("bench")
    started = time.monotonic()
    proc = run_cli("edge_app", "benchmark", "--quick", "--out", str(out), timeout=400)
    seconds = time.monotonic() - started
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out, json.loads((out / "benchmark.json").read_text()), seconds, proc


def positive(stats: dict, *keys: str) -> None:
    for k in keys:
        assert isinstance(stats[k], (int, float)) and stats[k] > 0, (k, stats)


def test_quick_run_is_under_two_minutes(quick):
    out, data, seconds, proc = quick
    # the MediaPipe venv is created on first use (a pip install): that is setup, not the benchmark
    assert data["seconds"] < 120, data["seconds"]
    assert "benchmark:" in proc.stderr  # the progress bar


def test_models_by_precision_and_hint(quick, manifest):
    _, data, _, _ = quick
    assert data["machine"]["openvino"] and data["machine"]["cores"] and "CPU" in data["machine"]["openvino_devices"]
    assert set(data["models"]) == set(manifest["models"])
    for name, runs in data["models"].items():
        assert "f32" in runs and "int8" in runs, name
        for run, hints in runs.items():
            for hint in ("LATENCY", "THROUGHPUT"):
                positive(hints[hint], "p50_ms", "p95_ms", "p99_ms", "fps")
                assert hints[hint]["p50_ms"] <= hints[hint]["p95_ms"] <= hints[hint]["p99_ms"]
            assert hints["LATENCY"]["precision_ran"].startswith("int8" if run == "int8" else run)
            assert hints["THROUGHPUT"]["requests_in_flight"] >= 1


def test_peers_ran_on_the_same_models(quick):
    _, data, _, _ = quick
    litert = data["peers"]["litert_xnnpack"]
    assert set(litert) == set(POSE)
    for stats in litert.values():
        positive(stats, "p50_ms", "p95_ms", "fps")
        assert "XNNPACK" in stats["engine"]
    assert set(data["peers"]["onnxruntime"]) == {"fall_detector", "fatigue_detector"}
    for name in POSE:
        ratio = data["ratios"][f"{name}: Vigil INT8 vs LiteRT XNNPACK (p50 latency)"]
        assert ratio["speedup"] == pytest.approx(ratio["peer"]["p50_ms"] / ratio["vigil"]["p50_ms"], rel=0.01)


def test_pipeline_scenarios(quick):
    _, data, _, _ = quick
    if not (SHARED / "falls" / "upfall_s1").is_dir():
        pytest.skip("the stream scenarios need ../shared/data/falls")
    for n in (1, 4):
        s = data["pipeline"][f"streams_{n}"]
        assert s["streams"] == n and len(s["fps_per_stream"]) == n
        assert s["inference_threads"] == max(1, len(os.sched_getaffinity(0)) // n)  # the default config's rule
        fps = s["fps_per_stream"].values()
        assert max(fps) <= 1.05 * s["source_fps"]  # a live camera's frames are counted once, never invented
        assert min(fps) >= 0.85 * max(fps)  # every camera gets its share of the box
        # One camera takes a third of a core here: it keeps up even on a busy machine. Whether four keep up
        # depends on what else the shared box runs (CI once gave them 14 of 18 fps); when they do not, Vigil
        # must shed frames and count them, never queue them: the picture stays fresh.
        keeps_up = min(fps) >= 0.8 * s["source_fps"]
        assert keeps_up or (n > 1 and s["dropped"] > 0), s
        assert s["glass_to_render_ms"]["p99"] < 1000, s  # operators see a frame within a second of its capture
        positive(s, "fps", "cpu_pct", "rss_mb")
        positive(s["glass_to_render_ms"], "p50", "p95", "p99")
        assert set(s["stage_ms"]) >= {"queue", "preprocess", "infer", "postprocess", "pose", "tracking", "analysis",
                                      "render"}
        assert s["alerts_raised"] >= 1 and s["glass_to_alert_ms"]["p50"] > 0  # the fall clips raise alerts
    for key, scenario in data["pipeline"].items():  # the documented layout, whatever the scenario
        if key == "reconnect":
            continue
        positive(scenario, "fps", "cpu_pct", "rss_mb")
        assert {"p50", "p95", "p99"} <= set(scenario["glass_to_render_ms"]) and "pose" in scenario["stage_ms"]
    people = data["pipeline"]["people"]["by_people"]
    assert len(people) >= 3  # the CCTV clip has frames with 1 to 5 people
    cctv = data["pipeline"]["cctv_realtime"]  # vtest.avi at its own 10 fps with configs/cctv.yaml
    assert cctv["finder"] == "person_finder" and cctv["source_fps"] == 10.0
    assert cctv["fps"] <= cctv["source_fps"] * 1.05  # no invented frames; keeping up is reported, not asserted here
    versus = data["ratios"]["pipeline: Vigil vs MediaPipe (frames per second, same clip)"]
    assert versus["vigil"]["fps"] > 0 and versus["peer"]["fps"] > 0
    reconnect = data["pipeline"]["reconnect"]  # the camera's server killed and restarted: the stream came back
    assert reconnect["resumed"] == len(reconnect["outages_s"]) >= 1 and reconnect["max_s"] > 0, reconnect


def test_speed_and_latency_claims_are_checked_in_the_benchmark(quick):
    """The claims the suite no longer times (INT8 speed-up, reconnect, streams keeping up, real time, MediaPipe):
    each with its measured value, its bound and whether it was met, in the JSON and the report."""
    out, data, _, _ = quick
    targets = {t["target"]: t for t in data["targets"]}
    assert {"pose_detector: INT8 p50 speed-up over f32", "streams_4: slowest stream's fps / the camera's",
            "single-person loop: Vigil fps / MediaPipe fps"} <= set(targets), sorted(targets)
    for t in targets.values():
        assert isinstance(t["met"], bool) and t["bound"][:2] in (">=", "<=")
        if t["measured"] is not None:
            assert t["met"] == (t["measured"] >= float(t["bound"][3:]) if t["bound"].startswith(">=")
                                else t["measured"] <= float(t["bound"][3:]))
    assert "## Targets" in (out / "benchmark.md").read_text()


def test_preprocessing_and_isa_caps_are_measured(quick, manifest):
    """Issue 19: the input conversion on the host against inside the model, per image model and run; INT8 against f32
    under an ONEDNN_MAX_CPU_ISA cap (--quick: AVX2 only), each cap in its own process, uncapped beside it."""
    out, data, _, _ = quick
    image_models = {n for n, m in manifest["models"].items() if m["kind"] != "sequence"}
    assert set(data["preprocessing"]) == image_models
    for runs in data["preprocessing"].values():
        for sides in runs.values():
            assert sides["host"]["p50_ms"] > 0 and sides["in_model"]["p50_ms"] > 0
            assert sides["saved_ms"] == pytest.approx(sides["host"]["p50_ms"] - sides["in_model"]["p50_ms"], abs=1e-3)
    caps = data["isa_caps"]
    assert set(caps) == {"none", "AVX2"} and caps["none"]["applies"]
    for cap in caps.values():  # each ran its models, or says why it could not
        assert "error" in cap or {"pose_landmark_full", "person_finder"} <= set(cap["models"]), cap
    text = (out / "benchmark.md").read_text()
    assert "ONEDNN_MAX_CPU_ISA" in text and "PrePostProcessor" in text


def test_report_and_plots(quick):
    out, data, _, _ = quick
    text = (out / "benchmark.md").read_text()
    for needle in ("## Headline ratios", "| pose_landmark_full | int8 |", "LiteRT", "glass-to-render",
                   data["commands"]["benchmark"]):
        assert needle in text
    assert data["plots"]
    for name in data["plots"]:
        image = cv2.imread(str(out / name))
        assert image is not None and image.shape[0] > 200 and image.std() > 10, name


def test_bad_models_dir_and_out(tmp_path):
    assert_clean_error(run_cli("edge_app", "benchmark", "--quick", "--models-dir", str(tmp_path / "none")),
                       "manifest.json", "not found")
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert_clean_error(run_cli("edge_app", "benchmark", "--quick", "--out", str(blocker / "sub")), "--out",
                       "cannot write")
