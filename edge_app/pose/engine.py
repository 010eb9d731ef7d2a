"""Top-down multi-person BlazePose: person finder -> rotated ROIs -> landmark model per ROI, with ROI tracking.

The finder runs when nobody is tracked and every ``detect_every`` frames to find newcomers; between its runs each
person's ROI comes from their previous landmarks, as in MediaPipe's tracking mode. A frame is a task of inference
batches (the finder's views, then all ROIs at once; inference/scheduler.py): run synchronously by :meth:`process`, or
with other streams' frames in flight by the runner's AsyncScheduler.

Two kinds of finder share one interface (:class:`PersonFinder`): BlazePose's face-anchored detector, and a
body-based one (MoveNet MultiPose) whose detections carry 17 COCO keypoints. With a body-based finder, each run also
checks the tracked ROIs: a ROI that the finder does not see as a person for ``max_unsupported`` runs in a row is
dropped unless the finder has vouched for it in ``established_runs`` runs before (so landmark tracking cannot
latch onto an object, yet a person the finder loses on the floor stays tracked by the landmarks), and a person the
finder sees but the landmark model loses (lying face down, too small) keeps a pose made from the finder's own
keypoints (``source == "finder"``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Protocol

import numpy as np

from edge_app.inference.scheduler import InferBatch, Steps, run_steps
from edge_app.pose.finder import pose_from_body
from edge_app.pose.geometry import box_iou, roi_from_alignment
from edge_app.pose.landmarks import LandmarkModel
from edge_app.records import Detection, Pose, RotatedRect


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


class PersonFinder(Protocol):
    """What the engine needs of a person finder (PoseDetector, MoveNetFinder): a model wrapper run once per view of
    the frame, whose views' detections :meth:`merge` joins."""

    min_score: float
    sees_bodies: bool  # its detections carry body keypoints and boxes (it can vouch for a tracked person)

    def views(self, width: int, height: int) -> list[RotatedRect]:
        """The square views of a ``width`` x ``height`` frame the model runs on (image pixels)."""

    def merge(self, found: list[list[Detection]], times: PoseTimes | None = None) -> list[Detection]:
        """One list of people (best first, image pixels) from each view's detections."""

    def detect(self, image: np.ndarray, times: PoseTimes | None = None) -> list[Detection]:
        """People in a BGR image (best first), in image pixels."""


@dataclass(frozen=True)
class EngineSettings:
    max_people: int = 4
    detect_every: int = 10  # frames between detector runs while people are tracked
    min_presence: float = 0.5  # pose flag below which a tracked person is dropped
    duplicate_iou: float = 0.5  # landmark boxes overlapping more than this are the same person
    support_iou: float = 0.3  # a body detection whose box overlaps a tracked person's this much supports them
    max_unsupported: int = 2  # body-finder runs in a row that may not see a new tracked person before it is dropped
    established_runs: int = 3  # once the finder has seen a person in this many runs, the landmarks alone keep them


@dataclass
class _Tracked:
    """A person the engine follows between frames: the ROI for the next frame, the last box, and how many body-finder
    runs saw them in all and did not see them in a row."""

    roi: RotatedRect
    box: tuple[float, float, float, float]
    unsupported: int = 0
    supported: int = 0  # body-finder runs that saw them, in all


class PoseEngine:
    """Stateful per stream: call :meth:`process` once per frame, in order."""

    def __init__(self, detector: PersonFinder, landmarks: LandmarkModel, settings: EngineSettings = EngineSettings()):
        self.detector = detector
        self.landmarks = landmarks
        self.settings = settings
        self._tracked: list[_Tracked] = []
        self._since_detect = 0
        self.last_detected = False
        self.times = PoseTimes()  # of the last processed frame

    def warm_up(self) -> None:
        """One inference through every request this engine owns, so the first real frame is not the slow one."""
        blank = np.zeros((256, 256, 3), np.uint8)
        self.detector.detect(blank)
        roi = RotatedRect(128.0, 128.0, 256.0, 256.0)
        self.landmarks.estimate(blank, roi)
        self.estimate(blank, [roi] * max(2, self.landmarks.jobs))

    def reset(self) -> None:
        """Forget tracked people (after a gap in the stream)."""
        self._tracked = []
        self._since_detect = 0

    def estimate(self, image: np.ndarray, rois: list[RotatedRect]) -> list[Pose]:
        """Landmarks for every ROI, in one async submission (one synchronous call for a single ROI); an error in
        OpenVINO's callback is raised here (inference/model.py)."""
        return self.landmarks.infer_many(image, rois, self.times)

    def _needs_detection(self) -> bool:
        if not self._tracked:
            return True
        return self._since_detect >= self.settings.detect_every and len(self._tracked) < self.settings.max_people

    def process(self, image: np.ndarray) -> list[Pose]:
        """The poses of one frame (BGR image), best first; call once per frame, in order. Synchronous."""
        return run_steps(self.steps(image))

    def steps(self, image: np.ndarray) -> Steps[list[Pose]]:
        """:meth:`process` as a task (inference/scheduler.py): yields the finder's views, then the ROIs, as inference
        batches, and returns the poses; an AsyncScheduler runs many streams' frames this way at once."""
        self.last_detected = False
        self.times = times = PoseTimes()
        tracked = list(self._tracked)
        support: list[Detection | None] = [None] * len(tracked)
        if self._needs_detection():
            self.last_detected = True
            self._since_detect = 0
            found = yield InferBatch(self.detector, image, self.detector.views(image.shape[1], image.shape[0]), times)
            detections = self.detector.merge(found, times)
            if self.detector.sees_bodies:
                tracked, support = self._supported(tracked, detections)
            else:
                for d in detections:
                    if len(tracked) >= self.settings.max_people:
                        break
                    roi = roi_from_alignment(d.keypoints[0], d.keypoints[1])
                    if all(box_iou(roi.bounding_box(), t.roi.bounding_box()) < 0.5 for t in tracked):
                        tracked.append(_Tracked(roi, roi.bounding_box()))
                        support.append(d)
        else:
            self._since_detect += 1
        rois = [t.roi for t in tracked]
        estimated = (yield InferBatch(self.landmarks, image, rois, times)) if rois else []
        started = time.perf_counter()
        poses, state = [], {}
        for t, d, pose in zip(tracked, support, estimated):
            if d is not None:
                pose = replace(pose, finder_score=float(d.score), body=d.body)
            if pose.score < self.settings.min_presence:
                if d is None or d.body is None:
                    continue
                pose = yield from self._from_detection(image, d)  # the finder sees a person the landmarks lost
                if pose is None:
                    continue
            poses.append(pose)
            state[id(pose)] = (t.unsupported, t.supported)
        poses = self._deduplicate(poses)
        self._tracked = [_Tracked(p.next_roi, p.box, *state[id(p)]) for p in poses]
        times.timed("postprocess", started)
        return poses

    def _from_detection(self, image: np.ndarray, d: Detection) -> Steps[Pose | None]:
        """A pose for a person the finder sees and the landmark model lost in its tracked ROI: the landmarks again in
        the ROI made from the finder's own keypoints (upright even for a lying person), else the finder's keypoints
        alone (``pose_from_body``) when the detection is as sure as a newcomer's must be; else None."""
        roi = roi_from_alignment(d.keypoints[0], d.keypoints[1])
        pose = (yield InferBatch(self.landmarks, image, [roi], self.times))[0]
        if pose.score >= self.settings.min_presence:
            return replace(pose, finder_score=float(d.score), body=d.body)
        if d.score < self.detector.min_score:
            return None  # a weak detection may keep a person tracked; its keypoints are too unsure to be a pose
        return pose_from_body(d, roi)

    def _supported(self, tracked: list[_Tracked], detections: list[Detection]
                   ) -> tuple[list[_Tracked], list[Detection | None]]:
        """Match a body finder's detections to the tracked people (greedy, by box IoU): a matched person keeps their
        landmark-tracked ROI and gets the detection as support; a person the finder has not seen for more than
        ``max_unsupported`` runs is dropped; an unmatched detection is a newcomer with the ROI from its keypoints."""
        s = self.settings
        pairs = sorted(((box_iou(t.box, d.box), ti, di) for ti, t in enumerate(tracked)
                        for di, d in enumerate(detections)), reverse=True)
        match: dict[int, int] = {}
        used: set[int] = set()
        for iou, ti, di in pairs:
            if iou < s.support_iou:
                break
            if ti not in match and di not in used:
                match[ti] = di
                used.add(di)
        kept: list[_Tracked] = []
        support: list[Detection | None] = []
        for ti, t in enumerate(tracked):
            if ti in match:
                kept.append(_Tracked(t.roi, t.box, 0, t.supported + 1))
                support.append(detections[match[ti]])
            elif t.unsupported < s.max_unsupported or t.supported >= s.established_runs:
                # an established person the finder misses now (lying, small, half hidden) stays while the
                # landmark model sees them; something it never vouched for goes
                kept.append(_Tracked(t.roi, t.box, t.unsupported + 1, t.supported))
                support.append(None)
        for di, d in enumerate(detections):
            if di in used or len(kept) >= s.max_people or d.score < self.detector.min_score:
                continue  # a low-score detection may support a tracked person, never start one
            roi = roi_from_alignment(d.keypoints[0], d.keypoints[1])
            kept.append(_Tracked(roi, d.box, 0, 1))
            support.append(d)
        return kept, support

    def _deduplicate(self, poses: list[Pose]) -> list[Pose]:
        kept: list[Pose] = []
        for pose in sorted(poses, key=lambda p: p.score, reverse=True):
            if all(box_iou(pose.box, k.box) < self.settings.duplicate_iou for k in kept):
                kept.append(pose)
        return kept
