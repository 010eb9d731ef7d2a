"""The pose engine on real images and footage, with the INT8 models the runtime chooses, compiled as the runtime
compiles them (their input conversion inside the model)."""

from __future__ import annotations

import time

import cv2
import numpy as np
import pytest

from convert.coco import load_coco
from convert.evaluate import evaluate_gt_box
from convert.pose_metrics import oks, pck
from edge_app.inference.model_store import ModelStore
from edge_app.pose.detector import PoseDetector
from edge_app.pose.engine import EngineSettings, PoseEngine
from edge_app.pose.landmarks import LandmarkModel
from support import MODELS_IR, need_shared


@pytest.fixture(scope="module")
def models(manifest, runtime):
    store = ModelStore(MODELS_IR)
    detector = PoseDetector(store.choose("pose_detector", runtime, "int8", PoseDetector.prepare).compiled)
    landmarks = LandmarkModel(store.choose("pose_landmark_full", runtime, "int8", LandmarkModel.prepare).compiled)
    assert detector.in_model and landmarks.in_model  # the host hands them uint8 patches
    return detector, landmarks


@pytest.fixture(scope="module")
def coco():
    root = need_shared("pose", "coco_minitrain")
    return load_coco(root / "person_keypoints.json", root / "images")


def test_two_people_in_a_real_photo(models, coco):
    image_id = 99293
    people = [p for p in coco.people if p.image_id == image_id]
    assert len(people) == 2
    engine = PoseEngine(*models, EngineSettings(max_people=8))
    image = cv2.imread(str(coco.images[image_id]))
    started = time.perf_counter()
    poses = engine.process(image)
    elapsed = time.perf_counter() - started
    assert len(poses) == 2
    # the stage split of this frame (detector + two ROIs through the async queue) adds up to no more than its wall
    times = engine.times
    assert times.preprocess > 0 and times.infer > 0 and times.postprocess > 0
    assert times.preprocess + times.infer + times.postprocess <= elapsed
    for person in people:
        best = max(poses, key=lambda p: oks(p.coco17(), person.keypoints, person.area))
        assert pck(best.coco17(), person.keypoints, person.box).mean() >= 0.6
        assert oks(best.coco17(), person.keypoints, person.area) >= 0.3


def test_keypoints_near_ground_truth_on_coco_crops(models, coco):
    result = evaluate_gt_box(coco, models[1])
    assert result["people"] >= 40
    assert result["pck_0.2"] >= 0.7 and result["mean_oks"] >= 0.4
    errors = result["keypoint_error_px"]
    assert len(errors) == 17 and all(v is not None and 0 < v < 100 for v in errors.values())


def test_one_person_tracked_through_a_fall_clip(models):
    clip = need_shared("falls", "urfd", "fall-01-cam0.mp4")
    cap = cv2.VideoCapture(str(clip))
    engine = PoseEngine(*models, EngineSettings(max_people=4, detect_every=10))
    counts, detections, hips = [], 0, []
    for _ in range(120):
        ok, frame = cap.read()
        if not ok:
            break
        rgb = np.ascontiguousarray(frame[:, 320:])  # right half is RGB, left half is depth
        poses = engine.process(rgb)
        detections += engine.last_detected
        counts.append(len(poses))
        if poses:
            hips.append(poses[0].landmarks[[23, 24], :2].mean(axis=0))
    cap.release()
    found = [c for c in counts if c]
    assert len(found) >= 0.9 * len(counts), counts
    assert max(counts) == 1  # one person, never duplicated
    assert detections < len(counts) / 3  # tracking mode: the detector does not run every frame
    steps = np.linalg.norm(np.diff(np.array(hips), axis=0), axis=1)
    assert np.median(steps) < 10  # smooth track, in pixels per frame at 30 fps


def test_world_landmarks_are_metric(models):
    clip = need_shared("falls", "upfall_s1", "Activity7", "Trial1Cam1.mp4")  # standing
    cap = cv2.VideoCapture(str(clip))
    for _ in range(30):
        ok, frame = cap.read()
    cap.release()
    poses = PoseEngine(*models).process(frame)
    assert len(poses) == 1
    w = poses[0].world
    shoulder_width = np.linalg.norm(w[11] - w[12])
    hip_to_ankle = np.linalg.norm((w[23] + w[24]) / 2 - (w[27] + w[28]) / 2)
    assert 0.2 < shoulder_width < 0.6 and 0.6 < hip_to_ankle < 1.2
    lm = poses[0].landmarks
    assert (lm[:, 3] >= 0).all() and (lm[:, 3] <= 1).all() and (lm[:, 4] <= 1).all()


def test_tiled_detection_finds_a_small_person(models):
    """A person shrunk to a corner of a large frame: the whole-frame view misses them, the tiles find them."""
    clip = need_shared("falls", "upfall_s1", "Activity7", "Trial1Cam1.mp4")
    cap = cv2.VideoCapture(str(clip))
    for _ in range(30):
        ok, frame = cap.read()
    cap.release()
    canvas = np.full((1440, 1920, 3), 90, np.uint8)
    small = cv2.resize(frame, (320, 240))
    canvas[1100:1340, 1500:1820] = small
    detector, _ = models
    whole = PoseDetector(detector.compiled, tiles=None).detect(canvas)
    tiled = PoseDetector(detector.compiled, tiles=(3, 3)).detect(canvas)
    assert len(tiled) >= 1
    x0, y0, x1, y1 = tiled[0].box
    assert 1450 < (x0 + x1) / 2 < 1850 and 1050 < (y0 + y1) / 2 < 1360
    assert len(tiled) >= len(whole)


@pytest.mark.parametrize("family", ["pose_detector", "person_finder", "pose_landmark_full"])
def test_preprocessing_inside_the_model_gives_what_the_host_conversion_gives(family, manifest, runtime):
    """Each image model family's PrePostProcessor steps (uint8 BGR in) against the same conversion on the host (the
    toolchain's reference), f32 on real frames: the same outputs, to float rounding."""
    from edge_app.app import FINDER_CLASSES
    from edge_app.records import RotatedRect

    store = ModelStore(MODELS_IR)
    cls = LandmarkModel if family == "pose_landmark_full" else FINDER_CLASSES[store.kind(family)]
    inside = cls(store.choose(family, runtime, "f32", cls.prepare).compiled)
    host = cls(store.choose(family, runtime, "f32").compiled)
    assert inside.in_model and not host.in_model
    assert inside.preprocess(np.zeros((300, 300, 3), np.uint8), RotatedRect(150, 150, 200, 200)).dtype == np.uint8
    cap = cv2.VideoCapture(str(need_shared("falls", "upfall_s1", "Activity7", "Trial1Cam1.mp4")))
    found = 0
    for _ in range(3):
        for _ in range(20):
            ok, frame = cap.read()
        assert ok
        for roi in (RotatedRect(320, 240, 480, 480, 0.0), RotatedRect(300, 260, 260, 260, 0.6)):
            a, b = inside(frame, roi), host(frame, roi)
            if family == "pose_landmark_full":
                assert abs(a.score - b.score) < 1e-3
                assert np.abs(a.landmarks[:, :2] - b.landmarks[:, :2]).max() < 0.05  # image pixels
            else:
                assert [round(d.score, 3) for d in a] == [round(d.score, 3) for d in b]
                assert all(np.abs(np.subtract(x.box, y.box)).max() < 0.05 for x, y in zip(a, b))
                found += len(a)
    assert found or family == "pose_landmark_full"  # the finders saw the person: something was compared
