"""COCO person-keypoint annotations: the people Vigil evaluates on, and their ground-truth crops."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge_app.errors import VigilError
from edge_app.pose.geometry import roi_from_box
from edge_app.records import COCO17_KEYPOINTS, RotatedRect

# Scale of the square ground-truth crop around a person's box (MediaPipe's ROI scale).
GT_CROP_SCALE = 1.25


@dataclass(frozen=True)
class Person:
    image: Path
    image_id: int
    annotation_id: int
    box: tuple[float, float, float, float]  # x0, y0, x1, y1
    keypoints: np.ndarray  # (17, 3) x, y, v (v > 0: labelled)
    area: float

    @property
    def labelled(self) -> np.ndarray:
        return self.keypoints[:, 2] > 0

    def roi(self, scale: float = GT_CROP_SCALE) -> RotatedRect:
        return roi_from_box(self.box, scale)


@dataclass(frozen=True)
class CocoSet:
    annotations: Path
    images_dir: Path
    images: dict[int, Path]
    image_sizes: dict[int, tuple[int, int]]
    people: list[Person]  # people with at least ``min_keypoints`` labelled keypoints
    raw: dict


def to_coco17(raw: dict) -> dict:
    """An annotation file of another keypoint layout (CrowdPose's 14 points, say) remapped onto COCO-17 by keypoint
    name: COCO points it does not label (CrowdPose has no eyes, ears or nose) are unlabelled (v = 0), its points that
    COCO lacks (head top, neck) are dropped, ``num_keypoints`` recounted. A COCO-17 file is returned unchanged."""
    names = list(raw.get("categories", [{}])[0].get("keypoints", COCO17_KEYPOINTS))
    if names == list(COCO17_KEYPOINTS):
        return raw
    index = {name: i for i, name in enumerate(names)}
    shared = [name for name in COCO17_KEYPOINTS if name in index]
    if len(shared) < 8:
        raise VigilError(f"keypoints {names[:4]}...: too few COCO-17 keypoints to evaluate ({len(shared)})")
    annotations = []
    for ann in raw["annotations"]:
        src = np.asarray(ann["keypoints"], dtype=np.float64).reshape(-1, 3)
        out = np.zeros((17, 3))
        for k, name in enumerate(COCO17_KEYPOINTS):
            if name in index:
                out[k] = src[index[name]]
        annotations.append({**ann, "keypoints": [float(v) for v in out.reshape(-1)],
                            "num_keypoints": int((out[:, 2] > 0).sum())})
    categories = [{**raw["categories"][0], "keypoints": list(COCO17_KEYPOINTS)}]
    return {**raw, "annotations": annotations, "categories": categories}


def load_coco(annotations: str | Path, images_dir: str | Path, min_keypoints: int = 5) -> CocoSet:
    annotations, images_dir = Path(annotations), Path(images_dir)
    if not annotations.is_file():
        raise VigilError(f"{annotations}: annotation file not found")
    if not images_dir.is_dir():
        raise VigilError(f"{images_dir}: image folder not found")
    try:
        raw = to_coco17(json.loads(annotations.read_text()))
        images = {int(im["id"]): images_dir / im["file_name"] for im in raw["images"]}
        sizes = {int(im["id"]): (int(im["width"]), int(im["height"])) for im in raw["images"]}
        anns = raw["annotations"]
        for ann in anns:  # CrowdPose and others leave out the area that COCO's OKS divides by: the box's, as COCO
            ann.setdefault("area", float(ann["bbox"][2]) * float(ann["bbox"][3]))
    except VigilError as exc:
        raise VigilError(f"{annotations}: {exc}") from None
    except (ValueError, KeyError, TypeError, IndexError) as exc:
        raise VigilError(f"{annotations}: not a COCO keypoint annotation file ({type(exc).__name__}: {exc})") from None
    people = []
    for ann in anns:
        if ann.get("iscrowd", 0) or int(ann.get("num_keypoints", 0)) < min_keypoints:
            continue
        if int(ann["image_id"]) not in images or not images[int(ann["image_id"])].is_file():
            continue
        x, y, w, h = (float(v) for v in ann["bbox"])
        people.append(Person(image=images[int(ann["image_id"])], image_id=int(ann["image_id"]),
                             annotation_id=int(ann["id"]), box=(x, y, x + w, y + h),
                             keypoints=np.asarray(ann["keypoints"], dtype=np.float64).reshape(17, 3),
                             area=float(ann.get("area", w * h))))
    if not people:
        raise VigilError(f"{annotations}: no people with >= {min_keypoints} labelled keypoints and an image "
                         f"in {images_dir}")
    return CocoSet(annotations, images_dir, images, sizes, people, raw)
