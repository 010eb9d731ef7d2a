"""BlazePose landmark model: owns its preprocessing (rotated ROI -> 256x256 patch; RGB in [0,1] inside the compiled
model) and decoding."""

from __future__ import annotations

import math

import numpy as np

from edge_app.errors import ModelError
from edge_app.inference.model import ImageModel
from edge_app.inference.preprocessing import ImageInput, host_input
from edge_app.inference.runtime import CompiledModel
from edge_app.pose.geometry import crop, landmarks_box, roi_from_alignment
from edge_app.records import Pose, RotatedRect

INPUT_SIZE = 256
NUM_POINTS = 39  # 33 pose landmarks + 6 auxiliary (33: hip centre, 34: scale point for the next ROI)
NUM_LANDMARKS = 33

# Outputs the runtime uses, recognised by size: landmarks (39 x 5), pose flag (1), world landmarks (39 x 3).
LANDMARKS_SIZE, FLAG_SIZE, WORLD_SIZE = NUM_POINTS * 5, 1, NUM_POINTS * 3


LANDMARK_INPUT = ImageInput(mean=0.0, scale=255.0)  # RGB in [0, 1] (MediaPipe's ImageToTensor, range 0..1)


def preprocess(image: np.ndarray, roi: RotatedRect) -> np.ndarray:
    """BGR uint8 image -> (1, 256, 256, 3) float32 RGB in [0, 1] of the rotated ROI, on the host: the model's input
    as the toolchain calibrates it (the runtime has the compiled model do the conversion)."""
    return host_input(crop(image, roi, INPUT_SIZE)[None], LANDMARK_INPUT)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -80.0, 80.0)))


def output_indices(compiled: CompiledModel) -> tuple[int, int, int]:
    """Indices of the landmark, pose-flag and world-landmark outputs; a clear error if the model is not one."""
    sizes = [int(np.prod(o.get_partial_shape().get_min_shape())) for o in compiled.compiled.outputs]
    in_shape = tuple(compiled.compiled.inputs[0].get_partial_shape().get_min_shape())
    try:
        found = sizes.index(LANDMARKS_SIZE), sizes.index(FLAG_SIZE), sizes.index(WORLD_SIZE)
    except ValueError:
        found = None
    if found is None or in_shape[-3:] != (INPUT_SIZE, INPUT_SIZE, 3):
        raise ModelError(f"{compiled.path}: not a BlazePose landmark model (input {in_shape}, output sizes {sizes}; "
                         f"expected input 1x256x256x3 and outputs of 195, 1 and 117 values)")
    return found


def decode(raw_landmarks: np.ndarray, raw_flag: np.ndarray, raw_world: np.ndarray, roi: RotatedRect) -> Pose:
    """Raw outputs of one ROI -> a Pose in image pixels (landmarks) and metres (world, rotated upright)."""
    pts = raw_landmarks.reshape(NUM_POINTS, 5).astype(np.float64)
    xy = roi.to_image(pts[:, :2] / INPUT_SIZE)
    z = pts[:, 2] / INPUT_SIZE * roi.width
    vis, pres = _sigmoid(pts[:, 3]), _sigmoid(pts[:, 4])
    landmarks = np.column_stack([xy, z, vis, pres])
    world = raw_world.reshape(NUM_POINTS, 3).astype(np.float64)
    c, s = math.cos(roi.rotation), math.sin(roi.rotation)
    world = np.column_stack([c * world[:, 0] - s * world[:, 1], s * world[:, 0] + c * world[:, 1], world[:, 2]])
    score = float(np.asarray(raw_flag).reshape(-1)[0])
    next_roi = roi_from_alignment(xy[33], xy[34])
    return Pose(landmarks=landmarks[:NUM_LANDMARKS], world=world[:NUM_LANDMARKS], score=score, roi=roi,
                next_roi=next_roi, box=landmarks_box(xy[:NUM_LANDMARKS]))


class LandmarkModel(ImageModel[RotatedRect, Pose]):
    """Estimates one person's 33 landmarks inside a rotated ROI (image pixels): ``model(image, roi)`` for one,
    ``model.infer_many(image, rois)`` for several in flight (``jobs`` requests). Raises ModelError when the IR is not
    a BlazePose landmark model."""

    INPUT = LANDMARK_INPUT

    def __init__(self, compiled: CompiledModel, jobs: int = 2):
        self.indices = output_indices(compiled)
        super().__init__(compiled, jobs)

    def patch(self, image: np.ndarray, roi: RotatedRect) -> np.ndarray:
        return crop(image, roi, INPUT_SIZE)

    def postprocess(self, outputs, roi: RotatedRect) -> Pose:
        i_lm, i_flag, i_world = self.indices
        return decode(outputs[i_lm], outputs[i_flag], outputs[i_world], roi)

    def estimate(self, image: np.ndarray, roi: RotatedRect, times=None) -> Pose:
        """One person's pose in ``roi``; ``times`` (a PoseTimes), when given, accumulates the stage seconds."""
        return self(image, roi, times)
