"""Fall detection: features, the state machine on scripted skeletons, and the real model and pipeline on the shared
footage (held-back clips)."""

from __future__ import annotations

import json
import math
from collections import deque
from types import SimpleNamespace

import numpy as np
import pytest

from edge_app.analysis.fall import FallAnalyzer, FallSettings, Phase, Raised
from edge_app.analysis.features import FEATURE_NAMES, current_features, posture_measures, window
from helpers.fall import ScriptedModel, run, series, skeleton
from support import REPO, SHARED


def test_posture_features_of_standing_and_lying():
    up = current_features(*skeleton(0))
    down = current_features(*skeleton(90))
    torso = FEATURE_NAMES.index("torso_angle_2d")
    assert up[torso] * 90 < 5 and 85 < down[torso] * 90 < 95
    assert up[FEATURE_NAMES.index("head_above_hips")] > 1.0 > down[FEATURE_NAMES.index("head_above_hips")]
    assert np.isfinite(up).all() and np.isfinite(down).all()


def test_window_features_of_a_body_going_down_at_a_steady_speed():
    """Every feature of the standing skeleton (tests/helpers/fall.py: torso 65 px from shoulder centre (300, 265) to
    hip centre (300, 330), nose at y 240, ankles at y 400, box 44 x 160 px) lowered at 130 px/s, worked out by hand."""
    angles = [0.0] * 40
    times, lm, wd = series(angles, 20, drops=[130.0 * i / 20 for i in range(40)])
    feats = window(times, lm, wd, end=times[-1], seconds=1.0, rate=15)
    f = dict(zip(FEATURE_NAMES, feats[7]))
    straight_hip = math.acos((-65 * 35) / (math.hypot(5, 65) * 35)) / math.pi  # shoulder (285, 265) - hip - knee
    expected = {
        "torso_angle_2d": 0.0, "log_aspect": math.log(44 / 160), "head_above_hips": 90 / 65,
        "head_above_feet": 160 / 65, "hips_above_feet": 70 / 65, "knee_angle_l": 1.0, "knee_angle_r": 1.0,
        "hip_angle_l": straight_hip, "hip_angle_r": straight_hip, "elbow_angle_l": 1.0 - math.atan(5 / 35) / math.pi
        + math.atan(2 / 30) / math.pi, "visibility": 1.0, "hip_velocity_y": 2.0, "hip_acceleration_y": 0.0,
        "head_velocity_y": 2.0, "hip_velocity_x": 0.0, "movement_energy": 2.0, "head_seen": 1.0, "hands_seen": 1.0,
        "hips_seen": 1.0, "feet_seen": 1.0}
    for name, value in expected.items():
        assert f[name] == pytest.approx(value, abs=1e-4), name
    assert feats.shape == (15, len(FEATURE_NAMES)) and feats.dtype == np.float32


@pytest.mark.parametrize("angle", [0, 30, 75, 90, 180])
def test_fast_posture_measures_equal_the_features(angle):
    lm, world = skeleton(angle, drop=12)
    lm[27, 1] += 7  # not perfectly symmetric
    torso, hips = posture_measures(lm)
    feats = current_features(lm, world)
    assert torso == pytest.approx(feats[FEATURE_NAMES.index("torso_angle_2d")] * 90, abs=1e-3)
    assert hips == pytest.approx(feats[FEATURE_NAMES.index("hips_above_feet")], abs=1e-4)


def test_descent_is_positive_and_rate_invariant():
    """The same fall filmed at 30 and at 18 fps gives nearly the same window at the model's rate."""
    def fall_angles(fps):
        n = int(3 * fps)
        t = np.arange(n) / fps
        return list(np.clip((t - 2.0) / 0.6, 0, 1) * 90)
    w30 = window(*series(fall_angles(30), 30), end=2.9, seconds=2.0, rate=15)
    w18 = window(*series(fall_angles(18), 18), end=2.9, seconds=2.0, rate=15)
    assert w30 is not None and w18 is not None and w30.shape == (30, len(FEATURE_NAMES))
    hip_vy = FEATURE_NAMES.index("hip_velocity_y")
    assert w30[-10:, hip_vy].max() > 1.0  # the hips go down during the fall: positive (image y down)
    torso = FEATURE_NAMES.index("torso_angle_2d")
    assert np.abs(w30[:, torso] - w18[:, torso]).max() < 0.1


def test_no_window_until_enough_history():
    times, lm, wd = series([0] * 20)
    assert window(times, lm, wd, end=times[-1], seconds=2.0, rate=15) is None


def fall_then(after: list[float], fps: float = 30.0) -> list[float]:
    before = [0.0] * int(2.5 * fps)
    falling = list(np.linspace(0, 90, int(0.5 * fps)))
    return before + falling + after


def fall_score(window):  # a model that recognises the fall in its window: the torso turns fast
    torso = window[:, FEATURE_NAMES.index("torso_angle_2d")]
    return 1.0 if torso[-1] - torso[0] > 0.5 else 0.0


def test_a_fall_raises_one_alert_then_clears_when_the_person_gets_up():
    fps = 30.0
    settings = FallSettings(clear_s=1.0, cooldown_s=2.0)
    events = run(FallAnalyzer(ScriptedModel(fall_score), settings),
                 fall_then([90.0] * int(3 * fps) + [0.0] * int(2 * fps)), fps)
    raised = [e for e in events if e.type == "fall" and e.state == "raised"]
    cleared = [e for e in events if e.type == "fall" and e.state == "cleared"]
    assert len(raised) == 1 and len(cleared) == 1
    landed = 3.0  # the skeleton is horizontal 3.0 s in
    assert landed - 0.5 <= raised[0].media_time <= landed + 0.5
    assert cleared[0].media_time > raised[0].media_time + 3
    assert raised[0].stream == "cam" and raised[0].track_id == 1 and raised[0].wall_time > 1000


def test_long_lie_escalates_once():
    events = run(FallAnalyzer(ScriptedModel(fall_score), FallSettings(long_lie_s=2.0)), fall_then([90.0] * 150))
    assert [e.type for e in events if e.state == "raised"] == ["fall", "fall_long_lie"]


def test_lying_down_slowly_or_a_high_score_without_descent_raise_nothing():
    slow = [0.0] * 60 + list(np.linspace(0, 90, 150)) + [90.0] * 90  # 5 s to lie down on purpose
    assert not run(FallAnalyzer(ScriptedModel(lambda w: 0.0)), slow)
    standing = [0.0] * 200  # the model says fall, but nobody goes down
    assert not run(FallAnalyzer(ScriptedModel(lambda w: 1.0)), standing)


def test_one_glitched_frame_or_poses_nobody_vouches_for_never_confirm_a_fall():
    """vtest.avi over RTSP (issue 14): at the clip's loop seam, a landmark ROI left on the new picture read as a
    person upside down for one frame (no finder support), after a frame had been dropped: 0.2 s 'seen down' from a
    single frame confirmed a fall on a walker. A fall needs two frames seen down, each with person evidence."""
    fps = 10.0
    upright = [0.0] * 40
    glitch = upright + [0.0, 90.0] + [0.0] * 20  # one frame lying, the frame before it dropped
    dropped = 40  # index of the frame before the glitch

    def seen(t):
        return round(t * fps) != dropped
    always = ScriptedModel(lambda w: 1.0)
    assert not run(FallAnalyzer(always, FallSettings(descent_speed=0.0)), glitch, fps, visible=seen)
    # a real fall whose down frames no finder or landmark model vouches for (an object, a ROI on nothing)
    fall = fall_then([90.0] * 30, fps)
    landed = len(fall) - 30
    assert not run(FallAnalyzer(ScriptedModel(fall_score)), fall, fps,
                   evidence=lambda t: round(t * fps) < landed - 5)
    raised = run(FallAnalyzer(ScriptedModel(fall_score)), fall, fps)  # the same fall, vouched for: raised
    assert [e.type for e in raised if e.state == "raised"] == ["fall"]


def test_a_person_lying_whom_the_finder_scores_low_is_still_vouched_for_by_both_models():
    """cases/small_person_4k.mp4 with the CCTV config: MoveNet scores the person 0.3 standing and 0.08-0.14 lying, so
    no down frame was person evidence and the fall was never raised. A falling track (its signal had evidence) whose
    landmark pose is sure (flag >= 0.9) over a detection the finder still matches, however weak, is seen down. With no
    detection under the pose (a ROI on nothing), or a landmark flag that is unsure, it is not."""
    fps = 10.0
    fall = fall_then([90.0] * 30, fps)
    landed = len(fall) - 30

    def standing(t):
        return round(t * fps) < landed  # evidence while standing and falling; none once lying
    raised = run(FallAnalyzer(ScriptedModel(fall_score)), fall, fps, evidence=standing, finder_score=0.1)
    assert [e.type for e in raised if e.state == "raised"] == ["fall"]
    assert not run(FallAnalyzer(ScriptedModel(fall_score)), fall, fps, evidence=standing, finder_score=0.0)
    assert not run(FallAnalyzer(ScriptedModel(fall_score)), fall, fps, evidence=standing, finder_score=0.1,
                   flag=0.7)


def test_a_stream_dropping_frames_still_needs_two_frames_seen_down():
    """vtest.avi at 10 fps dropping frames (CCTV, non-VNNI numerics): a walker with a fall score of 1, then one
    frame read upside down by the finder between two dropped frames. The pose rate is the stream's (10 fps, most
    frames analysed), so one frame is still no fall; the rounding of 0.1 and 0.2 s gaps to 0.15000000000000036 no
    longer decides it."""
    fps = 10.0
    walker = [0.0] * 43 + [160.0] + [0.0] * 30

    def analysed(t):
        return round(t * fps) not in (42, 44)  # 2 of the last 7 frames dropped
    assert not run(FallAnalyzer(ScriptedModel(lambda w: 1.0), FallSettings(descent_speed=0.0)), walker, fps,
                   analysed=analysed)
    fall = [0.0] * 43 + [160.0, 160.0, 160.0] + [160.0] * 30  # read down in the frames that follow: a fall
    raised = run(FallAnalyzer(ScriptedModel(lambda w: 1.0), FallSettings(descent_speed=0.0)), fall, fps,
                 analysed=analysed)
    assert [e.type for e in raised if e.state == "raised"] == ["fall"]


def test_down_reads_broken_by_a_standing_read_are_glitches_but_flicker_on_the_floor_is_not():
    """A walker the finder reads upside down every other frame (vtest.avi at 5 fps under AVX2 numerics): down,
    standing, down is no fall. A person on the floor whose pose flickers between down and an ambiguous 45 degrees
    (neither down nor standing) still raises."""
    fps = 10.0
    model = ScriptedModel(lambda w: 1.0)
    flipping = [0.0] * 40 + [160.0, 0.0, 160.0, 0.0, 160.0] + [0.0] * 20
    assert not run(FallAnalyzer(model, FallSettings(descent_speed=0.0)), flipping, fps)
    flicker = [0.0] * 40 + [90.0, 45.0, 90.0, 45.0, 90.0] + [90.0] * 20
    raised = run(FallAnalyzer(model, FallSettings(descent_speed=0.0)), flicker, fps)
    assert [e.media_time for e in raised if e.state == "raised"] == [pytest.approx(4.2)]


def test_a_stumble_that_does_not_end_down_raises_nothing():
    stumble = [0.0] * 75 + list(np.linspace(0, 40, 10)) + list(np.linspace(40, 0, 10)) + [0.0] * 120
    assert not run(FallAnalyzer(ScriptedModel(lambda w: 1.0), FallSettings(descent_speed=0.0)), stumble)


def test_a_person_lost_after_going_down_raises_the_alert():
    fps = 30.0
    angles = fall_then([90.0] * 60, fps)
    settings = FallSettings(confirm_s=5.0)  # so only the lost rule can raise it
    events = run(FallAnalyzer(ScriptedModel(fall_score), settings), angles, fps, visible=lambda t: t < 2.95)
    raised = [e for e in events if e.state == "raised"]
    assert len(raised) == 1 and raised[0].details["person_lost"] is True


def test_a_person_lost_after_one_frame_seen_down_raises_nothing():
    """Two walkers crossing (vtest.avi under other CPU numerics): one frame's pose collapsed between them reads as a
    fall signal and down, and the track is gone the next frame. One frame is no fall, lost or not; from two frames
    on, the lost rule raises as before."""
    fps = 10.0
    settings = FallSettings(confirm_s=5.0)  # so only the lost rule can raise it
    crossing = [0.0] * 40 + [80.0] + [0.0] * 10  # gone after the one frame (the run goes on)
    assert not run(FallAnalyzer(ScriptedModel(lambda w: 1.0), settings), crossing, fps, visible=lambda t: t < 4.05)
    twice = [0.0] * 40 + [80.0, 85.0] + [85.0] * 10
    raised = run(FallAnalyzer(ScriptedModel(lambda w: 1.0), settings), twice, fps, visible=lambda t: t < 4.15)
    assert [e.details["person_lost"] for e in raised if e.state == "raised"] == [True]


def test_a_fall_signal_needs_a_pose_someone_vouches_for():
    """The model scores a pose jump as a fall; when the finder sees no person at that pose (no evidence), the jump is
    a crossing or a ROI left on nothing, and no fall starts from it."""
    fps = 30.0
    fall = fall_then([90.0] * 60, fps)
    start, end = int(2.5 * fps), int(3.0 * fps)  # the descent
    analyzer = FallAnalyzer(ScriptedModel(fall_score))
    run(analyzer, fall[:end], fps, evidence=lambda t: not start <= round(t * fps) < end)
    assert analyzer.states[("cam", 1)].phase == Phase.UPRIGHT
    analyzer = FallAnalyzer(ScriptedModel(fall_score))  # vouched for: the signal starts the fall
    run(analyzer, fall[:end], fps)
    assert analyzer.states[("cam", 1)].phase in (Phase.FALLING, Phase.ALERTED)


def _vanish_then_found_lying(score: float, angles_before: list[float], found: list[float] | None = None,
                             back_at: float | None = None, shift_per_frame: float = 0.0,
                             offset: float = 0.0, alerted_beside: bool = False,
                             seen_for: int | None = None) -> tuple[FallAnalyzer, list]:
    """Track 1 runs through ``angles_before`` at 30 fps with a fall model scoring ``score`` and vanishes; 0.5 s later
    track 2 is found where track 1 was, at ``found`` torso angles (default: lying for 2 s). ``back_at``: seconds
    after track 2 is found, track 1 is seen again (upright, a little aside), every frame from then on. Track 2's box
    (200 px long, overlapping track 1's last box) starts ``offset`` px to the right and moves ``shift_per_frame`` px
    left each frame. ``alerted_beside``: a person whose fall was raised just before track 1 vanished (track 9) lies
    there, seen every frame. ``seen_for``: track 2 is seen in the first ``seen_for`` frames only (the frames go on)."""
    fps = 30.0
    analyzer = FallAnalyzer(ScriptedModel(lambda w: score))
    events = run(analyzer, angles_before, fps, track_id=1)
    gone_at = (len(angles_before) - 1) / fps
    first = analyzer.states[("cam", 1)]
    track = SimpleNamespace(id=2, history=deque(maxlen=900), evidence=True)
    again = SimpleNamespace(id=1, history=deque(maxlen=900), evidence=True)
    lying = SimpleNamespace(id=9, history=deque(maxlen=900), evidence=True)
    if alerted_beside:
        analyzer.raised.append(Raised("cam", 9, gone_at, (300.0, 400.0), 200.0))
    for i, angle in enumerate([90.0] * 60 if found is None else found):
        t = gone_at + 0.5 + i / fps
        lm, world = skeleton(angle)
        dx = offset - shift_per_frame * i
        track.smoothed, track.box = lm, (200 + dx, 380, 400 + dx, 420)
        track.pose = SimpleNamespace(world=world, body=None, source="landmarks")
        track.history.append((t, lm, world, 1.0))
        if seen_for is None or i < seen_for:
            events += analyzer.update(track, "cam", t, t)
        if alerted_beside:
            lm, world = skeleton(90.0)
            lying.smoothed, lying.box = lm, (200, 385, 400, 425)
            lying.pose = SimpleNamespace(world=world, body=None, source="landmarks")
            lying.history.append((t, lm, world, 1.0))
            events += analyzer.update(lying, "cam", t, t)
        if back_at is not None and i / fps >= back_at:
            lm, world = skeleton(0.0)
            again.smoothed, again.box = lm, (first.centre[0] + 20, 230, first.centre[0] + 60, 400)
            again.pose = SimpleNamespace(world=world, body=None, source="landmarks")
            again.history.append((t, lm, world, 1.0))
            events += analyzer.update(again, "cam", t, t)
        events += analyzer.end_frame("cam", t, t)
    return analyzer, events


FALLING_FAST = [0.0] * 75 + list(np.linspace(0, 55, 8))  # a fall signal (score and descent), lost mid-fall
BENDING = [0.0] * 60 + list(np.linspace(0, 30, 15))  # bending over fast with the model at 0.99: no fall signal


def test_a_person_found_down_where_someone_vanished_mid_fall_continues_the_fall_once_seen_lying_still():
    analyzer, events = _vanish_then_found_lying(0.99, FALLING_FAST)
    raised = [e for e in events if e.state == "raised"]
    assert len(raised) == 1 and raised[0].track_id == 2 and raised[0].details["lost_track"] == 1
    assert "fall_signal" not in raised[0].details
    found_at = (len(FALLING_FAST) - 1) / 30 + 0.5
    # seen down and still for refind_confirm_s, as every claim (walkers get the fall signal often in CCTV views)
    assert FallSettings().refind_confirm_s <= raised[0].media_time - found_at <= FallSettings().refind_confirm_s + 0.1
    assert analyzer.states[("cam", 2)].phase == Phase.ALERTED


def test_found_down_after_a_vanish_without_fall_signal_needs_refind_confirm_s_of_lying():
    """A fast bend with a high score but no fall signal, then found lying: raised, but only after refind_confirm_s
    seen down; found lying for less, or on and off, or gone again before then: nothing."""
    analyzer, events = _vanish_then_found_lying(0.99, BENDING)
    raised = [e for e in events if e.state == "raised"]
    found_at = (len(BENDING) - 1) / 30 + 0.5
    assert len(raised) == 1 and raised[0].details["lost_track"] == 1 and raised[0].details["fall_signal"] is False
    assert FallSettings().refind_confirm_s <= raised[0].media_time - found_at <= FallSettings().refind_confirm_s + 0.1
    # down for 0.6 s, then the new track vanishes: no "person lost" alert on a claim this weak
    _, events = _vanish_then_found_lying(0.99, BENDING, found=[90.0] * 18)
    assert [e for e in events if e.state == "raised"] == []
    # read down three frames in ten, for 2 s (a fragment read upside down now and then): nothing
    _, events = _vanish_then_found_lying(0.99, BENDING, found=([180.0] * 3 + [0.0] * 7) * 6)
    assert [e for e in events if e.state == "raised"] == []


def test_found_down_but_walking_on_is_no_fall():
    """A walker read upside down by the finder for a second where another track broke (vtest.avi under AVX2
    numerics, 76 px in a second for an 88 px body): a person on the floor stays put, so a track read down that moves
    at walking pace (0.8 of its 200 px length a second) is no fall."""
    analyzer, events = _vanish_then_found_lying(0.99, BENDING, shift_per_frame=160 / 30)
    assert [e for e in events if e.state == "raised"] == []
    _, events = _vanish_then_found_lying(0.99, BENDING, shift_per_frame=40 / 30)  # shifting on the floor: raised
    assert len([e for e in events if e.state == "raised"]) == 1


def test_found_down_where_someone_vanished_mid_fall_then_lost_again_raises_nothing():
    """vtest.avi with the CCTV config over RTSP (CI, Xeon with AMX): a walker's track with a fall signal (score and a
    dip) vanished, a new track was read down nearby in two frames and vanished too, and the lost rule raised a fall
    on it. A track found down where someone vanished is confirmed only while seen; lost again, it was a fragment.
    The same claim seen down and still for refind_confirm_s is raised (the check can fail), and so is a falling
    person of its own track lost after going down (test_a_person_lost_after_going_down_raises_the_alert)."""
    _, events = _vanish_then_found_lying(0.99, FALLING_FAST, seen_for=4)  # 0.1 s down, then gone for 1.9 s
    assert [e for e in events if e.state == "raised"] == []
    _, events = _vanish_then_found_lying(0.99, FALLING_FAST, seen_for=40)  # 1.3 s down: confirmed while seen
    assert [e.details["person_lost"] for e in events if e.state == "raised"] == [False]


def test_found_down_only_where_the_vanished_person_stood():
    """vtest.avi under AVX2 numerics: a walker leaving through the picture's bottom edge with a fall signal (the
    model and the descent of someone walking towards the camera), then a standing man read upside down 150 px away,
    not overlapping. A person falls about their feet: the body found lying overlaps the box they were last seen in;
    a box beside it is someone else."""
    _, events = _vanish_then_found_lying(0.99, FALLING_FAST, offset=-150)  # within 1.5 sizes, but beside it
    assert [e for e in events if e.state == "raised"] == []
    _, events = _vanish_then_found_lying(0.99, FALLING_FAST)
    assert len([e for e in events if e.state == "raised"]) == 1


def test_at_a_low_rate_one_clear_read_suffices_but_not_a_finder_or_upside_down_read():
    """At 4 fps a fall's descent and landing can fit between two samples: one read lying from the landmark model
    raises at once. One read from the finder's keypoints, or upside down (vtest.avi at 5 fps: walkers read
    upside down), waits for a second read."""
    fps, model = 4.0, ScriptedModel(lambda w: 1.0)
    for angle, source, at in ((90.0, "landmarks", 3.0), (90.0, "finder", 3.25), (160.0, "landmarks", 3.25)):
        fall = [0.0] * 12 + [angle] * 8
        raised = run(FallAnalyzer(model, FallSettings(descent_speed=0.0)), fall, fps, source=source)
        assert [e.media_time for e in raised if e.state == "raised"] == [pytest.approx(at)], (angle, source)


def test_a_claim_is_void_when_the_vanished_person_is_seen_again():
    """Track 1 was only missed for a moment: it is back upright 0.5 s after track 2 was found lying nearby, so track
    2 is not track 1 found down (the demo clip's CCTV false alarms), and raises nothing."""
    analyzer, events = _vanish_then_found_lying(0.99, BENDING, back_at=0.5)
    assert [e for e in events if e.state == "raised"] == []
    assert analyzer.states[("cam", 2)].phase == Phase.UPRIGHT
    _, events = _vanish_then_found_lying(0.99, BENDING, back_at=1.5)  # back after the alert: the alert stands
    assert len([e for e in events if e.state == "raised"]) == 1


def test_something_lying_where_an_upright_walker_vanished_is_no_fall():
    """make demo's false alarms (issue 14): a walker upright with a fall score of 0 leaves the view, and something
    lying (a cloth on the lawn) turns up there: not a fall."""
    analyzer, events = _vanish_then_found_lying(0.0, [0.0] * 75)
    assert [e for e in events if e.state == "raised"] == []
    assert analyzer.states[("cam", 2)].phase == Phase.UPRIGHT


def test_a_low_frame_rate_is_the_streams_not_one_tracks_gaps():
    """The unseen-fall rule (upright, then found down, at a low frame rate) reads the stream's analysed rate: a
    walker whose own pose was missed for 0.9 s in a 10 fps stream did not fall between frames."""
    analyzer = FallAnalyzer(ScriptedModel(lambda w: 0.0))
    walker = [0.0] * 30
    events = run(analyzer, walker, 10.0, track_id=1, visible=lambda t: not 1.6 < t < 2.5)  # missed 0.9 s, back
    assert analyzer.stream_spacing("cam") == pytest.approx(0.1)
    assert analyzer.vanished[-1].spacing == pytest.approx(0.1)
    # the same at 4 fps: a stream this coarse can hide a fall between two frames
    coarse = FallAnalyzer(ScriptedModel(lambda w: 0.0))
    run(coarse, [0.0] * 12, 4.0, track_id=1, visible=lambda t: t < 2.0)
    assert coarse.stream_spacing("cam") == pytest.approx(0.25) and coarse.vanished[-1].spacing == pytest.approx(0.25)
    assert [e for e in events if e.state == "raised"] == []


def test_shipped_clip_lists_point_at_the_shared_data():
    for name in ("falls_train.json", "falls_test.json", "everyday_all.json"):
        items = json.loads((REPO / "configs" / "clips" / name).read_text())
        assert items and all(i["kind"] in ("fall", "adl") and i["path"].startswith("../../../shared/data/")
                             for i in items)
    everyday = json.loads((REPO / "configs" / "clips" / "everyday_all.json").read_text())
    shared_adl = sorted(p.relative_to(SHARED).as_posix() for a in range(6, 12)
                        for p in (SHARED / "falls" / "upfall_s1" / f"Activity{a}").glob("*.mp4"))
    if shared_adl:  # the budget list holds every everyday-activity clip the shared data has
        assert sorted(i["path"].removeprefix("../../../shared/data/") for i in everyday) == shared_adl


def test_descent_threshold_follows_the_spacing_of_pose_samples():
    from edge_app.analysis.fall import FALL_S, descent_needed, sample_spacing

    assert descent_needed(1.0, 1 / 30) == 1.0 and descent_needed(1.0, FALL_S) == 1.0  # unchanged at usual rates
    assert descent_needed(1.0, 2 * FALL_S) == pytest.approx(0.5)  # a descent spread over twice the time
    history = deque([(t, None, None, 1.0) for t in (0.0, 0.5, 1.0, 2.0, 2.5)])  # 2 fps, one frame lost
    assert sample_spacing(history, 2.5) == pytest.approx(1.0)
    assert sample_spacing(deque([(0.0, None, None, 1.0)]), 0.0) == 0.0


def _fall_then_re_tracked(settings: FallSettings) -> tuple[list, list, FallAnalyzer]:
    """Track 1 falls and is alerted, then is lost; 1 s later track 2 (the same person, re-tracked) is found at the
    same place still going down (the model sees a fall in its window again). Returns both tracks' events."""
    analyzer = FallAnalyzer(ScriptedModel(fall_score), settings)
    first = run(analyzer, fall_then([90.0] * 30), track_id=1)
    start = (len(fall_then([90.0] * 30)) - 1) / 30.0 + 1.0
    second = SimpleNamespace(id=2, history=deque(maxlen=900), evidence=True)
    later = []
    for i, angle in enumerate([0.0] * 10 + list(np.linspace(0, 90, 15)) + [90.0] * 60):
        t = start + i / 30.0
        lm, world = skeleton(angle)
        xy = lm[:, :2]
        second.smoothed, second.pose = lm, SimpleNamespace(world=world, body=None, source="landmarks")
        second.box = (xy[:, 0].min(), xy[:, 1].min(), xy[:, 0].max(), xy[:, 1].max())
        second.history.append((t, lm, world, 1.0))
        later += analyzer.update(second, "cam", t, t) + analyzer.end_frame("cam", t, t)
    return first, later, analyzer


def test_a_re_tracked_fallen_person_raises_one_alert_not_two():
    """By place and time, not by track id: the second track's fall is the first one's."""
    first, later, analyzer = _fall_then_re_tracked(FallSettings())
    assert [e.state for e in first if e.type == "fall"] == ["raised"]
    assert [e for e in later if e.state == "raised"] == []
    assert analyzer.states[("cam", 2)].silent
    _, without, _ = _fall_then_re_tracked(FallSettings(same_fall_s=0.0))  # the check can fail: no dedup, 2 alerts
    assert [e.track_id for e in without if e.state == "raised" and e.type == "fall"] == [2]


def test_a_second_person_falling_beside_a_tracked_one_still_raises():
    """Dedup by place and time spares a different person: the first faller is still tracked."""
    analyzer = FallAnalyzer(ScriptedModel(fall_score))
    a = SimpleNamespace(id=1, history=deque(maxlen=900), evidence=True)
    b = SimpleNamespace(id=2, history=deque(maxlen=900), evidence=True)
    angles = fall_then([90.0] * 60)
    raised = []
    for i, angle in enumerate(angles):
        t = i / 30.0
        for track, ang, shift in ((a, angle, 0.0), (b, angles[max(0, i - 45)], 30.0)):  # b falls 1.5 s later
            lm, world = skeleton(ang)
            lm = lm.copy()
            lm[:, 0] += shift
            xy = lm[:, :2]
            track.smoothed, track.pose = lm, SimpleNamespace(world=world, body=None, source="landmarks")
            track.box = (xy[:, 0].min(), xy[:, 1].min(), xy[:, 0].max(), xy[:, 1].max())
            track.history.append((t, lm, world, 1.0))
            raised += [e for e in analyzer.update(track, "cam", t, t) if e.state == "raised"]
        raised += [e for e in analyzer.end_frame("cam", t, t) if e.state == "raised"]
    assert sorted(e.track_id for e in raised if e.type == "fall") == [1, 2]


def test_resample_is_numpys_linear_interpolation_held_at_the_ends():
    """features.resample interpolates all 91 series with one neighbour search: the same values as np.interp per
    series, inside the span, before it and after it, for irregular sampling."""
    from edge_app.analysis.features import KEY_JOINTS, resample

    rng = np.random.default_rng(3)
    for _ in range(50):
        t = np.sort(rng.uniform(0.0, 3.0, int(rng.integers(2, 50))))
        lm, wd = rng.normal(size=(len(t), 33, 5)), rng.normal(size=(len(t), 33, 3))
        grid = np.linspace(-0.5, 3.5, int(rng.integers(2, 40)))
        got_lm, got_wd = resample(t, lm, wd, grid)
        keys = list(KEY_JOINTS)
        want_lm = np.stack([[[np.interp(g, t, lm[:, k, c]) for c in range(4)] for k in keys] for g in grid])
        want_wd = np.stack([[[np.interp(g, t, wd[:, k, c]) for c in range(3)] for k in keys] for g in grid])
        assert np.allclose(got_lm, want_lm, atol=1e-9) and np.allclose(got_wd, want_wd, atol=1e-9)


def test_a_pose_collapsed_on_the_head_of_the_body_the_finder_sees_is_not_down_evidence():
    """vtest.avi, 58 s in: the landmark pose of a man walking on the lawn bunched into a head-sized box inside the
    body the finder sees; it read as lying and raised a false fall. Such a pose is no evidence of a person down."""
    from edge_app.analysis.fall import collapsed
    from edge_app.records import Pose, RotatedRect

    body = np.array([[300.0, 330.0 + 8 * i, 0.8] for i in range(17)])  # the finder: a standing body 128 px tall
    roi = RotatedRect(300, 400, 200, 200)

    def pose(box, body=body, source="landmarks"):
        return Pose(landmarks=np.zeros((33, 5)), world=np.zeros((33, 3)), score=0.9, roi=roi, next_roi=roi, box=box,
                    body=body, source=source)

    assert collapsed(pose((290.0, 330.0, 310.0, 360.0)))  # 30 px of a 128 px body
    assert not collapsed(pose((260.0, 330.0, 340.0, 455.0)))  # the whole body
    assert not collapsed(pose((230.0, 430.0, 370.0, 470.0), body=body[:, [1, 0, 2]]))  # lying: as long as the body
    assert not collapsed(pose((290.0, 330.0, 310.0, 360.0), body=None))  # no finder keypoints: nothing to judge by
    assert not collapsed(pose((290.0, 330.0, 310.0, 360.0), source="finder"))


def test_a_track_too_young_for_the_window_has_its_descent_measured_from_its_own_samples():
    """A person seen for under a second (a clip or a camera starting mid-fall) gets a descent from the samples there
    are, once they span half a second; standing still it is about 0, and before half a second it is 0."""
    from edge_app.analysis.fall import young_descent

    fps = 5.0
    falling = list(np.linspace(0, 90, 6))  # six samples at 5 fps: 1.0 s, the torso turning to the floor
    times, lm, wd = series(falling, fps)
    assert window(times, lm, wd, end=times[-1], seconds=2.0, rate=15) is None  # too young for the model's window
    assert young_descent(times, lm, wd, float(times[-1])) > 1.0
    still_t, still_lm, still_wd = series([0.0] * 6, fps)
    assert abs(young_descent(still_t, still_lm, still_wd, float(still_t[-1]))) < 0.05
    assert young_descent(times[:2], lm[:2], wd[:2], float(times[1])) == 0.0  # 0.2 s: too little to say


def test_a_weak_claim_beside_a_fall_already_raised_there_is_that_fall_not_a_second():
    """The control clip with the CCTV config: the fallen person's legs, tracked apart, vanish and are found down
    again beside the person whose fall was raised (and is still seen): no fall signal of its own, so one alert per
    fall. A claim with a fall signal of its own next to a still-seen alerted person is a second person and raises."""
    _, events = _vanish_then_found_lying(0.99, BENDING, alerted_beside=True)
    assert [e for e in events if e.state == "raised"] == []
    _, events = _vanish_then_found_lying(0.99, BENDING)  # the check can fail: alone, the same claim raises
    assert len([e for e in events if e.state == "raised"]) == 1
    _, events = _vanish_then_found_lying(0.99, FALLING_FAST, alerted_beside=True)
    assert [e.track_id for e in events if e.state == "raised"] == [2]
