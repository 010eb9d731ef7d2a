"""Pure geometry for BlazePose: ROIs from alignment points, crops, box overlap and weighted NMS."""

from __future__ import annotations

import math

import cv2
import numpy as np

from edge_app.records import Detection, RotatedRect


def normalize_radians(angle: float) -> float:
    return angle - 2 * math.pi * math.floor((angle + math.pi) / (2 * math.pi))


def roi_from_alignment(centre: np.ndarray, scale_point: np.ndarray, scale: float = 1.25) -> RotatedRect:
    """MediaPipe's AlignmentPointsRects + RectTransformation (target angle 90 deg, square_long, scale 1.25).

    ``centre`` is the hip centre, ``scale_point`` the point whose distance from it is half the body size.
    The ROI is rotated so that the body axis (hips -> scale point) points up in the crop.
    """
    dx, dy = float(scale_point[0] - centre[0]), float(scale_point[1] - centre[1])
    size = 2.0 * math.hypot(dx, dy) * scale
    rotation = normalize_radians(math.pi / 2 - math.atan2(-dy, dx))
    return RotatedRect(float(centre[0]), float(centre[1]), size, size, rotation)


def roi_from_box(box: tuple[float, float, float, float], scale: float = 1.25) -> RotatedRect:
    """An upright square ROI around a box (x0, y0, x1, y1), its long side scaled by ``scale``."""
    x0, y0, x1, y1 = box
    side = max(x1 - x0, y1 - y0) * scale
    return RotatedRect((x0 + x1) / 2, (y0 + y1) / 2, side, side, 0.0)


def crop(image: np.ndarray, roi: RotatedRect, size: int) -> np.ndarray:
    """The ROI of ``image`` warped to ``size`` x ``size`` (zero border), as MediaPipe's ImageToTensor does."""
    return cv2.warpAffine(
        image, roi.crop_matrix(size), (size, size),
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0),
    )


def box_iou(a: tuple[float, ...] | np.ndarray, b: tuple[float, ...] | np.ndarray) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


def iou_matrix(boxes: np.ndarray, box: np.ndarray) -> np.ndarray:
    """IoU of each row of ``boxes`` (N, 4) with ``box`` (4,)."""
    ix = np.clip(np.minimum(boxes[:, 2], box[2]) - np.maximum(boxes[:, 0], box[0]), 0, None)
    iy = np.clip(np.minimum(boxes[:, 3], box[3]) - np.maximum(boxes[:, 1], box[1]), 0, None)
    inter = ix * iy
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    union = areas + (box[2] - box[0]) * (box[3] - box[1]) - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-9), 0.0)


def weighted_nms(detections: list[Detection], iou_threshold: float = 0.3) -> list[Detection]:
    """MediaPipe's WEIGHTED non-max suppression: overlapping detections' boxes and alignment points are averaged,
    weighted by score; a cluster keeps its best score and its best detection's body keypoints (if any)."""
    if not detections:
        return []
    order = sorted(detections, key=lambda d: d.score, reverse=True)
    boxes = np.array([d.box for d in order], dtype=np.float64)
    kps = np.stack([d.keypoints for d in order]).astype(np.float64)
    scores = np.array([d.score for d in order], dtype=np.float64)
    remaining = np.arange(len(order))
    out: list[Detection] = []
    while remaining.size:
        top = remaining[0]
        overlap = iou_matrix(boxes[remaining], boxes[top]) > iou_threshold
        cluster = remaining[overlap]
        w = scores[cluster] / scores[cluster].sum()
        box = tuple(float(v) for v in (boxes[cluster] * w[:, None]).sum(axis=0))
        keypoints = (kps[cluster] * w[:, None, None]).sum(axis=0)
        out.append(Detection(box=box, keypoints=keypoints, score=float(scores[top]), body=order[top].body))
        remaining = remaining[~overlap]
    return out


def landmarks_box(points: np.ndarray) -> tuple[float, float, float, float]:
    """Tight box (x0, y0, x1, y1) around (N, >=2) points."""
    return (float(points[:, 0].min()), float(points[:, 1].min()),
            float(points[:, 0].max()), float(points[:, 1].max()))
