"""The pipeline end to end on real clips: Vigil's whole loop (capture, pose, tracking, fall and fatigue analysis,
render) as it runs on a box, measured per scenario.

- ``streams_N``: N cameras at once (fall clips of ../shared/data played at their own frame rate, looped, as live
  cameras would send them): frames per second per stream, dropped frames, per-stage latency, glass-to-render and
  glass-to-alert latency, CPU and memory.
- ``people``: the whole loop on every frame of a multi-person CCTV clip, and the pose stage's cost against the
  number of people in view.
- ``vigil_vs_mediapipe``: Vigil's whole loop and MediaPipe's own pose pipeline on the same clip, every frame as fast
  as each goes, run alternately (see peers.py).
- ``reconnect``: a camera's RTSP server killed (SIGKILL) and started again several times during a run: seconds from
  the server's return to the first frame analysed after it.
- ``exercise``: what the exercise analyzer adds per person per frame, timed on the tracked poses of a real squat set.
"""

from __future__ import annotations

import dataclasses
import logging
import resource
import threading
import time
from pathlib import Path

import cv2
import numpy as np

from edge_app.app import PoseStack, build_runner
from edge_app.config import Config
from edge_app.runner import Runner
from edge_app.sources.capture import SourceSpec
from edge_app.timing import STAMPS, latency_percentiles, percentiles, rss_mb

log = logging.getLogger(__name__)


def bench_config(cfg: Config) -> Config:
    """The config with nothing written outside the report: no evidence files, no MQTT, no webhook."""
    alerts = dataclasses.replace(
        cfg.alerts, evidence=dataclasses.replace(cfg.alerts.evidence, enabled=False),
        mqtt=dataclasses.replace(cfg.alerts.mqtt, enabled=False),
        webhook=dataclasses.replace(cfg.alerts.webhook, enabled=False))
    return dataclasses.replace(cfg, alerts=alerts)


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def pooled(pipeline: Runner) -> tuple[dict, dict]:
    """Stage latency p50/p95 and glass-to-render p50/p95/p99 over every frame of every stream."""
    kept = [m.timings.newest() for m in pipeline.metrics.streams.values()]
    return latency_percentiles(np.concatenate(kept) if kept else np.empty((0, len(STAMPS))))


def measure(pipeline: Runner) -> dict:
    """Run a pipeline to its end and collect the scenario's figures."""
    cpu0, wall0, rss0 = cpu_seconds(), time.monotonic(), rss_mb()
    summary = pipeline.run()
    wall = time.monotonic() - wall0
    stages, g2r = pooled(pipeline)
    streams = summary["streams"]
    return {
        "streams": len(pipeline.captures),
        "seconds": round(wall, 2),
        "fps": round(sum(s["fps"] for s in streams.values()), 2),
        "fps_per_stream": {name: s["fps"] for name, s in streams.items()},
        "frames": summary["frames"],
        "dropped": summary["dropped"],
        "stage_ms": stages,
        "glass_to_render_ms": g2r,
        "glass_to_alert_ms": summary["glass_to_alert_ms"],
        "alerts_raised": summary["alerts_raised"],
        "cpu_pct": round(100 * (cpu_seconds() - cpu0) / wall, 1) if wall else 0.0,
        "rss_mb": summary["rss_mb"],
        "rss_growth_mb": round(summary["rss_mb"] - rss0, 1),
    }


def streams_scenario(cfg: Config, stack: PoseStack, clips: list[Path], n: int, seconds: float) -> dict:
    specs = [SourceSpec(f"cam{i + 1}", str(clips[i % len(clips)]), realtime=True, loop=True) for i in range(n)]
    result = measure(build_runner(bench_config(cfg), stack, specs, duration=seconds, log_every=3600.0,
                     keep_history=False))
    result["clips"] = [Path(s.uri).parent.name + "/" + Path(s.uri).name for s in specs]
    result["inference_threads"] = stack.runtime.threads or "OpenVINO's choice"
    result["source_fps"] = round(float(cv2.VideoCapture(str(clips[0])).get(cv2.CAP_PROP_FPS)), 2)
    return result


def vigil_fast(cfg: Config, stack: PoseStack, clip: Path, max_frames: int | None) -> dict:
    """Vigil's whole loop over a clip, every frame, as fast as it goes (``run --fast --headless``)."""
    spec = SourceSpec("clip", str(clip), realtime=False, lossless=True)
    result = measure(build_runner(bench_config(cfg), stack, [spec], max_frames=max_frames, log_every=3600.0,
                     keep_history=False))
    frames = result["frames"]
    result["loop_ms_per_frame"] = round(result["seconds"] * 1000 / max(frames, 1), 3)
    result["fps"] = round(frames / result["seconds"], 2) if result["seconds"] else 0.0  # whole run, like MediaPipe's
    return result


def realtime_scenario(cfg: Config, stack: PoseStack, clip: Path, seconds: float) -> dict:
    """One camera-like stream of ``clip`` at its own frame rate with ``cfg`` (the CCTV config on vtest.avi): does
    the whole loop keep up, at what CPU and per-stage cost."""
    spec = SourceSpec("cctv", str(clip), realtime=True, loop=True)
    result = measure(build_runner(bench_config(cfg), stack, [spec], duration=seconds, log_every=3600.0,
                     keep_history=False))
    result["clip"] = clip.name
    result["source_fps"] = round(float(cv2.VideoCapture(str(clip)).get(cv2.CAP_PROP_FPS)), 2)
    result["finder"] = cfg.models.detector
    result["tiles"] = list(cfg.pose.tiles) if cfg.pose.tiles else None
    return result


def people_scenario(cfg: Config, stack: PoseStack, clip: Path, max_frames: int) -> dict:
    """Vigil's whole loop over every frame of a multi-person clip; the pose stage's cost grouped by how many people
    were tracked in the frame."""
    spec = SourceSpec("people", str(clip), realtime=False, lossless=True)
    pipe = build_runner(bench_config(cfg), stack, [spec], max_frames=max_frames, log_every=3600.0,
                     keep_history=False)
    by_people: dict[int, list[float]] = {}
    pipe.observers.append(lambda item: by_people.setdefault(len(item.tracks), []).append(
        item.timing.stage_ms()["pose"]))
    result = measure(pipe)
    result["clip"] = clip.name
    result["by_people"] = {str(k): {"frames": len(v), **percentiles(v, (50, 95)),
                                    "mean_ms": round(float(np.mean(v)), 3)} for k, v in sorted(by_people.items())}
    return result


def reconnect_scenario(cfg: Config, stack: PoseStack, clip: Path, outages_s: tuple[float, ...]) -> dict | None:
    """One RTSP camera (scripts/rtsp_server.py serving ``clip``) whose server is killed and, after each of
    ``outages_s`` seconds, started again on the same port: how long after its return Vigil analyses a new frame.
    None when GStreamer's RTSP server is not available."""
    from edge_app.demo_source import RtspRelay

    relay = RtspRelay(clip, 640, 480, 15).__enter__()
    if relay.url is None:
        return None
    runner = build_runner(bench_config(cfg), stack, [SourceSpec("cam", relay.url)], log_every=3600.0,
                     keep_history=False)
    captured: list[float] = []
    runner.observers.append(lambda item: captured.append(item.frame.capture_mono))
    thread = threading.Thread(target=runner.run, name="vigil", daemon=True)
    thread.start()
    resume: list[float] = []
    try:
        _wait(lambda: captured, 60.0)
        for outage in outages_s:
            time.sleep(2.0)
            relay.proc.kill()  # the camera dies: no goodbye
            relay.proc.wait(5)
            time.sleep(outage)
            relay = RtspRelay(clip, 640, 480, 15, port=relay.port).__enter__()
            back = time.monotonic()
            if _wait(lambda back=back: captured and captured[-1] > back, 30.0):
                resume.append(round(time.monotonic() - back, 2))
    finally:
        runner.stop_event.set()
        thread.join(30)
        relay.__exit__()
    return {"outages_s": list(outages_s), "resume_s": resume, "resumed": len(resume),
            **({"median_s": round(float(np.median(resume)), 2), "max_s": max(resume)} if resume else {}),
            "what": "server killed (SIGKILL) and restarted on the same port; seconds from its return (listening "
                    "again) to the first frame captured after it reaching analysis"}


def _wait(condition, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return False


def exercise_cost(cfg: Config, stack: PoseStack, clip: Path, repeats: int) -> dict:
    """Microseconds the exercise analyzer (squat and sit-to-stand tables) adds per person per frame: the clip's
    confirmed tracks are collected once (pose engine and tracker, every frame), then each table's ``update`` is timed
    over all of them ``repeats`` times (a fresh analyzer and track state each pass). Returns p50/p95/p99 per table and
    the number of person-frames timed."""
    from types import SimpleNamespace

    from edge_app.analysis.exercise import ExerciseAnalyzer, ExerciseSettings
    from edge_app.sources.reader import open_reader
    from edge_app.tracking.tracker import Tracker

    engine, tracker = stack.engine(cfg), Tracker(stack.tracker_settings(cfg))
    reader = open_reader(str(clip), live=False)
    poses: list[tuple[float, int, np.ndarray, np.ndarray]] = []
    while (picture := reader.read()) is not None:
        for track in tracker.update(engine.process(picture.image), picture.pts):
            if track.confirmed:
                poses.append((picture.pts, track.id, track.smoothed.copy(), track.pose.world.copy()))
    reader.close()
    out: dict = {"clip": clip.name, "person_frames": len(poses), "repeats": repeats}
    for kind in ("squat", "sit_to_stand"):
        samples = []
        reps = 0
        for _ in range(repeats):
            analyzer = ExerciseAnalyzer(ExerciseSettings(kind=kind))
            tracks: dict[int, SimpleNamespace] = {}
            for t, track_id, landmarks, world in poses:
                track = tracks.setdefault(track_id, SimpleNamespace(id=track_id, state={}))
                track.smoothed, track.pose = landmarks, SimpleNamespace(world=world)
                start = time.perf_counter()
                reps += len(analyzer.update(track, "bench", t, 0.0))
                samples.append((time.perf_counter() - start) * 1e6)
        out[kind] = {**{f"{k}_us": v for k, v in percentiles(samples).items()},
                     "reps_per_pass": reps // max(repeats, 1)}
    return out
