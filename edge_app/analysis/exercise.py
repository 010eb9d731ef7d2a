"""Exercise form: repetitions of a lower-body exercise counted per person, with depth, form warnings and tempo, from a
rule table (one table per exercise: squat, and sit-to-stand for the 30-second chair-stand test).

The signal is the leg's extension: the height of the hip above the ankle in the picture over the length of the
thigh and shin drawn (the side whose hip, knee and ankle the landmark model sees best), and the same in the world
landmarks' metres, where a thigh pointing at the camera keeps its length; the smaller of the two counts. Standing it
is about 1 (0.92-0.96 in 3-D), at the bottom of a squat 0.35-0.6, seated 0.4-0.8. Being a ratio of lengths it does
not change when a person walks towards or away from the camera (a ratio to a remembered standing height did: walking
away read as squatting), it does not move when a person turns or raises the arms, and walking keeps it high. A
repetition is a fall of that ratio to at most ``bottom_at`` and a return to at least ``up_at`` with the knee straight
again (hysteresis: a half-hearted dip never reaches ``bottom_at``), within the rule's time limits; its bottom is the
lowest point in between (as a coach counts it: hips lowest).

At the bottom the rule judges:
- depth: the hip at or below the top of the knee (hip crease below the knee, within ``DEPTH_TOLERANCE`` of the leg's
  length) or the knee angle (hip-knee-ankle, image plane) at most ``depth_knee_deg``;
- knees caving in (front view only): knee spacing under ``valgus_ratio`` times the ankle spacing;
- forward lean (side view only): the trunk (mid-shoulder to mid-hip) more than ``lean_deg`` from vertical;
- tempo: seconds down (last standing frame to the bottom) and up (bottom to standing again).

A person who starts seated (the chair-stand test) counts their first rise: the seated stretch is its bottom.

Each repetition is an ``info`` event ``exercise_rep`` whose details give its measures and a one-line explanation of
its verdict. Thresholds were read off the squat clips in ``../shared/data/exercise`` and UP-Fall's sitting clips
(see the README's "Exercise form" section for what was measured).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from edge_app.records import Event, EventState, Landmark, Track
from edge_app.schema import option

DEPTH_TOLERANCE = 0.05  # hip at most this fraction of the leg's length above the knee still counts as "at depth"
MIN_VISIBILITY = 0.5  # a leg's hip, knee and ankle must all be at least this visible to be measured
FRONTAL_HIP_RATIO = 0.4  # hip width / trunk length at least this: the camera sees the person from the front
STANDING_KNEE_DEG = 145.0  # standing again needs the knee this straight too (in the picture)
UPRIGHT_3D = 0.85  # ... and, from world landmarks, the leg this extended (squat sets stood at 0.92-0.96) ...
STANDING_KNEE_3D_DEG = 130.0  # ... and the knee this straight (a seated person: at most 122)
MIN_RISE = 0.25  # from the bottom to standing the hip must rise this fraction of the leg's length in the picture (a
# leg's landmarks jumping onto someone walking past a seated person straighten the leg without lifting the hip)

SIDES = ((Landmark.LEFT_HIP, Landmark.LEFT_KNEE, Landmark.LEFT_ANKLE),
         (Landmark.RIGHT_HIP, Landmark.RIGHT_KNEE, Landmark.RIGHT_ANKLE))
SHOULDERS = (Landmark.LEFT_SHOULDER, Landmark.RIGHT_SHOULDER)


@dataclass(frozen=True)
class ExerciseRule:
    """One exercise as a table of thresholds (another exercise is another table, not new code).

    ``bottom_at``/``up_at``: leg extension (hip height over thigh plus shin) to reach going down / coming up;
    ``min_rep_s``/``max_rep_s``: a repetition (standing to standing) shorter or longer is not one (None: no limit);
    ``depth_knee_deg``: knee angle (degrees, image plane) at or below which depth is reached (None: depth not judged);
    ``valgus_ratio``, ``lean_deg``: warning thresholds (None: not judged); ``test_window_s``: repetitions whose
    descent began within this many seconds of the first one's are "in the test" (the 30-second chair-stand test)."""

    name: str
    bottom_at: float
    up_at: float
    min_rep_s: float
    max_rep_s: float | None
    depth_knee_deg: float | None
    valgus_ratio: float | None
    lean_deg: float | None
    test_window_s: float | None = None


RULES: dict[str, ExerciseRule] = {
    # squat: leg extension down to at most 0.7 and back to 0.9, 0.6-8 s standing to standing; sitting down and
    # staying is no squat. The reps of the three clips reached 0.36-0.59 with knees at 42-91 degrees.
    "squat": ExerciseRule("squat", bottom_at=0.70, up_at=0.90, min_rep_s=0.6, max_rep_s=8.0, depth_knee_deg=90.0,
                          valgus_ratio=0.9, lean_deg=50.0),
    # sit-to-stand (CDC STEADI 30-second chair stand): each rise from the chair to standing is one; seated, the leg
    # extension is about 0.5-0.7; no time limit on the sitting.
    "sit_to_stand": ExerciseRule("sit_to_stand", bottom_at=0.75, up_at=0.90, min_rep_s=0.6, max_rep_s=None,
                                 depth_knee_deg=None, valgus_ratio=None, lean_deg=None, test_window_s=30.0),
}


@dataclass(frozen=True)
class ExerciseSettings:
    """The ``analysis.exercise`` config section (usually set per source: ``per_source.gym.exercise.kind``)."""

    kind: Literal["off", "squat", "sit_to_stand"] = option("off", "the exercise counted on this source: off, squat, "
                                                                  "or sit_to_stand (30-second chair-stand test)")
    min_rate_hz: float = option(8.0, "below this many analysed frames per second the counter pauses (a squat's "
                                     "bottom lasts about half a second)")

    def validate(self) -> None:
        if self.min_rate_hz < 0:
            raise ValueError("min_rate_hz must be >= 0")


@dataclass(frozen=True)
class LegMeasures:
    """What one frame's landmarks (image pixels, y down) say of the legs and trunk.

    ``extension``: hip above ankle over thigh plus shin (image plane, the best-seen leg; about 1 standing);
    ``hip_over_knee``: how far the hip is above the knee as a fraction of the leg's length (negative once below);
    ``knee_deg``: hip-knee-ankle angle (degrees, 180 straight);
    ``frontal``: the camera sees the person from the front; ``knee_ankle_ratio``: knee spacing over ankle spacing
    (front view), None when not both legs are seen; ``lean_deg``: trunk from vertical, None without shoulders;
    ``hip_y``, ``leg``: the hip's height in the picture and the leg's drawn length (pixels); ``extension_2d``,
    ``extension_3d``, ``knee_3d``: the extension in the picture and in world metres, the knee angle in 3-D (None
    without world landmarks); ``extension`` is the smaller of the two extensions."""

    extension: float
    hip_over_knee: float
    knee_deg: float
    frontal: bool
    knee_ankle_ratio: float | None
    lean_deg: float | None
    hip_y: float = 0.0
    leg: float = 1.0
    extension_2d: float = 1.0
    extension_3d: float | None = None
    knee_3d: float | None = None


USED = (Landmark.LEFT_SHOULDER, Landmark.RIGHT_SHOULDER, *SIDES[0], *SIDES[1])  # the landmarks the measures read


def _angle(a: tuple, b: tuple, c: tuple) -> float:
    """Angle at ``b`` between b->a and b->c, degrees (points as (x, y, ...))."""
    ux, uy, vx, vy = a[0] - b[0], a[1] - b[1], c[0] - b[0], c[1] - b[1]
    norm = math.hypot(ux, uy) * math.hypot(vx, vy)
    return math.degrees(math.acos(max(-1.0, min(1.0, (ux * vx + uy * vy) / max(norm, 1e-9)))))


def leg_measures(landmarks: np.ndarray, world: np.ndarray | None = None) -> LegMeasures | None:
    """The measures of one frame from BlazePose landmarks (33, 5: x, y, z, visibility, presence; pixels) and, when
    given, its world landmarks (33, 3: metres, origin between the hips, y down), or None when no leg has its hip,
    knee and ankle seen (``MIN_VISIBILITY``). Plain float arithmetic on the landmarks it reads (numpy's per-call
    overhead would be most of the cost on arrays this small)."""
    p = dict(zip(USED, landmarks[list(USED)].tolist()))  # index -> [x, y, z, visibility, presence]
    seen = [side for side in SIDES if min(p[i][3] for i in side) >= MIN_VISIBILITY]
    if not seen:
        return None
    best = max(seen, key=lambda side: sum(p[i][3] for i in side))
    hip, knee, ankle = (p[i] for i in best)
    extension_3d = knee_3d = None
    if world is not None:  # the same leg in metres: a thigh pointing at the camera keeps its length here
        w_hip, w_knee, w_ankle = world[list(best)].tolist()
        thigh, shin = math.dist(w_hip, w_knee), math.dist(w_knee, w_ankle)
        if thigh + shin > 1e-3:
            extension_3d = (w_ankle[1] - w_hip[1]) / (thigh + shin)
            knee_3d = _angle3(w_hip, w_knee, w_ankle)
    both = len(seen) == 2
    (lh, rh), (ls, rs) = (p[SIDES[0][0]], p[SIDES[1][0]]), (p[SHOULDERS[0]], p[SHOULDERS[1]])
    shoulders_seen = min(ls[3], rs[3]) >= MIN_VISIBILITY
    tx, ty = (ls[0] + rs[0] - lh[0] - rh[0]) / 2, (ls[1] + rs[1] - lh[1] - rh[1]) / 2  # trunk: hips to shoulders
    trunk_len = math.hypot(tx, ty)
    frontal = shoulders_seen and both and trunk_len > 1 and abs(lh[0] - rh[0]) / trunk_len >= FRONTAL_HIP_RATIO
    ratio = None
    if both:
        ankles = abs(p[SIDES[0][2]][0] - p[SIDES[1][2]][0])
        ratio = abs(p[SIDES[0][1]][0] - p[SIDES[1][1]][0]) / ankles if ankles > 1 else None
    lean = math.degrees(math.atan2(abs(tx), -ty)) if shoulders_seen and ty < 0 else None
    knee_deg = sum(_angle(*(p[i] for i in side)) for side in seen) / len(seen)
    leg = math.hypot(hip[0] - knee[0], hip[1] - knee[1]) + math.hypot(knee[0] - ankle[0], knee[1] - ankle[1])
    if leg < 1:
        return None
    extension_2d = (ankle[1] - hip[1]) / leg
    extension = extension_2d if extension_3d is None else min(extension_2d, extension_3d)
    return LegMeasures(extension, (knee[1] - hip[1]) / leg, knee_deg, frontal, ratio, lean, hip[1], leg,
                       extension_2d, extension_3d, knee_3d)


def _angle3(a: list, b: list, c: list) -> float:
    """Angle at ``b`` between b->a and b->c in 3-D, degrees."""
    u, v = [x - y for x, y in zip(a, b)], [x - y for x, y in zip(c, b)]
    norm = math.hypot(*u) * math.hypot(*v)
    return math.degrees(math.acos(max(-1.0, min(1.0, sum(x * y for x, y in zip(u, v)) / max(norm, 1e-9)))))


def upright(m: LegMeasures, rule: ExerciseRule) -> bool:
    """Standing again: the leg extended and the knee straight in the picture and, when world landmarks are known,
    in 3-D too (filmed from the front, a seated person's thighs point at the camera and the picture alone reads
    them as standing: UP-Fall's seated subject measured 0.98 in the picture, 0.66-0.82 in 3-D)."""
    if m.extension_2d < rule.up_at or m.knee_deg < STANDING_KNEE_DEG:
        return False
    return m.extension_3d is None or (m.extension_3d >= UPRIGHT_3D and m.knee_3d >= STANDING_KNEE_3D_DEG)


@dataclass
class _Low:
    t: float
    m: LegMeasures


@dataclass
class ExerciseState:
    """A person's count, kept in ``track.state["exercise"]``: repetitions, the last verdict (for the screen), when
    the first repetition began, when they last stood, and the lowest point since (media times, seconds)."""

    exercise: str = ""
    reps: int = 0
    last_verdict: str | None = None
    first_start: float | None = None
    top_t: float | None = None
    low: _Low | None = None


def exercise_label(track: Track) -> str | None:
    """What the screen shows beside a person the exercise analyzer counts ("squat 3: good", ASCII: the picture's
    font has no other letters), or None before their first repetition."""
    st = track.state.get(ExerciseAnalyzer.name)
    if not isinstance(st, ExerciseState) or st.reps == 0:
        return None
    return f"{st.exercise.replace('_', '-')} {st.reps}: {st.last_verdict}"


def judge(rule: ExerciseRule, low: LegMeasures) -> tuple[str, list[str], dict]:
    """The verdict of one repetition from its bottom's measures: (verdict, warnings, the depth measures). Verdict
    ``good`` when depth is reached (or not judged) and nothing is warned, ``shallow`` without depth, else ``check
    form``."""
    warnings: list[str] = []
    depth: dict = {"knee_deg": round(low.knee_deg, 1), "hip_below_knee": low.hip_over_knee <= DEPTH_TOLERANCE,
                   "extension": round(low.extension, 3)}
    shallow = False
    if rule.depth_knee_deg is not None:
        depth["reached"] = depth["hip_below_knee"] or low.knee_deg <= rule.depth_knee_deg
        shallow = not depth["reached"]
    if rule.valgus_ratio is not None and low.frontal and low.knee_ankle_ratio is not None \
            and low.knee_ankle_ratio < rule.valgus_ratio:
        warnings.append(f"knees caving in (knees {low.knee_ankle_ratio:.2f} of ankle width)")
    if rule.lean_deg is not None and not low.frontal and low.lean_deg is not None and low.lean_deg > rule.lean_deg:
        warnings.append(f"leaning forward (trunk {low.lean_deg:.0f} degrees from vertical)")
    verdict = "shallow" if shallow else ("good" if not warnings else "check form")
    return verdict, warnings, depth


class ExerciseAnalyzer:
    """Counts one exercise's repetitions per person (see the module docstring) and reports each as an ``info`` event
    ``exercise_rep``. Pure Python per frame: a handful of landmarks, a sliding maximum, no model."""

    name = "exercise"

    def __init__(self, settings: ExerciseSettings):
        if settings.kind not in RULES:
            raise ValueError(f"no exercise {settings.kind!r} (known: {', '.join(RULES)})")
        self.settings, self.rule = settings, RULES[settings.kind]
        self.min_rate_hz = settings.min_rate_hz

    def retune(self, new: object) -> bool:
        if not isinstance(new, ExerciseAnalyzer) or new.rule.name != self.rule.name:
            return False
        self.settings, self.min_rate_hz = new.settings, new.min_rate_hz
        return True

    def update(self, track: Track, stream: str, now: float, wall: float) -> list[Event]:
        st: ExerciseState = track.state.setdefault(self.name, ExerciseState(self.rule.name))
        m = leg_measures(track.smoothed, track.pose.world)
        if m is None:
            return []
        rule, events = self.rule, []
        if upright(m, rule):
            if st.low is not None and st.low.m.extension <= rule.bottom_at and \
                    st.low.m.hip_y - m.hip_y >= MIN_RISE * m.leg:
                event = self._repetition(st, track, stream, now, wall)
                if event is not None:
                    events.append(event)
            st.top_t, st.low = now, None
        elif st.low is None or m.extension < st.low.m.extension:
            st.low = _Low(now, m)
        return events

    def _repetition(self, st: ExerciseState, track: Track, stream: str, now: float, wall: float) -> Event | None:
        rule, low = self.rule, st.low
        start = st.top_t
        span = now - (start if start is not None else low.t)
        if span < rule.min_rep_s or (rule.max_rep_s is not None and start is not None and span > rule.max_rep_s):
            return None  # a twitch, or someone who sat down and stayed: no repetition
        verdict, warnings, depth = judge(rule, low.m)
        st.reps += 1
        st.last_verdict = verdict
        began = start if start is not None else low.t
        if st.first_start is None:
            st.first_start = began
        down_s = None if start is None else round(low.t - start, 2)
        up_s = round(now - low.t, 2)
        details = {"exercise": rule.name, "rep": st.reps, "bottom_ts": round(low.t, 3), "verdict": verdict,
                   "warnings": warnings, **depth, "down_s": down_s, "up_s": up_s}
        if rule.test_window_s is not None:
            details["in_test"] = began - st.first_start <= rule.test_window_s
        details["explanation"] = explain(rule, details)
        return Event("exercise_rep", stream, track.id, EventState.INFO, 1.0, now, wall, details)

    def end_frame(self, stream: str, now: float, wall: float) -> list[Event]:
        return []


def explain(rule: ExerciseRule, d: dict) -> str:
    """One line saying why a repetition got its verdict, from its event details."""
    parts = [f"{rule.name.replace('_', '-')} {d['rep']}: {d['verdict']}"]
    if rule.depth_knee_deg is not None:
        how = "hip below knee" if d["hip_below_knee"] else f"knee {d['knee_deg']:.0f} degrees"
        parts.append(f"depth {'reached' if d['reached'] else 'not reached'} ({how}; needs hip below knee or knee "
                     f"<= {rule.depth_knee_deg:.0f} degrees)")
    parts.extend(d["warnings"])
    tempo = f"down {d['down_s']:.1f} s, up {d['up_s']:.1f} s" if d["down_s"] is not None else f"up {d['up_s']:.1f} s"
    parts.append(tempo)
    return "; ".join(parts)
