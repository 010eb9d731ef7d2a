"""The body-based person finder on real footage (issue 14): both people of the two-people case tracked from the
start and one fall alert, on the faller; a track on the floor through UR Fall's lying frames; the whole pipeline's
COCO keypoint AP and recall with the CCTV config."""

from __future__ import annotations

import csv

import cv2
import numpy as np
import pytest

from edge_app.app import build_pose_stack
from edge_app.config import load_config
from helpers.person_finder_footage import CCTV
from support import need_shared


@pytest.fixture(scope="module")
def cctv_stack(manifest):
    if "person_finder" not in manifest["models"]:
        pytest.skip("person_finder not built (run `make models`)")
    cfg = load_config(CCTV)
    return cfg, build_pose_stack(cfg)


def lying_coverage(cfg, stack, clips: range) -> tuple[int, int]:
    from edge_app.tracking.tracker import Tracker

    root = need_shared("falls", "urfd")
    labels = {(r[0], int(r[1])): int(r[2]) for r in csv.reader(open(root / "urfall-cam0-falls.csv"))}
    hit = total = 0
    for n in clips:
        seq = f"fall-{n:02d}"
        engine, tracker = stack.engine(cfg), Tracker(stack.tracker_settings(cfg))
        cap = cv2.VideoCapture(str(root / f"{seq}-cam0.mp4"))
        i = 0
        while True:
            ok, image = cap.read()
            if not ok:
                break
            i += 1
            tracks = tracker.update(engine.process(np.ascontiguousarray(image[:, 320:])), i / 30)
            if labels.get((seq, i)) == 1:
                total += 1
                hit += bool(tracks)
        cap.release()
    return hit, total


def test_people_on_the_floor_keep_a_track(cctv_stack):
    """UR Fall 01-20, RGB half: share of the frames labelled lying in which a confirmed track exists."""
    cfg, stack = cctv_stack
    hit, total = lying_coverage(cfg, stack, range(1, 21))
    print(f"\nUR Fall lying frames with a track (configs/cctv.yaml): {hit}/{total} = {hit / total:.3f}")
    assert total > 700
    assert hit / total >= 0.90  # issue 14's bound; measured 0.934 (most of the rest: a person lying cut off by the
