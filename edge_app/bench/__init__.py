"""`python -m edge_app benchmark [--quick]`: the latency report an integrator can trust.

Writes reports/benchmark.json, reports/benchmark.md and PNG plots (reports/benchmark_*.png):
- every built model x the precision it actually ran in x the LATENCY and THROUGHPUT hints, on every device present;
- the peers on the same models in the same loop: LiteRT with XNNPACK (TFLite sources), ONNX Runtime (ONNX
  exports), and MediaPipe's own pose pipeline on the same clip as Vigil's, run alternately;
- the pipeline end to end: 1, 2, 4 and 8 camera streams, and the pose stage against the number of people in view;
- the machine, and the exact commands.
Every comparison is measured side by side in one run. ``--quick`` (< 2 minutes) is what the test suite runs.
"""

from __future__ import annotations

import gc
import json
import logging
import statistics
import tempfile
import time
from pathlib import Path

from edge_app.bench import isa, scenarios
from edge_app.bench import models as model_bench
from edge_app.bench.peers import ensure_mediapipe, peers_for, run_mediapipe
from edge_app.bench.progress import Progress
from edge_app.bench.report import markdown, plots
from edge_app.errors import VigilError
from edge_app.inference.model_store import ModelStore
from edge_app.inference.runtime import Runtime
from edge_app.system import machine

log = logging.getLogger(__name__)
REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared" / "data"
FETCH_CACHE = REPO / ".cache" / "vigil" / "models"
POSE_MODELS = ("pose_detector", "pose_landmark_lite", "pose_landmark_full", "pose_landmark_heavy")
SAME_CLIP = SHARED / "falls" / "upfall_s1" / "Activity7" / "Trial1Cam1.mp4"  # one person standing, 640x480


def stream_clips() -> list[Path]:
    """Camera clips for the stream scenarios: UP-Fall's held-back falls, both cameras (640x480)."""
    root = SHARED / "falls" / "upfall_s1"
    return [root / f"Activity{a}" / f"Trial2Cam{c}.mp4" for a in range(1, 6) for c in (1, 2)
            if (root / f"Activity{a}" / f"Trial2Cam{c}.mp4").is_file()]


def run(models_dir: Path, out_dir: Path, quick: bool, threads: int = 2, config: Path | None = None) -> dict:
    from edge_app.app import build_pose_stack
    from edge_app.config import load_config

    started = time.monotonic()
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / ".write-test").touch()
        (out_dir / ".write-test").unlink()
    except OSError as exc:
        raise VigilError(f"--out {out_dir}: cannot write ({exc.strerror})") from None
    store = ModelStore(models_dir)
    plan = model_bench.QUICK if quick else model_bench.FULL
    devices = Runtime("CPU").available_devices
    names = [n for n in (*POSE_MODELS, "person_finder", "fall_detector", "fatigue_detector") if n in store.models]
    stream_counts = (1, 4) if quick else (1, 2, 4, 8)
    rounds = 1 if quick else 3
    progress = Progress(2 * len(names) + len(stream_counts) + 2 * rounds + 5, "benchmark")
    command = "python -m edge_app benchmark" + (" --quick" if quick else "")
    result: dict = {
        "machine": {**machine(), "openvino_devices": devices},
        "commands": {"benchmark": command, "make": "make benchmark",
                     "mediapipe": ".cache/vigil/mediapipe-venv/bin/python scripts/mediapipe_baseline.py CLIP "
                                  "--json OUT"},
        "setup": {"quick": quick, "threads": threads, "latency_iterations": plan.iterations,
                  "throughput_seconds": plan.throughput_s,
                  "latency_method": "synchronous inference, every engine of a model round-robin in one loop",
                  "throughput_method": "THROUGHPUT hint, the optimal number of requests kept in flight, "
                                       "engines take turns in bursts"},
        "models": {}, "peers": {}, "pipeline": {}, "skipped": [], "ratios": {},
    }

    # --- models and their peers --------------------------------------------------------------------------------
    for name in names:
        progress.note(f"{name}: LATENCY hint, with peers")
        source = model_bench.model_source(store, name, FETCH_CACHE)
        peers, why = peers_for(*source, threads) if source else ([], [f"{name}: no source file for the peers"])
        result["skipped"] += why
        ours, theirs = model_bench.latency(store, name, devices, threads, plan, peers)
        progress.step(f"{name}: LATENCY done")
        result["models"][name] = {run: {"LATENCY": stats} for run, stats in ours.items()}
        for peer, stats in theirs.items():
            result["peers"].setdefault(peer, {})[name] = stats
        progress.note(f"{name}: THROUGHPUT hint")
        for run, stats in model_bench.throughput(store, name, devices, threads, plan).items():
            result["models"][name].setdefault(run, {})["THROUGHPUT"] = stats
        progress.step(f"{name}: THROUGHPUT done")

    # --- input conversion on the host against inside the model (PrePostProcessor) ------------------------------
    from edge_app.app import FINDER_CLASSES
    from edge_app.pose.landmarks import LandmarkModel

    progress.note("preprocessing: on the host against inside the model")
    result["preprocessing"] = {}
    for name in names:
        kind = store.kind(name)
        cls = LandmarkModel if kind == "blazepose_landmarks" else FINDER_CLASSES.get(kind)
        if cls is not None:
            # --quick: the INT8 runs only (two compilations a model, not four: most of this step's time)
            result["preprocessing"][name] = model_bench.preprocessing(store, name, cls.prepare, cls.INPUT, threads,
                                                                      plan, ("int8",) if quick else ("f32", "int8"))
    progress.step()

    # --- the pipeline ------------------------------------------------------------------------------------------
    # The model benchmarks' engines (closures hold their compiled models in reference cycles) must be gone before the
    # pipeline is timed: left for the garbage collector, they cost the 8-stream scenario a fifth of its frames
    # (measured: 102 fps in all with them, 131 without, the same 25 s run).
    gc.collect()
    cfg = load_config(config)
    stack = build_pose_stack(cfg)
    stacks = {cfg.inference.threads_for(1): stack}  # one compiled stack per threads setting (2, 4 and 8 share one)
    clips = stream_clips()
    for n in stream_counts:
        if not clips:
            result["skipped"].append(f"streams_{n}: needs the fall clips of {SHARED / 'falls' / 'upfall_s1'}")
            progress.step()
            continue
        progress.note(f"pipeline: {n} stream(s) for {6 if quick else 30} s")
        gc.collect()  # the scenario before it: its runner and threads gone
        threads = cfg.inference.threads_for(n)
        if threads not in stacks:
            stacks[threads] = build_pose_stack(cfg, n)
        result["pipeline"][f"streams_{n}"] = scenarios.streams_scenario(cfg, stacks[threads], clips, n,
                                                                            6.0 if quick else 30.0)
        progress.step(f"pipeline: {n} stream(s) done")
    if clips and not quick:  # the same eight cameras with the CCTV config (MoveNet finder, tiles), beside it
        progress.note("pipeline: 8 streams with the CCTV config for 30 s")
        gc.collect()
        cctv = load_config(REPO / "configs" / "cctv.yaml")
        scenario = scenarios.streams_scenario(cctv, build_pose_stack(cctv, 8), clips, 8, 30.0)
        result["pipeline"]["streams_8_cctv"] = {**scenario, "config": "configs/cctv.yaml"}
    people_clip = _people_clip(result["skipped"])
    progress.note("pipeline: people in view")
    if people_clip is not None:
        cctv = load_config(REPO / "configs" / "cctv.yaml")
        cctv_stack = build_pose_stack(cctv)
        result["pipeline"]["people"] = scenarios.people_scenario(cctv, cctv_stack, people_clip,
                                                                      50 if quick else 800)
        progress.note("pipeline: the CCTV config on vtest.avi in real time")
        result["pipeline"]["cctv_realtime"] = scenarios.realtime_scenario(cctv, cctv_stack, people_clip,
                                                                               6.0 if quick else 60.0)
    progress.step("pipeline: people in view done")
    if clips:
        progress.note("pipeline: a camera's RTSP server killed and restarted")
        reconnect = scenarios.reconnect_scenario(cfg, stack, clips[0], (2.0,) if quick else (1.0, 2.0, 5.0, 10.0,
                                                                                                  3.0))
        if reconnect is None:
            result["skipped"].append("reconnect: needs GStreamer's RTSP server for the system python3")
        else:
            result["pipeline"]["reconnect"] = reconnect
    progress.step("pipeline: reconnect done")
    squat_clip = SHARED / "exercise" / ("squat_side_barbell.mp4" if quick else "squat_front_bodyweight.mp4")
    if squat_clip.is_file():
        progress.note("exercise analyzer: cost per person per frame")
        result["analyzers"] = {"exercise": scenarios.exercise_cost(cfg, stack, squat_clip, 5 if quick else 30)}
    else:
        result["skipped"].append(f"exercise analyzer: needs {squat_clip}")

    # --- INT8 against f32 as on other Intel CPUs (oneDNN's ISA capped, a child process per cap) -------------------
    progress.note("INT8 and f32 under ONEDNN_MAX_CPU_ISA caps")
    result["isa_caps"] = isa.run_caps(models_dir, result["machine"]["cpu_flags"], 20 if quick else 100,
                                      caps=("AVX2",) if quick else isa.CAPS,
                                      models=("pose_landmark_full", "person_finder") if quick else isa.MODELS)
    progress.step()

    # --- Vigil's loop against MediaPipe's pipeline, alternately ---------------------------------------------------
    progress.note("MediaPipe venv")
    python = ensure_mediapipe(progress.note)
    progress.step()
    if not SAME_CLIP.is_file():
        result["skipped"].append(f"vigil_vs_mediapipe: needs {SAME_CLIP}")
    elif python is None:
        result["skipped"].append("vigil_vs_mediapipe: the MediaPipe venv could not be created")
    else:
        result["pipeline"]["vigil_vs_mediapipe"] = _versus_mediapipe(cfg, stack, python, quick, rounds, progress)
    progress.close()
    result["ratios"] = ratios(result)
    result["targets"] = targets(result)
    result["seconds"] = round(time.monotonic() - started, 1)
    (out_dir / "benchmark.json").write_text(json.dumps(result, indent=2) + "\n")
    result["plots"] = plots(result, out_dir)
    (out_dir / "benchmark.json").write_text(json.dumps(result, indent=2) + "\n")
    (out_dir / "benchmark.md").write_text(markdown(result))
    return result


def _people_clip(skipped: list[str]) -> Path | None:
    from edge_app.demo_source import vtest_clip

    try:
        return vtest_clip()
    except VigilError as exc:
        skipped.append(f"people: {exc}")
        return None


def _versus_mediapipe(cfg, stack, python: Path, quick: bool, rounds: int, progress: Progress) -> dict:
    max_frames = 120 if quick else None
    vigil, mediapipe = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(rounds):
            progress.note(f"Vigil's loop on {SAME_CLIP.name}, round {r + 1}/{rounds}")
            vigil.append(scenarios.vigil_fast(cfg, stack, SAME_CLIP, max_frames))
            progress.step()
            progress.note(f"MediaPipe's pipeline on {SAME_CLIP.name}, round {r + 1}/{rounds}")
            mediapipe.append(run_mediapipe(python, SAME_CLIP, max_frames, Path(tmp) / f"mp{r}.json"))
            progress.step()
    last = vigil[-1]
    return {
        **{k: last[k] for k in ("stage_ms", "glass_to_render_ms", "cpu_pct", "rss_mb", "dropped")},
        "clip": str(SAME_CLIP.relative_to(SHARED.parent)),
        "frames": vigil[0]["frames"],
        "vigil": {"fps": [v["fps"] for v in vigil], "loop_ms_per_frame": [v["loop_ms_per_frame"] for v in vigil],
                  "stage_ms": vigil[-1]["stage_ms"], "what": "whole loop: decode, pose, tracking, posture, fall and "
                  "fatigue analysis, render (no display)"},
        "mediapipe": {"fps": [m["fps"] for m in mediapipe], "loop_ms_per_frame": [m["loop_ms_per_frame"]
                                                                                  for m in mediapipe],
                      "version": mediapipe[0]["version"], "what": f"decode + mp.solutions.pose "
                      f"({mediapipe[0]['settings']})"},
        "fps": statistics.median(v["fps"] for v in vigil),
        "per_round_ratio": [round(v["fps"] / m["fps"], 2) for v, m in zip(vigil, mediapipe) if m["fps"]],
    }


def ratios(result: dict) -> dict:
    """The headline comparisons, each with both measured sides (same run)."""
    out = {}
    litert = result["peers"].get("litert_xnnpack", {})
    for name in POSE_MODELS:
        ours = result["models"].get(name, {})
        if "int8" in ours and name in litert:
            a, b = ours["int8"]["LATENCY"], litert[name]
            out[f"{name}: Vigil INT8 vs LiteRT XNNPACK (p50 latency)"] = {
                "vigil": {"run": "int8", "p50_ms": a["p50_ms"]}, "peer": {"engine": "litert_xnnpack",
                                                                          "p50_ms": b["p50_ms"]},
                "speedup": round(b["p50_ms"] / a["p50_ms"], 2)}
        if "int8" in ours and "f32" in ours:
            a, b = ours["int8"]["LATENCY"], ours["f32"]["LATENCY"]
            out[f"{name}: Vigil INT8 vs Vigil f32 (p50 latency)"] = {
                "vigil": {"run": "int8", "p50_ms": a["p50_ms"]}, "peer": {"engine": "openvino f32",
                                                                          "p50_ms": b["p50_ms"]},
                "speedup": round(b["p50_ms"] / a["p50_ms"], 2)}
    ort = result["peers"].get("onnxruntime", {})
    for name, stats in ort.items():
        runs = result["models"].get(name, {})
        if runs:
            best = min(runs, key=lambda r: runs[r]["LATENCY"]["p50_ms"])
            a = runs[best]["LATENCY"]
            out[f"{name}: Vigil ({best}) vs ONNX Runtime (p50 latency)"] = {
                "vigil": {"run": best, "p50_ms": a["p50_ms"]}, "peer": {"engine": "onnxruntime",
                                                                        "p50_ms": stats["p50_ms"]},
                "speedup": round(stats["p50_ms"] / a["p50_ms"], 2)}
    versus = result["pipeline"].get("vigil_vs_mediapipe")
    if versus:
        v, m = statistics.median(versus["vigil"]["fps"]), statistics.median(versus["mediapipe"]["fps"])
        out["pipeline: Vigil vs MediaPipe (frames per second, same clip)"] = {
            "vigil": {"fps": v, "rounds": versus["vigil"]["fps"]},
            "peer": {"engine": f"mediapipe {versus['mediapipe']['version']}", "fps": m,
                     "rounds": versus["mediapipe"]["fps"]},
            "speedup": round(v / m, 2) if m else None}
    return out


# The speed and latency claims Vigil makes, each checked here (on the machine it runs on) rather than in the test
# suite, where a loaded 2-core box would make them flaky: (what, bound, where the bound comes from).
INT8_SPEEDUP = 1.6  # issue 2: INT8 p50 at least 1.6x f32's
RESUME_MAX_S = 2.0  # README, Operating Vigil: a stream resumes within 2 s of its camera's return
STREAM_SHARE = 14.0 / 15.0  # README: each of up to 4 cameras at 15 fps analysed at 14-16 fps
VERSUS_MEDIAPIPE = 4.0  # issue 19: the single-person loop, every frame, at least 4x MediaPipe's pipeline
EIGHT_STREAM_FPS = 17.5  # issue 19: eight 18-fps cameras, each analysed at >= 17.5 fps ...
EIGHT_STREAM_DROPPED = 0.01  # ... with <= 1 % of their frames dropped ...
EIGHT_STREAM_G2R_P99_MS = 150.0  # ... glass-to-render p99 <= 150 ms ...
EIGHT_STREAM_G2A_P95_MS = 200.0  # ... and glass-to-alert p95 <= 200 ms
FOUR_STREAM_CPU_PCT = 80.0  # issue 19: four 18-fps cameras within 80 % CPU (200 % = both cores)
REALTIME_SHARE = 0.95  # issue 14: vtest.avi in real time with the CCTV config
EXERCISE_US = 200.0  # issue 22: the exercise analyzer adds under 0.2 ms per person per frame
GLASS_TO_RENDER_P99_MS = 150.0  # README, Operating Vigil: glass-to-render p99 under 150 ms (4 cameras)


def targets(result: dict) -> list[dict]:
    """Each claim: the measured value, its bound and whether it was met in this run."""
    out = []

    def add(name: str, measured, bound: float, at_least: bool = True) -> None:
        met = measured is not None and (measured >= bound if at_least else measured <= bound)
        out.append({"target": name, "measured": measured, "bound": (">= " if at_least else "<= ") + f"{bound:g}",
                    "met": bool(met)})

    for name, runs in result["models"].items():  # the bound is issue 2's, for the pose models
        if name in POSE_MODELS and "int8" in runs and "f32" in runs:
            add(f"{name}: INT8 p50 speed-up over f32", round(runs["f32"]["LATENCY"]["p50_ms"] /
                                                             runs["int8"]["LATENCY"]["p50_ms"], 2), INT8_SPEEDUP)
    pipeline = result["pipeline"]
    if "reconnect" in pipeline:
        rc = pipeline["reconnect"]
        complete = rc["resumed"] == len(rc["outages_s"])
        add("a camera's stream resumes after its server returns (max seconds)", rc.get("max_s") if complete else None,
            RESUME_MAX_S, at_least=False)
    for key, s in pipeline.items():  # the README's claim is for up to 4 cameras on this class of box
        if key.startswith("streams_") and s.get("fps_per_stream") and s["streams"] <= 4:
            add(f"{key}: slowest stream's fps / the camera's", round(min(s["fps_per_stream"].values()) /
                                                                     s["source_fps"], 3), STREAM_SHARE)
            add(f"{key}: glass-to-render p99 (ms)", s["glass_to_render_ms"]["p99"], GLASS_TO_RENDER_P99_MS,
                at_least=False)
    if "streams_8" in pipeline:
        s = pipeline["streams_8"]
        add("streams_8: slowest stream's fps", min(s["fps_per_stream"].values()), EIGHT_STREAM_FPS)
        add("streams_8: frames dropped / frames captured", round(s["dropped"] / max(s["frames"] + s["dropped"], 1), 4),
            EIGHT_STREAM_DROPPED, at_least=False)
        add("streams_8: glass-to-render p99 (ms)", s["glass_to_render_ms"]["p99"], EIGHT_STREAM_G2R_P99_MS,
            at_least=False)
        if s["alerts_raised"]:
            add("streams_8: glass-to-alert p95 (ms)", s["glass_to_alert_ms"]["p95"], EIGHT_STREAM_G2A_P95_MS,
                at_least=False)
    if "streams_4" in pipeline:
        add("streams_4: CPU % (200 % = both cores)", pipeline["streams_4"]["cpu_pct"], FOUR_STREAM_CPU_PCT,
            at_least=False)
    if "cctv_realtime" in pipeline:
        s = pipeline["cctv_realtime"]
        add("CCTV config on vtest.avi: fps / the clip's", round(s["fps"] / s["source_fps"], 3), REALTIME_SHARE)
    for kind, cost in result.get("analyzers", {}).get("exercise", {}).items():
        if isinstance(cost, dict):
            add(f"exercise analyzer ({kind}): p95 microseconds per person per frame", cost["p95_us"], EXERCISE_US,
                at_least=False)
    versus = result["ratios"].get("pipeline: Vigil vs MediaPipe (frames per second, same clip)")
    if versus:
        add("single-person loop: Vigil fps / MediaPipe fps", versus["speedup"], VERSUS_MEDIAPIPE)
    return out
