"""Assembling the runtime from a config: the OpenVINO runtime, the chosen models, the pose engine; and the simple
single-stream loop used by `run` until the multithreaded pipeline lands."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from edge_app.config import Config
from edge_app.errors import VigilError
from edge_app.inference.latency import stats_from_ms
from edge_app.inference.model_store import Chosen, ModelStore
from edge_app.inference.runtime import Runtime
from edge_app.pose.detector import PoseDetector
from edge_app.pose.engine import EngineSettings, PoseEngine
from edge_app.pose.landmarks import LandmarkModel
from edge_app.render.draw import draw_hud, draw_pose
from edge_app.sources.reader import read_frames, redact

log = logging.getLogger(__name__)


@dataclass
class PoseStack:
    runtime: Runtime
    detector: Chosen
    landmarks: Chosen

    def engine(self, cfg: Config) -> PoseEngine:
        p = cfg.pose
        detector = PoseDetector(self.detector.compiled, min_score=p.min_detection_score, tiles=p.tiles)
        return PoseEngine(detector, LandmarkModel(self.landmarks.compiled),
                          EngineSettings(max_people=p.max_people, detect_every=p.detect_every,
                                         min_presence=p.min_presence))


def build_pose_stack(cfg: Config) -> PoseStack:
    runtime = Runtime(cfg.inference.device, cfg.inference.hint, cfg.inference.threads, cfg.inference.cache_dir)
    store = ModelStore(cfg.models.dir)
    detector = store.choose(cfg.models.detector, runtime, cfg.models.precision)
    landmarks = store.choose(cfg.models.landmarks, runtime, cfg.models.precision)
    for chosen in (detector, landmarks):
        log.info("model %s", chosen.describe())
    return PoseStack(runtime, detector, landmarks)


def _writer(path: Path, fps: float, size: tuple[int, int]) -> cv2.VideoWriter:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise VigilError(f"--record {path}: cannot create folder ({exc.strerror})") from None
    if path.exists() and path.is_dir():
        raise VigilError(f"--record {path}: is a folder")
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
    if not writer.isOpened():
        raise VigilError(f"--record {path}: cannot write a video there")
    return writer


def run_single(cfg: Config, source: str, record: Path | None, max_frames: int | None, show: bool) -> dict:
    stack = build_pose_stack(cfg)
    engine = stack.engine(cfg)
    writer = None
    per_frame, people = [], []
    started = time.perf_counter()
    for frame in read_frames(source, max_frames=max_frames):
        t0 = time.perf_counter()
        poses = engine.process(frame.image)
        per_frame.append((time.perf_counter() - t0) * 1000)
        people.append(len(poses))
        if record is None and not show:
            continue
        canvas = frame.image.copy()
        for i, pose in enumerate(poses):
            draw_pose(canvas, pose, f"person {i + 1}")
        draw_hud(canvas, [f"{1000 / max(np.mean(per_frame[-30:]), 1e-6):.0f} fps pose", f"people {len(poses)}",
                          f"{stack.landmarks.compiled.device} {stack.landmarks.run.name}"])
        if record is not None:
            if writer is None:
                writer = _writer(record, 15.0, (canvas.shape[1], canvas.shape[0]))
            writer.write(canvas)
        if show:
            cv2.imshow("Vigil", canvas)
            if cv2.waitKey(1) & 0xFF in (27, ord("q")):
                break
    if writer is not None:
        writer.release()
    elapsed = time.perf_counter() - started
    stats = stats_from_ms(per_frame)
    return {"source": redact(source), "frames": len(per_frame), "seconds": round(elapsed, 2),
            "fps": round(len(per_frame) / elapsed, 1) if elapsed else 0.0,
            "pose_ms": {"p50": round(stats.p50_ms, 2), "p95": round(stats.p95_ms, 2)},
            "people_max": max(people, default=0), "record": str(record) if record else None,
            "models": {"detector": stack.detector.describe(), "landmarks": stack.landmarks.describe()}}
