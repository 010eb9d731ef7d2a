"""The body-based person finder's pure parts (decoding, ROI alignment, finder-only poses), person confirmation in
the tracker, and the nobody-found hint: no models, no processes."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from edge_app.config import Config, ModelsConfig, PoseConfig
from edge_app.pose.finder import BLAZEPOSE_FROM_COCO17, alignment_from_body, decode, pose_from_body
from edge_app.pose.geometry import roi_from_alignment
from edge_app.records import BLAZEPOSE_LANDMARKS, COCO17_KEYPOINTS, Detection, Pose, RotatedRect
from edge_app.stream import nobody_hint
from edge_app.tracking.tracker import Tracker, TrackerSettings, plausible_body


def body17(cx: float, cy: float, height: float, lying: bool = False, score: float = 0.9) -> np.ndarray:
    """(17, 3) COCO keypoints of a standing (or lying, head to the right) person centred on the hips."""
    offsets = {0: (0, -0.45), 1: (-0.02, -0.47), 2: (0.02, -0.47), 3: (-0.05, -0.45), 4: (0.05, -0.45),
               5: (-0.1, -0.3), 6: (0.1, -0.3), 7: (-0.12, -0.15), 8: (0.12, -0.15), 9: (-0.12, 0.0),
               10: (0.12, 0.0), 11: (-0.08, 0.0), 12: (0.08, 0.0), 13: (-0.08, 0.25), 14: (0.08, 0.25),
               15: (-0.08, 0.5), 16: (0.08, 0.5)}
    out = np.zeros((17, 3))
    for i, (x, y) in offsets.items():
        if lying:
            x, y = -y, x
        out[i] = (cx + x * height, cy + y * height, score)
    return out


def box_of(body: np.ndarray) -> tuple[float, float, float, float]:
    return (float(body[:, 0].min()), float(body[:, 1].min()), float(body[:, 0].max()), float(body[:, 1].max()))


def test_blazepose_layout_from_coco17_maps_each_point_to_its_nearest_coco_keypoint():
    for blaze_index, coco_index in enumerate(BLAZEPOSE_FROM_COCO17):
        blaze, coco = BLAZEPOSE_LANDMARKS[blaze_index], COCO17_KEYPOINTS[coco_index]
        side = "left" if blaze.startswith("left") else "right" if blaze.startswith("right") else None
        if side:
            assert coco.startswith(side), (blaze, coco)
        if blaze in COCO17_KEYPOINTS:
            assert blaze == coco


def test_a_lying_person_gets_an_upright_roi_centred_on_the_hips():
    body = body17(300, 200, 200, lying=True)
    align = alignment_from_body(body, box_of(body))
    roi = roi_from_alignment(align[0], align[1])
    assert np.allclose(align[0], (300, 200))
    assert abs(abs(roi.rotation) - math.pi / 2) < 1e-6  # rotated a quarter turn: the crop shows them upright
    assert roi.width >= 200  # the whole body fits
    standing = body17(300, 200, 200)
    up = roi_from_alignment(*alignment_from_body(standing, box_of(standing))[:2])
    assert abs(up.rotation) < 1e-6 and up.width == pytest.approx(roi.width)


def test_unseen_hips_fall_back_to_the_box_centre_and_upright():
    body = body17(100, 100, 100, score=0.9)
    body[[11, 12], 2] = 0.05
    align = alignment_from_body(body, (50.0, 40.0, 150.0, 160.0))
    assert np.allclose(align[0], (100, 100)) and align[1][0] == 100 and align[1][1] < 100


def test_decode_maps_a_view_back_to_image_pixels():
    view = RotatedRect(400, 300, 800, 800)  # a letterboxed 800x600 frame
    row = np.zeros(56)
    body = body17(0.5, 0.5, 0.25)  # normalised coordinates of the view
    row[:51] = np.column_stack([body[:, 1], body[:, 0], body[:, 2]]).reshape(-1)  # (y, x, score)
    row[51:56] = (0.3, 0.45, 0.7, 0.55, 0.8)  # ymin, xmin, ymax, xmax, score
    raw = np.zeros((1, 6, 56))
    raw[0, 0] = row
    raw[0, 1, 55] = 0.05  # below the threshold
    found = decode(raw, view, min_score=0.2)
    assert len(found) == 1
    d = found[0]
    assert np.allclose(d.box, (360, 140, 440, 460)) and d.score == 0.8  # the view spans y -100..700
    assert np.allclose(d.body[11, :2], (400 - 0.08 * 0.25 * 800, 300))  # the left hip, in pixels


def test_a_finder_only_pose_keeps_coco_points_and_a_flat_metric_body():
    body = body17(300, 200, 200)
    d = Detection(box_of(body), alignment_from_body(body, box_of(body)), 0.7, body)
    pose = pose_from_body(d, RotatedRect(300, 200, 300, 300))
    assert pose.source == "finder" and pose.finder_score == 0.7 and pose.landmarks.shape == (33, 5)
    assert np.allclose(pose.landmarks[23, :2], body[11, :2]) and np.allclose(pose.landmarks[28, :2], body[16, :2])
    torso = np.linalg.norm((pose.world[11] + pose.world[12]) / 2 - (pose.world[23] + pose.world[24]) / 2)
    assert abs(torso - 0.5) < 1e-6  # metres
    assert np.allclose(pose.coco17(), body)  # the finder's own keypoints are the COCO view


def pose_from(body: np.ndarray, finder_score: float, presence: float = 0.9) -> Pose:
    d = Detection(box_of(body), alignment_from_body(body, box_of(body)), finder_score, body)
    p = pose_from_body(d, RotatedRect(0, 0, 10, 10))
    return dataclasses.replace(p, score=presence, finder_score=finder_score, source="landmarks")


def test_with_a_body_finder_only_what_it_sees_as_a_person_is_confirmed():
    tracker = Tracker(TrackerSettings(evidence="finder"))
    person = [pose_from(body17(100, 200, 150), 0.6)]
    thing = [pose_from(body17(500, 200, 150), 0.0, presence=1.0)]  # landmarks sure of it, the finder not
    for i in range(10):
        confirmed = tracker.update(person + thing, i / 10)
    assert len(confirmed) == 1 and confirmed[0].pose.finder_score == 0.6
    face_tracker = Tracker(TrackerSettings(evidence="landmarks"))
    for i in range(3):
        confirmed = face_tracker.update(thing, i / 10)
    assert len(confirmed) == 1  # with the face-anchored detector, the landmark model's pose flag is the evidence


def test_implausible_bodies_are_no_evidence():
    body = body17(100, 200, 150)
    assert plausible_body(pose_from(body, 0.9).landmarks, box_of(body), 10)
    assert not plausible_body(pose_from(body17(100, 200, 6), 0.9).landmarks, box_of(body17(100, 200, 6)), 10)
    flat = body.copy()
    flat[[5, 6], :2] = flat[[11, 12], :2]  # shoulders on the hips: no torso
    assert not plausible_body(pose_from(flat, 0.9).landmarks, box_of(flat), 10)
    tracker = Tracker(TrackerSettings(evidence="finder"))
    for i in range(10):
        assert tracker.update([pose_from(flat, 0.9)], i / 10) == []


def test_the_nobody_hint_names_the_frame_the_finder_and_what_helps():
    cfg = Config(models=ModelsConfig(detector="pose_detector"), pose=PoseConfig(min_detection_score=0.5))
    text = nobody_hint("lobby", 3840, 2160, 60.0, cfg)
    assert "lobby" in text and "3840x2160" in text and "60 s" in text
    assert "person_finder" in text and "pose.tiles" in text and "min_detection_score" in text
    cctv = Config(models=ModelsConfig(detector="person_finder"), pose=PoseConfig(tiles=(2, 2)))
    assert "models.detector" not in nobody_hint("lobby", 3840, 2160, 60.0, cctv)


def test_other_keypoint_layouts_are_remapped_onto_coco17_by_name():
    from convert.coco import to_coco17

    names = ["left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip",
             "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle", "head", "neck"]  # CrowdPose
    keypoints = [v for i in range(14) for v in (10.0 * i, 5.0 * i, 2)]
    raw = {"categories": [{"keypoints": names}], "annotations": [{"keypoints": keypoints, "num_keypoints": 14}]}
    out = to_coco17(raw)
    kp = np.asarray(out["annotations"][0]["keypoints"]).reshape(17, 3)
    assert out["categories"][0]["keypoints"] == list(COCO17_KEYPOINTS)
    assert out["annotations"][0]["num_keypoints"] == 12  # head and neck have no COCO-17 place; the face is unlabelled
    assert kp[COCO17_KEYPOINTS.index("nose"), 2] == 0
    assert np.allclose(kp[COCO17_KEYPOINTS.index("left_hip")], (60.0, 30.0, 2))
    coco = {"categories": [{"keypoints": list(COCO17_KEYPOINTS)}], "annotations": []}
    assert to_coco17(coco) is coco


def test_views_agreement_is_box_f1_times_the_matches_similarity():
    from convert.kinds import views_agreement

    body = body17(100, 100, 100)
    d = Detection(box_of(body), alignment_from_body(body, box_of(body)), 0.9, body)
    far = Detection((500.0, 500.0, 560.0, 600.0), d.keypoints, 0.9, body)
    assert views_agreement([[d], []], [[d], []]) == 1.0  # a match, and a view where neither found anyone
    assert views_agreement([[d, far]], [[d]]) == pytest.approx(2 / 3)  # one of two matched: F1 2/3
    assert views_agreement([[d]], [[d]], lambda x, y: 0.5) == 0.5  # the match's similarity scales it
    assert views_agreement([[far]], [[d]]) == 0.0


def test_detector_bound_needs_the_same_people_as_f32_not_only_as_many():
    """A run that finds as many people as f32 but not the same ones (a phantom beside a real one, one missed) fails
    the detector's bound; the same boxes, shifted a little, pass; metrics without detections are judged on recall."""
    from convert.evaluate import detections_agreement
    from convert.kinds import DetectorKind

    a, b, c = [10, 10, 60, 110], [200, 40, 260, 160], [400, 50, 450, 150]
    ref = {"detections": {"1": [a, b], "2": [], "3": [c]}, "recall": 0.5}
    same = {"detections": {"1": [[12, 11, 61, 112], b], "2": [], "3": [c]}, "recall": 0.5}
    swapped = {"detections": {"1": [a, c], "2": [], "3": [c]}, "recall": 0.5}  # b lost, a phantom at c
    assert detections_agreement(same["detections"], ref["detections"]) == 1.0
    assert detections_agreement(swapped["detections"], ref["detections"]) == pytest.approx((0.5 + 1 + 1) / 3)
    assert DetectorKind.meets_bound(same, ref) and not DetectorKind.meets_bound(swapped, ref)
    assert not DetectorKind.meets_bound({**same, "recall": 0.4}, ref)  # recall still counts
    assert DetectorKind.meets_bound({"recall": 0.5}, {"recall": 0.5})  # an older manifest's metrics: recall alone
