"""Pose accuracy on COCO-format keypoint annotations (`python -m convert evaluate-pose`).

Modes:
- ``gt-box``: each labelled person is cropped from its ground-truth box (an upright square, 1.25x the box's long
  side) and only the landmark model runs: this isolates the landmark model's accuracy.
- ``full``: the runtime's whole pipeline (detector on the whole image, rotated ROIs, landmarks) runs on each image;
  predictions are matched to ground truth, and COCO keypoint AP is computed with pycocotools. Detector person recall
  is also reported: a labelled person counts as found when a detection's ROI centre lies in the person's box and the
  ROI's bounding box overlaps the person's square ground-truth crop with IoU >= 0.3.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterable

import cv2
import numpy as np

from convert.coco import CocoSet, Person
from convert.pose_metrics import keypoint_errors, oks, pck, summarize
from edge_app.errors import VigilError
from edge_app.pose.detector import PoseDetector
from edge_app.pose.engine import EngineSettings, PoseEngine
from edge_app.pose.geometry import box_iou, roi_from_alignment
from edge_app.pose.landmarks import LandmarkModel
from edge_app.records import COCO17_KEYPOINTS, Detection

DETECTION_IOU = 0.3


def _read(person_or_path) -> np.ndarray:
    path = getattr(person_or_path, "image", person_or_path)
    image = cv2.imread(str(path))
    if image is None:
        raise VigilError(f"{path}: cannot decode image")
    return image


def evaluate_gt_box(coco: CocoSet, landmarks: LandmarkModel, progress: Iterable | None = None) -> dict:
    oks_values, hits, errors = [], [], []
    cache: dict = {}
    for person in (progress if progress is not None else coco.people):
        if person.image not in cache:
            cache = {person.image: _read(person)}
        pose = landmarks.estimate(cache[person.image], person.roi())
        pred = pose.coco17()
        oks_values.append(oks(pred, person.keypoints, person.area))
        hits.append(pck(pred, person.keypoints, person.box))
        errors.append(keypoint_errors(pred, person.keypoints))
    return {"mode": "gt-box", **summarize(oks_values, hits, errors, COCO17_KEYPOINTS)}


FINDER_BOX_IOU = 0.5


def person_found(person: Person, detections: list[Detection]) -> bool:
    """Whether a labelled person is among ``detections``. A body-based detection (it has ``body`` keypoints) counts
    when its box overlaps the person's box with IoU >= 0.5 (the usual detection criterion); a face-anchored one, whose
    box is not the body's, when its ROI centre lies in the person's box and the ROI's bounding box overlaps the
    person's square ground-truth crop with IoU >= 0.3."""
    if any(d.body is not None and box_iou(d.box, person.box) >= FINDER_BOX_IOU for d in detections):
        return True
    x0, y0, x1, y1 = person.box
    target = person.roi().bounding_box()
    for d in detections:
        if d.body is not None:
            continue
        roi = roi_from_alignment(d.keypoints[0], d.keypoints[1])
        if x0 <= roi.cx <= x1 and y0 <= roi.cy <= y1 and box_iou(roi.bounding_box(), target) >= DETECTION_IOU:
            return True
    return False


def detector_recall(coco: CocoSet, detector: PoseDetector, progress: Iterable | None = None) -> dict:
    """Person recall of a face-anchored detector over every image of ``coco`` at its ``min_score``, and what it found
    per image (``detections``: image id -> ROI bounding boxes [x0, y0, x1, y1], image pixels) so that a run can be
    compared detection by detection with the f32 one (:func:`detections_agreement`)."""
    found = total = 0
    by_image: dict[int, list[Person]] = {}
    for p in coco.people:
        by_image.setdefault(p.image_id, []).append(p)
    boxes: dict[str, list[list[float]]] = {}
    for image_id in (progress if progress is not None else by_image):
        people = by_image[image_id]
        # a newcomer needs min_score (a body finder also returns weaker detections, for people already tracked)
        detections = [d for d in detector.detect(_read(people[0])) if d.score >= detector.min_score]
        found += sum(person_found(p, detections) for p in people)
        total += len(people)
        boxes[str(image_id)] = [[round(v, 1) for v in roi_from_alignment(d.keypoints[0], d.keypoints[1]).bounding_box()]
                                for d in detections]
    return {"people": total, "found": found, "recall": round(found / total, 4) if total else None,
            "min_score": detector.min_score, "detections": boxes}


def detections_agreement(got: dict[str, list], ref: dict[str, list], iou: float = 0.5) -> float:
    """Mean over images of the F1 of one run's detections against the reference run's (boxes matched one to one,
    greedily, at box IoU >= ``iou``); 1 for an image where neither found anyone. ``got``/``ref``: image id -> boxes
    [x0, y0, x1, y1], as :func:`detector_recall` records them."""
    scores = []
    for image_id, b in ref.items():
        a = got.get(image_id, [])
        if not a and not b:
            scores.append(1.0)
            continue
        used: set[int] = set()
        for x in a:
            best = max(((box_iou(x, y), j) for j, y in enumerate(b) if j not in used), default=(0.0, -1))
            if best[0] >= iou:
                used.add(best[1])
        scores.append(2 * len(used) / (len(a) + len(b)))
    return float(np.mean(scores)) if scores else 1.0


def finder_accuracy(coco: CocoSet, finder, progress: Iterable | None = None) -> dict:
    """A body-based person finder alone: COCO keypoint AP of its own 17 keypoints (scored by its person score) and
    person recall (box IoU >= 0.5) at its score threshold, over every image of ``coco``."""
    by_image: dict[int, list[Person]] = {}
    for p in coco.people:
        by_image.setdefault(p.image_id, []).append(p)
    results, found, total = [], 0, 0
    for image_id in (progress if progress is not None else by_image):
        people = by_image[image_id]
        detections = finder.detect(_read(people[0]))
        for d in detections:
            results.append({"image_id": image_id, "category_id": 1, "score": float(d.score),
                            "keypoints": [float(v) for v in np.column_stack([d.body[:, :2], np.ones(17)]).reshape(-1)]})
        found += sum(person_found(p, detections) for p in people)
        total += len(people)
    return {"people": total, "found": found, "recall": round(found / total, 4) if total else None,
            "min_score": finder.min_score, "predictions": len(results), **coco_ap(coco, results, list(by_image))}


def evaluate_full(coco: CocoSet, detector: PoseDetector, landmarks: LandmarkModel, max_people: int = 8,
                  progress: Iterable | None = None) -> dict:
    """The whole pipeline on each image; COCO keypoint AP plus OKS/PCK of the best match of each person."""
    by_image: dict[int, list[Person]] = {}
    for p in coco.people:
        by_image.setdefault(p.image_id, []).append(p)
    results, oks_values, hits, errors = [], [], [], []
    engine = PoseEngine(detector, landmarks, EngineSettings(max_people=max_people, detect_every=0))
    for image_id in (progress if progress is not None else by_image):
        people = by_image[image_id]
        image = _read(people[0])
        engine.reset()
        poses = engine.process(image)
        for pose in poses:
            kp = pose.coco17()
            score = pose.finder_score if pose.body is not None else pose.score  # the finder ranks people better
            results.append({"image_id": image_id, "category_id": 1, "score": float(score),
                            "keypoints": [float(v) for v in np.column_stack([kp[:, :2], np.ones(17)]).reshape(-1)]})
        for person in people:  # greedy: best OKS among the image's predictions (0 when nothing was found)
            best, best_pred = 0.0, None
            for pose in poses:
                value = oks(pose.coco17(), person.keypoints, person.area)
                if value > best:
                    best, best_pred = value, pose.coco17()
            oks_values.append(best)
            if best_pred is not None:
                hits.append(pck(best_pred, person.keypoints, person.box))
                errors.append(keypoint_errors(best_pred, person.keypoints))
            else:
                hits.append(np.zeros(int(person.labelled.sum())))
    summary = {"mode": "full", **summarize(oks_values, hits, errors, COCO17_KEYPOINTS),
               "predictions": len(results)}
    summary.update(coco_ap(coco, results, list(by_image)))
    return summary


def coco_ap(coco: CocoSet, results: list[dict], image_ids: list[int]) -> dict:
    """COCO keypoint AP, AP50, AP75 with pycocotools over the images evaluated."""
    try:
        from pycocotools.coco import COCO
        from pycocotools.cocoeval import COCOeval
    except ImportError:
        raise VigilError("--mode full needs pycocotools (pip install '.[toolchain]')") from None
    if not results:
        return {"ap": 0.0, "ap50": 0.0, "ap75": 0.0}
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = coco.raw
        gt.createIndex()
        dt = gt.loadRes(results)
        ev = COCOeval(gt, dt, "keypoints")
        ev.params.imgIds = image_ids
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return {"ap": round(float(ev.stats[0]), 4), "ap50": round(float(ev.stats[1]), 4),
            "ap75": round(float(ev.stats[2]), 4)}
