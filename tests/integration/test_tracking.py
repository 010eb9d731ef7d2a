"""Tracking and posture: pure logic on synthetic poses, then on real footage."""

from __future__ import annotations

import numpy as np
import pytest

from edge_app.analysis.posture import PostureAnalyzer
from edge_app.tracking.tracker import Tracker


def _clip_tracks(path, crop_right=False, frames=None, stride=1):
    """Run the INT8 pose engine and the tracker over a real clip; (track ids seen per frame, posture events)."""
    import cv2

    from edge_app.inference.model_store import ModelStore
    from edge_app.inference.runtime import Runtime
    from edge_app.pose.detector import PoseDetector
    from edge_app.pose.engine import PoseEngine
    from edge_app.pose.landmarks import LandmarkModel
    from support import MODELS_IR

    rt = Runtime("CPU", threads=2)
    store = ModelStore(MODELS_IR)
    engine = PoseEngine(PoseDetector(store.choose("pose_detector", rt, "int8", PoseDetector.prepare).compiled),
                        LandmarkModel(store.choose("pose_landmark_full", rt, "int8", LandmarkModel.prepare).compiled))
    tracker, posture = Tracker(), PostureAnalyzer()
    cap = cv2.VideoCapture(str(path))
    fps = cap.get(cv2.CAP_PROP_FPS) or 30.0
    ids, events, i = [], [], 0
    while frames is None or i < frames:
        ok, frame = cap.read()
        if not ok:
            break
        if i % stride == 0:
            image = np.ascontiguousarray(frame[:, 320:]) if crop_right else frame
            t = i / fps
            tracks = tracker.update(engine.process(image), t)
            ids.append([tr.id for tr in tracks])
            for tr in tracks:
                events += posture.update(tr, "clip", t, 0.0)
        i += 1
    cap.release()
    return ids, events


@pytest.mark.parametrize("activity, trial", [(1, 1), (7, 1), (8, 2), (11, 1)])
def test_track_id_stable_on_single_person_upfall_clips(manifest, activity, trial):
    from support import need_shared

    clip = need_shared("falls", "upfall_s1", f"Activity{activity}", f"Trial{trial}Cam1.mp4")
    ids, _ = _clip_tracks(clip, stride=2)
    seen = {i for frame in ids for i in frame}
    assert len(seen) == 1, f"track ids {sorted(seen)}: an identity switch or a duplicate"
    assert sum(1 for f in ids if f) >= 0.6 * len(ids)


@pytest.mark.parametrize("activity, expected", [
    (11, ["lying"]),  # lies on the mat for the whole clip
    (8, ["standing", "sitting"]),  # walks in and sits down
])
def test_posture_seen_on_real_clips(manifest, activity, expected):
    from support import need_shared

    clip = need_shared("falls", "upfall_s1", f"Activity{activity}", "Trial1Cam1.mp4")
    _, events = _clip_tracks(clip, stride=2)
    postures = [e.details["posture"] for e in events]
    assert postures[: len(expected)] == expected, postures
