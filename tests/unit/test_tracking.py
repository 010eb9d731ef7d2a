"""Tracking and posture: pure logic on synthetic poses, then on real footage."""

from __future__ import annotations

import math

import numpy as np
import pytest

from edge_app.analysis.posture import PostureAnalyzer, classify, features
from edge_app.records import Pose, RotatedRect
from edge_app.tracking.one_euro import OneEuroFilter
from edge_app.tracking.tracker import Tracker, TrackerSettings


def skeleton(cx: float, cy: float, height: float = 200.0, lying: bool = False, sitting: bool = False,
             tilt: float = 0.0) -> np.ndarray:
    """(33, 5) landmarks of a simple stick figure centred at (cx, cy)."""
    lm = np.zeros((33, 5))
    lm[:, 3:] = 1.0
    h = height
    pts = {0: (0, -0.45), 11: (-0.1, -0.3), 12: (0.1, -0.3), 23: (-0.08, 0.0), 24: (0.08, 0.0),
           25: (-0.08, 0.25), 26: (0.08, 0.25), 27: (-0.08, 0.5), 28: (0.08, 0.5)}
    if sitting:
        pts.update({25: (-0.3, 0.02), 26: (-0.3, 0.04), 27: (-0.3, 0.28), 28: (-0.3, 0.3)})
    for i in range(33):
        x, y = pts.get(i, (0.0, -0.4 if i < 11 else 0.1))
        if lying:
            x, y = -y, x
        if tilt:  # rotate about the hips by ``tilt`` degrees
            c, s_ = math.cos(math.radians(tilt)), math.sin(math.radians(tilt))
            x, y = c * x - s_ * y, s_ * x + c * y
        lm[i, :2] = (cx + x * h, cy + y * h)
    return lm


def pose_at(lm: np.ndarray) -> Pose:
    box = (lm[:, 0].min(), lm[:, 1].min(), lm[:, 0].max(), lm[:, 1].max())
    roi = RotatedRect(float(lm[:, 0].mean()), float(lm[:, 1].mean()), 300, 300)
    return Pose(landmarks=lm, world=np.zeros((33, 3)), score=1.0, roi=roi, next_roi=roi, box=box)


def test_one_euro_removes_jitter_and_follows_motion():
    rng = np.random.default_rng(0)
    f = OneEuroFilter()
    raw = 100.0 + rng.normal(0, 0.5, 300)
    out = [f(np.array([v]), i / 30, scale=200.0)[0] for i, v in enumerate(raw)]
    assert np.std(out[20:]) < 0.8 * np.std(raw[20:])  # MediaPipe's parameters: jitter is damped
    g = OneEuroFilter()
    track = [g(np.array([100.0 + 300 * i / 30]), i / 30, scale=200.0)[0] for i in range(30)]
    assert abs(track[-1] - (100 + 300 * 29 / 30)) < 30  # a fast walk is followed with small lag


def test_ids_stable_for_two_walkers_and_hysteresis():
    tr = Tracker(TrackerSettings(min_hits=2, max_missed=3))
    ids = []
    for i in range(40):
        t = i / 15
        poses = [pose_at(skeleton(100 + 5 * i, 300)), pose_at(skeleton(600 - 5 * i, 300))]
        ids.append(sorted(track.id for track in tr.update(poses, t)))
    assert ids[0] == []  # not confirmed on the first sighting
    assert all(x == [1, 2] for x in ids[1:])
    for i in range(3):  # one walker disappears for 3 frames: the track survives
        tr.update([pose_at(skeleton(300, 300))], (40 + i) / 15)
    assert len(tr.tracks) == 2
    tr.update([], 44 / 15)
    assert len([t for t in tr.tracks if t.missed <= 3]) == 1


def test_smoothed_history_is_bounded():
    tr = Tracker(TrackerSettings(history=10))
    for i in range(50):
        tr.update([pose_at(skeleton(100, 100))], i / 30)
    assert len(tr.tracks[0].history) == 10


@pytest.mark.parametrize("kind, expected", [("standing", "standing"), ("sitting", "sitting"), ("lying", "lying")])
def test_posture_rules(kind, expected):
    lm = skeleton(300, 300, lying=kind == "lying", sitting=kind == "sitting")
    assert classify(features(lm)) == expected


def test_posture_events_only_on_held_changes():
    tr = Tracker(TrackerSettings(min_hits=1))
    an = PostureAnalyzer(hold_s=0.5)
    events = []
    tilt = np.concatenate([np.zeros(20), np.linspace(0, 90, 10), np.full(25, 90), np.linspace(90, 0, 10),
                           np.zeros(30)])
    tilt[48] = 50  # one frame that reads as not lying while lying
    for i, angle in enumerate(tilt):
        t = i / 30
        for track in tr.update([pose_at(skeleton(300, 300, tilt=angle))], t):
            events += an.update(track, "cam", t, 0.0)
    postures = [e.details["posture"] for e in events]
    assert postures == ["standing", "lying", "standing"]
    assert {e.track_id for e in events} == {1}
    first_lying = 20 + int(np.argmax(tilt[20:30] >= 60))
    assert events[1].media_time == pytest.approx(first_lying / 30 + 0.5, abs=0.05)
    assert math.isclose(events[0].media_time, 0.0)


def _walk_then_jump(shift_bodies: float, dt_jump: float, fps: float = 30.0) -> tuple[set[int], set[int]]:
    """A person walks for 1 s, then their next pose (``dt_jump`` s later) is ``shift_bodies`` body sizes away with
    arms stretched out sideways (so it does not look alike: only the hand-over stage could take it). Returns the
    track ids seen before the jump and at it."""
    tr = Tracker(TrackerSettings(min_hits=2))
    before: set[int] = set()
    t = 0.0
    for i in range(int(fps)):
        t = i / fps
        before |= {track.id for track in tr.update([pose_at(skeleton(200 + i, 300))], t)}
    lm = skeleton(200 + fps, 300)
    lm[[13, 15], 0] -= 60
    lm[[14, 16], 0] += 60  # arms out: the keypoints no longer look alike, the body's height stays
    lm[:, 1] += shift_bodies * (lm[:, 1].max() - lm[:, 1].min())
    tr.update([pose_at(lm)], t + dt_jump)
    after = tr.update([pose_at(lm)], t + dt_jump + 1 / fps)
    return before, {track.id for track in after}


def test_a_jump_no_body_can_make_starts_a_new_track():
    before, after = _walk_then_jump(shift_bodies=0.5, dt_jump=1 / 30)  # 0.5 body sizes in 33 ms: 15 per second
    assert len(before) == 1 and after and not (after & before)  # split: a new id, its analyzers start afresh
    before, after = _walk_then_jump(shift_bodies=0.5, dt_jump=0.3)  # the same move in 0.3 s: a body can do that
    assert after == before


def test_a_track_never_jumps_back_in_time_or_across_the_picture():
    from edge_app.tracking.tracker import reachable

    tr = Tracker(TrackerSettings(min_hits=1))
    (track,) = tr.update([pose_at(skeleton(200, 300))], 10.0)
    assert reachable(track, pose_at(skeleton(210, 300)), 10.1, tr.settings)
    assert not reachable(track, pose_at(skeleton(210, 300)), 9.9, tr.settings)  # time went back (a restart)
    assert not reachable(track, pose_at(skeleton(900, 300)), 10.1, tr.settings)  # 3.5 body sizes in 0.1 s
    (seam,) = tr.update([pose_at(skeleton(900, 300))], 10.1)  # a looped clip's seam: same look, far away
    assert {t.id for t in tr.tracks} == {track.id, seam.id} and seam.id != track.id


def test_a_walker_is_never_handed_a_box_a_quarter_of_their_size():
    """vtest.avi over RTSP (issue 14): a walker's track was handed a 41x33 px finder box (score 0.17) above their
    head, which read as lying: a fall alert on nobody. A body does not shrink to a quarter between frames."""
    from edge_app.tracking.tracker import reachable

    tr = Tracker(TrackerSettings(min_hits=1))
    (walker,) = tr.update([pose_at(skeleton(200, 450, height=180))], 10.0)
    small = pose_at(skeleton(200, 360, height=40, lying=True))  # a head-sized "lying person" where the head was
    assert not reachable(walker, small, 10.1, tr.settings)
    assert reachable(walker, pose_at(skeleton(200, 520, height=180, lying=True)), 10.5, tr.settings)  # a real fall
    ids = {t.id for t in tr.update([small], 10.1)} | {t.id for t in tr.tracks}
    assert walker.id in ids and len(tr.tracks) == 2  # the small box starts its own track; the walker's is kept
