"""BlazePose person detector: owns its preprocessing (square view -> 224x224 patch; RGB in [-1,1] inside the compiled
model) and SSD decoding."""

from __future__ import annotations

import time
from functools import lru_cache

import numpy as np

from edge_app.errors import ModelError
from edge_app.inference.model import ImageModel
from edge_app.inference.preprocessing import ImageInput, host_input
from edge_app.inference.runtime import CompiledModel
from edge_app.pose.geometry import crop, weighted_nms
from edge_app.records import Detection, RotatedRect

INPUT_SIZE = 224
NUM_ANCHORS = 2254
NUM_COORDS = 12


@lru_cache(maxsize=1)
def ssd_anchors() -> np.ndarray:
    """(2254, 2) anchor centres of MediaPipe's pose_detection (5 layers, strides 8,16,32,32,32, fixed size 1,
    two anchors per cell); layers with the same stride are merged as SsdAnchorsCalculator does."""
    strides = [8, 16, 32, 32, 32]
    centres: list[tuple[float, float]] = []
    layer = 0
    while layer < len(strides):
        same = 0
        while layer + same < len(strides) and strides[layer + same] == strides[layer]:
            same += 1
        anchors_per_cell = 2 * same  # aspect ratio 1.0 plus the interpolated scale, per merged layer
        fm = int(np.ceil(INPUT_SIZE / strides[layer]))
        for y in range(fm):
            for x in range(fm):
                centres.extend([((x + 0.5) / fm, (y + 0.5) / fm)] * anchors_per_cell)
        layer += same
    out = np.array(centres, dtype=np.float32)
    assert out.shape == (NUM_ANCHORS, 2), out.shape
    return out


def whole_image_view(width: int, height: int) -> RotatedRect:
    """The square around the whole image that the detector sees (letterbox: padded, never stretched)."""
    side = float(max(width, height))
    return RotatedRect(width / 2, height / 2, side, side, 0.0)


def tile_views(width: int, height: int, rows: int, cols: int, overlap: float = 0.25) -> list[RotatedRect]:
    """Square views on a rows x cols grid that cover the image with ``overlap`` between neighbours, for people
    too small for the detector's view of the whole frame."""
    tw = width / (cols - (cols - 1) * overlap)
    th = height / (rows - (rows - 1) * overlap)
    side = max(tw, th)
    views = []
    for r in range(rows):
        for c in range(cols):
            cx = tw / 2 + c * tw * (1 - overlap) if cols > 1 else width / 2
            cy = th / 2 + r * th * (1 - overlap) if rows > 1 else height / 2
            views.append(RotatedRect(cx, cy, side, side, 0.0))
    return views


DETECTOR_INPUT = ImageInput(mean=127.5, scale=127.5)  # RGB in [-1, 1]


def preprocess(image: np.ndarray, view: RotatedRect) -> np.ndarray:
    """BGR uint8 image -> (1, 224, 224, 3) float32 RGB in [-1, 1] of the given view, on the host: the model's input
    as the toolchain calibrates it (the runtime has the compiled model do the conversion)."""
    return host_input(crop(image, view, INPUT_SIZE)[None], DETECTOR_INPUT)


def check_outputs(compiled: CompiledModel) -> tuple[int, int]:
    """Indices of the regressor (1, 2254, 12) and score (1, 2254, 1) outputs; a clear error otherwise."""
    shapes = [tuple(o.get_partial_shape().get_min_shape()) for o in compiled.compiled.outputs]
    reg = [i for i, s in enumerate(shapes) if s[-2:] == (NUM_ANCHORS, NUM_COORDS)]
    cls = [i for i, s in enumerate(shapes) if s[-2:] == (NUM_ANCHORS, 1)]
    in_shape = tuple(compiled.compiled.inputs[0].get_partial_shape().get_min_shape())
    if not reg or not cls or in_shape[-3:] != (INPUT_SIZE, INPUT_SIZE, 3):
        raise ModelError(f"{compiled.path}: not a BlazePose detector (input {in_shape}, outputs {shapes}; "
                         f"expected input 1x224x224x3 and outputs 1x2254x12, 1x2254x1)")
    return reg[0], cls[0]


def decode(regressors: np.ndarray, logits: np.ndarray, view: RotatedRect, min_score: float) -> list[Detection]:
    """SSD decode of one view's raw outputs into detections in image pixels (before NMS)."""
    scores = 1.0 / (1.0 + np.exp(-np.clip(logits.reshape(-1).astype(np.float64), -100.0, 100.0)))
    keep = np.nonzero(scores >= min_score)[0]
    if keep.size == 0:
        return []
    raw = regressors.reshape(NUM_ANCHORS, NUM_COORDS)[keep].astype(np.float64) / INPUT_SIZE
    anchors = ssd_anchors()[keep].astype(np.float64)
    cx, cy = raw[:, 0] + anchors[:, 0], raw[:, 1] + anchors[:, 1]
    w, h = raw[:, 2], raw[:, 3]
    corners = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)
    kps = raw[:, 4:].reshape(-1, 4, 2) + anchors[:, None, :]
    out = []
    for i in range(keep.size):
        box_pts = view.to_image(corners[i].reshape(2, 2))
        out.append(Detection(box=(box_pts[0, 0], box_pts[0, 1], box_pts[1, 0], box_pts[1, 1]),
                             keypoints=view.to_image(kps[i]), score=float(scores[keep[i]])))
    return out


class TiledFinder(ImageModel[RotatedRect, list[Detection]]):
    """A person finder that runs one model over square views of a frame: the whole image, plus optional overlapping
    ``tiles`` (rows, cols) for people too small for one view; the views' detections are merged by weighted NMS.
    Subclasses give ``INPUT``, ``size`` (the square input's side), ``postprocess(outputs, view)`` (detections in
    image pixels); the patch of a view is its letterboxed crop; inference, its timing and the input conversion are
    the ImageModel's (inference/model.py)."""

    size = 0

    sees_bodies = False

    def __init__(self, compiled: CompiledModel, min_score: float, nms_iou: float, tiles: tuple[int, int] | None,
                 tile_overlap: float):
        super().__init__(compiled)
        self.min_score = min_score
        self.nms_iou = nms_iou
        self.tiles = tiles
        self.tile_overlap = tile_overlap

    def patch(self, image: np.ndarray, view: RotatedRect) -> np.ndarray:
        return crop(image, view, self.size)

    def views(self, width: int, height: int) -> list[RotatedRect]:
        views = [whole_image_view(width, height)]
        if self.tiles and self.tiles != (1, 1):
            views += tile_views(width, height, *self.tiles, overlap=self.tile_overlap)
        return views

    def detect(self, image: np.ndarray, times=None) -> list[Detection]:
        """People in a BGR image, best first, in image pixels; ``times`` (a PoseTimes), when given, accumulates where
        the time went."""
        height, width = image.shape[:2]
        return self.merge([self(image, view, times) for view in self.views(width, height)], times)

    def merge(self, found: list[list[Detection]], times=None) -> list[Detection]:
        """The views' detections (one list per view, image pixels) merged by weighted NMS, best first."""
        started = time.perf_counter()
        merged = weighted_nms([d for view in found for d in view], self.nms_iou)
        if times is not None:
            times.timed("postprocess", started)
        return merged


class PoseDetector(TiledFinder):
    """BlazePose's face-anchored person detector (MediaPipe pose_detection): whole-image view plus optional tiles."""

    sees_bodies = False  # face-anchored: its box is not the body's
    INPUT = DETECTOR_INPUT
    size = INPUT_SIZE

    def __init__(self, compiled: CompiledModel, min_score: float = 0.5, nms_iou: float = 0.3,
                 tiles: tuple[int, int] | None = None, tile_overlap: float = 0.25):
        self.reg_index, self.cls_index = check_outputs(compiled)
        super().__init__(compiled, min_score, nms_iou, tiles, tile_overlap)

    def postprocess(self, outputs, view: RotatedRect) -> list[Detection]:
        return decode(outputs[self.reg_index], outputs[self.cls_index], view, self.min_score)
