"""Real calibration data for INT8: frames from image folders and videos, turned into model inputs exactly the
way the runtime makes them (detector views; person ROIs with rotation, 256x256 landmark crops)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from edge_app.errors import VigilError
from edge_app.pose import detector as det
from edge_app.pose import landmarks as lmk
from edge_app.pose.geometry import roi_from_alignment
from edge_app.records import RotatedRect

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp"}
VIDEO_SUFFIXES = {".mp4", ".avi", ".mkv", ".mov", ".webm"}

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO.parent / "shared" / "data"


def default_calibration_sources() -> list[Path]:
    """The shared COCO images and UP-Fall subject 1 videos, when present."""
    candidates = [SHARED_DATA / "pose" / "coco_minitrain" / "images", SHARED_DATA / "falls" / "upfall_s1"]
    return [p for p in candidates if p.exists()]


def _files(source: Path) -> list[Path]:
    if source.is_file():
        return [source]
    if source.is_dir():
        return sorted(p for p in source.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES | VIDEO_SUFFIXES)
    raise VigilError(f"{source}: calibration source not found (give a folder of images or videos, or a video)")


def iter_frames(sources: list[Path], video_stride_s: float = 2.0, max_frames_per_video: int = 12
                ) -> Iterator[tuple[str, np.ndarray]]:
    """(name, BGR image) for every image and every ``video_stride_s`` seconds of every video in ``sources``."""
    for source in sources:
        files = _files(Path(source))
        if not files:
            raise VigilError(f"{source}: no images or videos to calibrate on")
        for path in files:
            if path.suffix.lower() in IMAGE_SUFFIXES:
                image = cv2.imread(str(path))
                if image is None:
                    raise VigilError(f"{path}: cannot decode image")
                yield path.name, image
                continue
            cap = cv2.VideoCapture(str(path))
            if not cap.isOpened():
                raise VigilError(f"{path}: cannot open video")
            fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
            stride = max(1, int(round(video_stride_s * fps)))
            index = taken = 0
            while taken < max_frames_per_video:
                ok = cap.grab()
                if not ok:
                    break
                if index % stride == 0:
                    ok, frame = cap.retrieve()
                    if ok and frame is not None:
                        taken += 1
                        yield f"{path.parent.name}/{path.name}#{index}", frame
                index += 1
            cap.release()


def jitter(roi: RotatedRect, rng: np.random.Generator) -> RotatedRect:
    """A ROI as the tracker might propose it a frame later: small shift, scale and rotation changes."""
    return RotatedRect(roi.cx + rng.normal(0, 0.04) * roi.width, roi.cy + rng.normal(0, 0.04) * roi.height,
                       roi.width * math.exp(rng.normal(0, 0.08)), roi.height * math.exp(rng.normal(0, 0.08)),
                       roi.rotation + rng.normal(0, 0.15))


class CalibrationSet:
    """Collects detector inputs and landmark crops from real frames, using the float models to find people."""

    def __init__(self, detector: det.PoseDetector, landmarks: lmk.LandmarkModel | None, seed: int = 0):
        self.detector = detector
        self.landmarks = landmarks
        self.rng = np.random.default_rng(seed)
        self.detector_inputs: list[np.ndarray] = []
        self.landmark_inputs: list[np.ndarray] = []
        self.sources: list[str] = []

    def add_frame(self, name: str, image: np.ndarray, extra_rois: list[RotatedRect] = ()) -> None:
        height, width = image.shape[:2]
        views = self.detector.views(width, height)
        self.detector_inputs += [det.preprocess(image, v) for v in views]
        self.sources.append(name)
        if self.landmarks is None:
            return
        rois = list(extra_rois)
        for d in self.detector.detect(image):
            rois.append(roi_from_alignment(d.keypoints[0], d.keypoints[1]))
        for roi in rois:
            self.landmark_inputs.append(lmk.preprocess(image, roi))
            pose = self.landmarks.estimate(image, roi)
            if pose.score >= 0.5:  # the ROI the runtime would track to in the next frame
                self.landmark_inputs.append(lmk.preprocess(image, pose.next_roi))
            self.landmark_inputs.append(lmk.preprocess(image, jitter(roi, self.rng)))
