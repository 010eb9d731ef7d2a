"""Assembling the runtime from a config: the OpenVINO runtime, the chosen models, the pose engine."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from edge_app.config import Config
from edge_app.inference.model_store import Chosen, ModelStore
from edge_app.inference.runtime import Runtime
from edge_app.pose.detector import PoseDetector
from edge_app.pose.engine import EngineSettings, PoseEngine
from edge_app.pose.landmarks import LandmarkModel

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
