"""Pure geometry of the pose engine: ROIs, crops, anchors, NMS. Needs nothing but the repository."""

import math

import cv2
import numpy as np
import pytest

from edge_app.pose import detector as det
from edge_app.pose.geometry import box_iou, crop, roi_from_alignment, roi_from_box, weighted_nms
from edge_app.records import BLAZEPOSE_LANDMARKS, COCO17_FROM_BLAZEPOSE, Detection, RotatedRect


def test_upright_person_gets_unrotated_roi():
    roi = roi_from_alignment(np.array([100.0, 200.0]), np.array([100.0, 120.0]))
    assert roi.rotation == pytest.approx(0.0)
    assert roi.width == pytest.approx(2 * 80 * 1.25)
    assert (roi.cx, roi.cy) == (100.0, 200.0)


def test_lying_person_roi_points_up_toward_the_head():
    # head to the right of the hips: the crop's "up" must point right in the image
    roi = roi_from_alignment(np.array([100.0, 100.0]), np.array([180.0, 100.0]))
    assert roi.rotation == pytest.approx(math.pi / 2)
    top_centre = roi.to_image(np.array([[0.5, 0.0]]))[0]
    assert top_centre[0] > roi.cx + 50 and top_centre[1] == pytest.approx(roi.cy)


def test_crop_samples_the_rotated_rect():
    image = np.zeros((200, 300, 3), np.uint8)
    cv2.rectangle(image, (140, 40), (160, 60), (255, 255, 255), -1)  # a white square at (150, 50)
    # a 90-degree ROI centred on (150, 100): image point (150, 50) lies on the crop's left edge, at mid height
    roi = RotatedRect(150.0, 100.0, 100.0, 100.0, math.pi / 2)
    patch = crop(image, roi, 100)
    ys, xs = np.nonzero(patch[:, :, 0] > 128)
    assert abs(xs.mean() - 0) < 12 and abs(ys.mean() - 50) < 3
    back = roi.to_image(np.array([[xs.mean() / 100, ys.mean() / 100]]))[0]
    assert np.allclose(back, [150, 50], atol=6)


def test_crop_matrix_round_trip_identity():
    roi = RotatedRect(64.0, 64.0, 128.0, 128.0, 0.0)
    image = np.random.default_rng(0).integers(0, 255, (128, 128, 3), dtype=np.uint8)
    assert np.array_equal(crop(image, roi, 128), image)


def test_roi_from_box_is_square_and_scaled():
    roi = roi_from_box((10, 20, 50, 120), 1.25)
    assert roi.width == roi.height == pytest.approx(125.0)
    assert (roi.cx, roi.cy) == (30.0, 70.0)


def test_ssd_anchors_match_mediapipe_layout():
    anchors = det.ssd_anchors()
    assert anchors.shape == (2254, 2)
    assert np.allclose(anchors[0], [0.5 / 28, 0.5 / 28]) and np.allclose(anchors[1], anchors[0])
    assert np.allclose(anchors[1568], [0.5 / 14, 0.5 / 14])
    assert np.allclose(anchors[-1], [6.5 / 7, 6.5 / 7])


def test_decode_maps_into_the_view():
    reg = np.zeros((1, 2254, 12), np.float32)
    logits = np.full((1, 2254, 1), -10, np.float32)
    logits[0, 1600] = 5.0
    reg[0, 1600, 2:4] = 56.0  # 56 of 224 px wide and high
    view = det.whole_image_view(640, 480)
    found = det.decode(reg, logits, view, 0.5)
    assert len(found) == 1
    ax, ay = det.ssd_anchors()[1600]
    cx, cy = view.to_image(np.array([[ax, ay]]))[0]
    x0, y0, x1, y1 = found[0].box
    assert (x0 + x1) / 2 == pytest.approx(cx) and (y0 + y1) / 2 == pytest.approx(cy)
    assert x1 - x0 == pytest.approx(640 / 4)


def test_tiles_cover_the_frame():
    views = det.tile_views(1280, 720, 2, 2, overlap=0.25)
    assert len(views) == 4
    boxes = [v.bounding_box() for v in views]
    assert min(b[0] for b in boxes) <= 0 and max(b[2] for b in boxes) >= 1280
    assert min(b[1] for b in boxes) <= 0 and max(b[3] for b in boxes) >= 720


def test_weighted_nms_merges_overlaps_and_keeps_separate_people():
    kp = np.zeros((4, 2))
    a = Detection((0, 0, 10, 10), kp + 1, 0.9)
    b = Detection((1, 1, 11, 11), kp + 3, 0.6)
    c = Detection((50, 50, 60, 60), kp, 0.7)
    out = weighted_nms([b, c, a], 0.3)
    assert len(out) == 2
    merged = out[0]
    assert merged.score == 0.9
    assert merged.keypoints[0, 0] == pytest.approx((1 * 0.9 + 3 * 0.6) / 1.5)
    assert box_iou(out[1].box, c.box) == pytest.approx(1.0)


def test_coco_mapping_names():
    assert len(COCO17_FROM_BLAZEPOSE) == 17
    assert BLAZEPOSE_LANDMARKS[COCO17_FROM_BLAZEPOSE[5]] == "left_shoulder"
    assert BLAZEPOSE_LANDMARKS[COCO17_FROM_BLAZEPOSE[16]] == "right_ankle"
