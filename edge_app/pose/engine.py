"""Top-down multi-person BlazePose: detector -> rotated ROIs -> landmark model per ROI, with ROI tracking.

The detector runs when nobody is tracked and every ``detect_every`` frames to find newcomers; between detections
each person's ROI comes from their previous landmarks, as in MediaPipe's tracking mode. All ROIs of a frame go
through one ``AsyncInferQueue`` submission.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import openvino as ov

from edge_app.pose import landmarks as lmk
from edge_app.pose.detector import PoseDetector
from edge_app.pose.geometry import box_iou, roi_from_alignment
from edge_app.pose.landmarks import LandmarkModel
from edge_app.records import Pose, RotatedRect


@dataclass
class PoseTimes:
    """Seconds one frame spent in each part of pose estimation (detector and landmark model together).

    ``infer`` is the wall time waiting for OpenVINO; with several ROIs in flight, the landmark decoding that runs in
    OpenVINO's callback thread overlaps it and is counted in ``postprocess`` only."""

    preprocess: float = 0.0
    infer: float = 0.0
    postprocess: float = 0.0

    def timed(self, part: str, started: float) -> float:
        """Add the time since ``started`` to ``part``; returns now, the start of the next part."""
        now = time.perf_counter()
        setattr(self, part, getattr(self, part) + now - started)
        return now


@dataclass(frozen=True)
class EngineSettings:
    max_people: int = 4
    detect_every: int = 10  # frames between detector runs while people are tracked
    min_presence: float = 0.5  # pose flag below which a tracked person is dropped
    duplicate_iou: float = 0.5  # landmark boxes overlapping more than this are the same person
    async_jobs: int = 2


class PoseEngine:
    """Stateful per stream: call :meth:`process` once per frame, in order."""

    def __init__(self, detector: PoseDetector, landmarks: LandmarkModel, settings: EngineSettings = EngineSettings()):
        self.detector = detector
        self.landmarks = landmarks
        self.settings = settings
        self._tracked: list[RotatedRect] = []
        self._since_detect = 0
        self._queue = ov.AsyncInferQueue(landmarks.compiled.compiled, max(1, settings.async_jobs))
        self._results: dict[int, Pose] = {}
        self._decode_s: list[float] = []
        self._queue.set_callback(self._on_done)
        self.last_detected = False
        self.times = PoseTimes()  # of the last processed frame

    def warm_up(self) -> None:
        """One inference through every request this engine owns, so the first real frame is not the slow one."""
        blank = np.zeros((256, 256, 3), np.uint8)
        self.detector.detect(blank)
        roi = RotatedRect(128.0, 128.0, 256.0, 256.0)
        self.landmarks.estimate(blank, roi)
        self.estimate(blank, [roi] * max(2, self.settings.async_jobs))

    def reset(self) -> None:
        """Forget tracked people (after a gap in the stream)."""
        self._tracked = []
        self._since_detect = 0

    def _on_done(self, request: ov.InferRequest, userdata: tuple[int, RotatedRect]) -> None:
        index, roi = userdata
        started = time.perf_counter()
        result = [request.get_output_tensor(i).data.copy() for i in range(len(request.model_outputs))]
        self._results[index] = self.landmarks.decode_result(result, roi)
        self._decode_s.append(time.perf_counter() - started)  # list.append is atomic across callback threads

    def estimate(self, image: np.ndarray, rois: list[RotatedRect]) -> list[Pose]:
        """Landmarks for every ROI, in one async submission (one synchronous call for a single ROI)."""
        times = self.times
        if len(rois) == 1:
            return [self.landmarks.estimate(image, rois[0], times)]
        self._results, self._decode_s = {}, []
        started = time.perf_counter()
        for i, roi in enumerate(rois):
            tensor = lmk.preprocess(image, roi)
            started = times.timed("preprocess", started)
            self._queue.start_async({0: tensor}, (i, roi))
            started = time.perf_counter()
        self._queue.wait_all()
        times.timed("infer", started)
        decode_s = sum(self._decode_s)
        times.infer -= min(decode_s, times.infer)  # the wait included the decoding of the last results
        times.postprocess += decode_s
        return [self._results[i] for i in range(len(rois))]

    def _needs_detection(self) -> bool:
        if not self._tracked:
            return True
        return self._since_detect >= self.settings.detect_every and len(self._tracked) < self.settings.max_people

    def process(self, image: np.ndarray) -> list[Pose]:
        rois = list(self._tracked)
        self.last_detected = False
        self.times = PoseTimes()
        if self._needs_detection():
            self.last_detected = True
            self._since_detect = 0
            for d in self.detector.detect(image, self.times):
                if len(rois) >= self.settings.max_people:
                    break
                roi = roi_from_alignment(d.keypoints[0], d.keypoints[1])
                if all(box_iou(roi.bounding_box(), r.bounding_box()) < 0.5 for r in rois):
                    rois.append(roi)
        else:
            self._since_detect += 1
        poses = [p for p in self.estimate(image, rois) if p.score >= self.settings.min_presence] if rois else []
        started = time.perf_counter()
        poses = self._deduplicate(poses)
        self.times.timed("postprocess", started)
        self._tracked = [p.next_roi for p in poses]
        return poses

    def _deduplicate(self, poses: list[Pose]) -> list[Pose]:
        kept: list[Pose] = []
        for pose in sorted(poses, key=lambda p: p.score, reverse=True):
            if all(box_iou(pose.box, k.box) < self.settings.duplicate_iou for k in kept):
                kept.append(pose)
        return kept
