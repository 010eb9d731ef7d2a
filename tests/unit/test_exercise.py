"""The exercise analyzer (analysis/exercise.py) on scripted skeletons: what counts as a repetition and what does not,
the verdict of each, and sit-to-stand from a seated start. Real clips: tests/integration/test_exercise.py."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest

from edge_app.analysis.exercise import RULES, ExerciseAnalyzer, ExerciseSettings, LegMeasures, judge, leg_measures
from edge_app.records import Landmark

L = 100.0  # thigh and shin length, pixels


def skeleton(extension: float, scale: float = 1.0, x0: float = 300.0, arms_up: bool = False,
             lean_deg: float = 10.0, frontal: bool = False, knees_in: float = 1.2) -> np.ndarray:
    """Landmarks (33, 5) of a person seen from the side (or the front), hips straight above the ankles at
    ``extension`` of the leg's length (1: standing, knees bent forward below that); ``scale``: nearer or further."""
    lm = np.zeros((33, 5), np.float32)
    lm[:, 3:] = 1.0
    ground = 400.0
    h = 2 * L * min(extension, 1.0)
    knee_dx = math.sqrt(max(L * L - (h / 2) ** 2, 0.0))
    for side, dx in ((Landmark.LEFT_HIP, -1), (Landmark.RIGHT_HIP, 1)):
        spread = 30.0 * dx if frontal else 2.0 * dx
        ankle = (x0 + spread, ground)
        knee = (x0 + spread * knees_in, ground - h / 2) if frontal else (x0 + spread + knee_dx, ground - h / 2)
        hip = (x0 + spread * 0.8 if frontal else x0 + spread, ground - h)
        base = int(side)
        lm[base, :2], lm[base + 2, :2], lm[base + 4, :2] = hip, knee, ankle  # hip, knee, ankle of this side
    hip_mid = lm[[Landmark.LEFT_HIP, Landmark.RIGHT_HIP], :2].mean(axis=0)
    trunk = 120.0
    shoulder = hip_mid + trunk * np.array([math.sin(math.radians(lean_deg)), -math.cos(math.radians(lean_deg))])
    lm[Landmark.LEFT_SHOULDER, :2] = shoulder + (-40 if frontal else -3, 0)
    lm[Landmark.RIGHT_SHOULDER, :2] = shoulder + (40 if frontal else 3, 0)
    lm[Landmark.NOSE, :2] = shoulder + (0, -40)
    if arms_up:
        lm[Landmark.LEFT_WRIST, :2] = shoulder + (-20, -120)
        lm[Landmark.RIGHT_WRIST, :2] = shoulder + (20, -120)
    lm[:, :2] = (lm[:, :2] - (x0, 400.0)) * scale + (x0, 400.0)
    return lm


def world_of(landmarks: np.ndarray) -> np.ndarray:
    """World landmarks (33, 3: metres, origin between the hips, y down) of a skeleton seen from the side: the
    picture's geometry at 4.5 mm a pixel (the true shape: nothing points at the camera)."""
    hips = landmarks[[Landmark.LEFT_HIP, Landmark.RIGHT_HIP], :2].mean(axis=0)
    world = np.zeros((33, 3), np.float32)
    world[:, :2] = (landmarks[:, :2] - hips) * 0.0045
    return world


def seated_facing_camera() -> tuple[np.ndarray, np.ndarray]:
    """A person seated and filmed from the front: in the picture hip, knee and ankle stand in a line (the thigh
    points at the camera, so the leg looks straight); in world metres the thigh is level and the knee bent."""
    lm = skeleton(1.0, frontal=True, knees_in=1.0)
    for hip, knee in ((23, 25), (24, 26)):
        lm[hip, 1], lm[knee, 1] = 400.0 - 120.0, 400.0 - 100.0  # hip just above the knee: the thigh foreshortened
    world = world_of(lm)
    for hip, knee, ankle in ((23, 25, 27), (24, 26, 28)):
        world[knee] = world[hip] + (0.0, 0.02, -0.45)
        world[ankle] = world[knee] + (0.0, 0.45, 0.0)
    return lm, world


def run(kind: str, extensions: list[float], fps: float = 30.0, frames=None, **pose) -> list:
    """Feed the analyzer a skeleton per extension (or the given ``frames``: (landmarks, world) pairs)."""
    analyzer = ExerciseAnalyzer(ExerciseSettings(kind=kind))
    track = SimpleNamespace(id=1, state={})
    events = []
    if frames is None:
        frames = []
        for i, e in enumerate(extensions):
            scale = pose.get("scale_at", lambda t: 1.0)(i / fps)
            lm = skeleton(e, scale=scale, **{k: v for k, v in pose.items() if k != "scale_at"})
            frames.append((lm, world_of(skeleton(e, **{k: v for k, v in pose.items() if k != "scale_at"}))))
    for i, (lm, world) in enumerate(frames):
        track.smoothed, track.pose = lm, SimpleNamespace(world=world)
        events += analyzer.update(track, "gym", i / fps, 1000.0 + i / fps)
    return events


def squats(n: int, depth: float, fps: float = 30.0, period_s: float = 2.0, rest_s: float = 1.0) -> list[float]:
    """Standing, then ``n`` smooth repetitions down to ``depth`` (cosine), each ``period_s`` long."""
    out = [1.0] * int(rest_s * fps)
    for _ in range(n):
        steps = int(period_s * fps)
        out += [1.0 - (1.0 - depth) * (1 - math.cos(2 * math.pi * k / steps)) / 2 for k in range(steps)]
    return out + [1.0] * int(rest_s * fps)


def test_every_deep_squat_counts_once_with_its_bottom_time():
    events = run("squat", squats(5, depth=0.4))
    assert [e.details["rep"] for e in events] == [1, 2, 3, 4, 5]
    bottoms = [e.details["bottom_ts"] for e in events]
    assert bottoms == pytest.approx([2.0, 4.0, 6.0, 8.0, 10.0], abs=0.05)  # rest 1 s + half of each 2 s
    d = events[0].details
    assert d["verdict"] == "good" and d["reached"] and d["warnings"] == []
    assert d["down_s"] + d["up_s"] < 2.0 and "squat 1: good" in d["explanation"]
    assert events[0].state == "info" and events[0].type == "exercise_rep"


@pytest.mark.parametrize("depth", [0.85, 0.75])
def test_a_half_hearted_dip_is_no_repetition(depth):
    assert run("squat", squats(3, depth=depth)) == []


def test_a_squat_above_parallel_is_called_shallow_and_says_why():
    verdict, warnings, depth = judge(RULES["squat"], LegMeasures(0.6, 0.2, 112.0, False, None, 30.0))
    assert verdict == "shallow" and not depth["reached"] and not depth["hip_below_knee"] and warnings == []
    assert judge(RULES["squat"], LegMeasures(0.6, 0.2, 88.0, False, None, 30.0))[0] == "good"  # knee deep enough
    assert judge(RULES["squat"], LegMeasures(0.6, 0.03, 112.0, False, None, 30.0))[0] == "good"  # hip at the knee


def test_standing_turning_raising_arms_and_walking_away_count_nothing():
    still = [1.0] * 300
    assert run("squat", still, arms_up=True) == []
    assert run("squat", still, lean_deg=30.0) == []
    # walking away from the camera: the person shrinks to half their size in the picture and comes back
    assert run("squat", still, scale_at=lambda t: 1.0 - 0.5 * math.sin(math.pi * t / 10.0)) == []


def test_sitting_down_and_staying_is_no_squat_but_rising_from_it_is_a_sit_to_stand():
    seated = [1.0] * 30 + [1.0 - 0.5 * min(1, k / 30) for k in range(30)] + [0.5] * 400 + \
        [0.5 + 0.5 * min(1, k / 30) for k in range(31)] + [1.0] * 30
    assert run("squat", seated) == []  # 15 s in the chair: too long for a squat
    stands = run("sit_to_stand", seated)
    assert len(stands) == 1 and stands[0].details["exercise"] == "sit_to_stand"


def test_seated_facing_the_camera_is_not_standing_and_rising_from_it_counts():
    """Filmed from the front a seated person's leg looks straight in the picture: the world landmarks say it is
    not, so nothing is counted while they sit, and their rise is."""
    seated = seated_facing_camera()
    standing = (skeleton(1.0, frontal=True, knees_in=1.0), world_of(skeleton(1.0, frontal=True, knees_in=1.0)))
    assert run("sit_to_stand", [], frames=[seated] * 300) == []
    rise = run("sit_to_stand", [], frames=[seated] * 60 + [standing] * 30 + [seated] * 60 + [standing] * 30)
    assert [e.details["rep"] for e in rise] == [1, 2]


def test_a_chair_stand_test_started_seated_counts_every_rise_and_which_fall_in_the_30_seconds():
    fps = 15.0
    seq = [0.5] * 30  # seated at the start: no standing seen yet
    for _ in range(14):  # a rise and a sit every 2.5 s
        seq += [0.5 + 0.5 * k / 10 for k in range(11)] + [1.0] * 8 + [1.0 - 0.5 * k / 10 for k in range(11)] + [0.5] * 8
    events = run("sit_to_stand", seq, fps=fps)
    assert len(events) == 14
    assert events[0].details["down_s"] is None  # began seated
    inside = [e.details["in_test"] for e in events]
    assert inside[:12] == [True] * 12 and inside[-1] is False


def test_warnings_name_knees_caving_in_from_the_front_and_leaning_forward_from_the_side():
    rule = RULES["squat"]
    front = LegMeasures(0.45, -0.02, 80.0, True, 0.7, 5.0)
    verdict, warnings, _ = judge(rule, front)
    assert verdict == "check form" and warnings == ["knees caving in (knees 0.70 of ankle width)"]
    side = LegMeasures(0.45, -0.02, 80.0, False, None, 62.0)
    verdict, warnings, _ = judge(rule, side)
    assert verdict == "check form" and warnings == ["leaning forward (trunk 62 degrees from vertical)"]
    assert judge(rule, LegMeasures(0.45, -0.02, 80.0, False, None, 35.0))[:2] == ("good", [])
    # the skeleton itself: knees drawn inside the ankles at the bottom of a front-view squat
    m = leg_measures(skeleton(0.45, frontal=True, knees_in=0.6))
    assert m.frontal and m.knee_ankle_ratio == pytest.approx(0.6, abs=0.01)


def test_legs_not_seen_are_not_measured():
    lm = skeleton(0.5)
    lm[[Landmark.LEFT_KNEE, Landmark.RIGHT_KNEE], 3] = 0.2
    assert leg_measures(lm) is None


def test_an_unknown_exercise_is_refused():
    with pytest.raises(ValueError, match="no exercise 'burpee'"):
        ExerciseAnalyzer(ExerciseSettings(kind="burpee"))


def test_the_screen_label_counts_and_gives_the_last_verdict_in_plain_ascii():
    from edge_app.analysis.exercise import exercise_label

    analyzer = ExerciseAnalyzer(ExerciseSettings(kind="squat"))
    track = SimpleNamespace(id=1, state={})
    labels = []
    for i, e in enumerate(squats(2, depth=0.4)):
        track.smoothed = skeleton(e)
        track.pose = SimpleNamespace(world=world_of(track.smoothed))
        analyzer.update(track, "gym", i / 30, 0.0)
        labels.append(exercise_label(track))
    assert labels[0] is None and labels[-1] == "squat 2: good" and all(x is None or x.isascii() for x in labels)
