"""Fatigue per track: a sequence model over the last 20 s of posture and motion, relative to the same person's own
first seconds in the same posture (so a camera's angle, a person's build, or sitting down is not read as fatigue),
and a smoothed score with hysteresis that raises and clears the alert.

    no baseline yet --(baseline_s seen in this posture)--> scoring every every_s:
                                                           score = EMA(model(window - baseline))
    posture changes (standing / sitting / lying, from the posture analyzer) --> baseline taken again
    scoring --(score >= raise_at for hold_s, and a moving sign in the last window)--> alert raised, naming its signs
    raised --(score <= clear_at for clear_s)--> alert cleared

The signs (head droop, nodding, slump, sway, slowed movement, hand to face) are measured against the same baseline
(analysis/fatigue_signs.py); a posture alone never raises a warning. What the shipped model was trained on
(semi-synthetic sequences) and what that means is in the README.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edge_app.analysis.fatigue_signs import measure_signs, moving_sign, present_signs
from edge_app.analysis.features import window
from edge_app.analysis.posture import POSTURES, posture_of
from edge_app.analysis.sequence_model import Scorer, recent_history
from edge_app.records import Event, EventState, Track
from edge_app.schema import option

RATE_HZ = 4.0  # fatigue windows are resampled to this rate (the model's input length sets the window: 80 = 20 s)
BASELINE_S = 10.0


def baseline(times: np.ndarray, landmarks: np.ndarray, world: np.ndarray, start: float,
             seconds: float = BASELINE_S) -> np.ndarray | None:
    """The features (seconds * RATE_HZ, NUM_FEATURES) of a person's first ``seconds`` in view (from ``start``);
    None if not yet covered. The model reads the window minus their median; the signs compare against all of it."""
    if len(times) < 2 or times[-1] < start + seconds:
        return None
    return window(times, landmarks, world, start + seconds, seconds, RATE_HZ)


@dataclass(frozen=True)
class FatigueSettings:
    """The ``analysis.fatigue`` config section."""

    enabled: bool = option(True, "raise fatigue alerts (needs the fatigue_detector model from `make models`)")
    model: str = option("fatigue_detector", "sequence model name in the manifest")
    every_s: float = option(1.0, "seconds between model runs per person")
    min_rate_hz: float = option(8.0, "below this many analysed frames per second of a stream, fatigue detection "
                                     "pauses with a warning (its model reads motion: at 5 fps standing still and "
                                     "at 1 fps walking looked tired)")
    smoothing: float = option(0.3, "weight of each new score in the running score (exponential average, 0-1)")
    raise_at: float = option(0.8, "running score at or above which the alert may be raised")
    hold_s: float = option(20.0, "the running score must stay at or above raise_at this long (seconds; chosen "
                                 "on validation sequences: 10 s raised alerts on ordinary ones)")
    clear_at: float = option(0.4, "running score at or below which the alert may clear")
    clear_s: float = option(10.0, "the running score must stay at or below clear_at this long (seconds)")
    postures: list[str] = option(factory=lambda: ["standing", "sitting"],
                                 doc="postures in which a person is scored: someone lying is resting or has fallen "
                                     "(the fall analyzer's business), not working tired")
    min_body_px: float = option(120.0, "people smaller than this in the picture (body box's long side, pixels) are "
                                       "not scored: the model reads head and hands, and was trained on people "
                                       "243-349 px tall (UP-Fall, 5th-95th percentile)")

    def validate(self) -> None:
        if not 0 < self.smoothing <= 1:
            raise ValueError("smoothing must be in (0, 1]")
        if not 0 <= self.clear_at < self.raise_at <= 1:
            raise ValueError("need 0 <= clear_at < raise_at <= 1 (hysteresis)")
        unknown = [p for p in self.postures if p not in POSTURES]
        if unknown:
            raise ValueError(f"postures: {unknown[0]!r} is not one of {', '.join(POSTURES)}")
        if self.every_s <= 0 or self.hold_s < 0 or self.clear_s < 0 or self.min_body_px < 0:
            raise ValueError("every_s must be > 0, hold_s, clear_s and min_body_px >= 0")


@dataclass
class FatigueState:
    baseline: np.ndarray | None = None  # median features of the reference seconds (NUM_FEATURES,)
    reference: np.ndarray | None = None  # the reference seconds' features (T, NUM_FEATURES), for the signs
    posture: str | None = None  # the posture the baseline belongs to
    segment_start: float | None = None  # since when the person has been in that posture
    score: float = 0.0
    scored: int = 0
    last_model: float = -1e9
    above_since: float | None = None
    below_since: float | None = None
    raised: bool = False
    raised_at: float = 0.0


class FatigueAnalyzer:
    name = "fatigue"

    def __init__(self, model: Scorer, settings: FatigueSettings = FatigueSettings()):
        self.model, self.s = model, settings
        self.min_rate_hz = settings.min_rate_hz
        self.window_s = model.steps / RATE_HZ

    def retune(self, new: object) -> bool:
        if not isinstance(new, FatigueAnalyzer) or new.s.model != self.s.model:
            return False
        self.s, self.min_rate_hz = new.s, new.min_rate_hz
        return True

    def update(self, track: Track, stream: str, now: float, wall: float) -> list[Event]:
        s = self.s
        st: FatigueState = track.state.setdefault(self.name, FatigueState())
        if now - st.last_model < s.every_s:
            return []
        st.last_model = now
        x0, y0, x1, y1 = track.box
        if max(x1 - x0, y1 - y0) < s.min_body_px:
            st.segment_start, st.above_since = None, None  # too small to read: start afresh when they are nearer
            return []
        posture = posture_of(track)
        if st.segment_start is None or (posture is not None and posture != st.posture):
            st.segment_start = track.first_seen if st.segment_start is None else now
            st.posture, st.baseline, st.reference, st.scored, st.above_since = posture, None, None, 0, None
        if posture is not None and posture not in s.postures:
            st.above_since = None  # not scored in this posture (a raised alert still clears as usual below)
            return self._clear_only(st, track, stream, now, wall)
        if st.baseline is None:
            hist = recent_history(track.history, st.segment_start - 1.0)
            st.reference = baseline(*hist, start=st.segment_start) if hist is not None else None
            if st.reference is None:
                return []
            st.baseline = np.median(st.reference, axis=0)
        hist = recent_history(track.history, max(now - self.window_s - 1.0, st.segment_start))
        feats = window(*hist, end=now, seconds=self.window_s, rate=RATE_HZ) if hist is not None else None
        if feats is None:
            return []
        raw = self.model((feats - st.baseline).astype(np.float32))
        st.score = raw if st.scored == 0 else (1 - s.smoothing) * st.score + s.smoothing * raw
        st.scored += 1
        signs = present_signs(measure_signs(feats, st.reference, RATE_HZ))
        st.above_since = (st.above_since if st.above_since is not None else now) if st.score >= s.raise_at else None
        st.below_since = (st.below_since if st.below_since is not None else now) if st.score <= s.clear_at else None
        details = {"score_now": round(raw, 3), "running_score": round(st.score, 3), "signs": signs}
        if (not st.raised and st.above_since is not None and now - st.above_since >= s.hold_s
                and moving_sign(signs)):  # the model's score held, and more than a posture is seen
            st.raised, st.raised_at = True, now
            return [Event("fatigue", stream, track.id, EventState.RAISED, round(st.score, 4), now, wall, details)]
        if st.raised and st.below_since is not None and now - st.below_since >= s.clear_s:
            st.raised = False
            return [Event("fatigue", stream, track.id, EventState.CLEARED, round(st.score, 4), now, wall,
                          {**details, "raised_for_s": round(now - st.raised_at, 1)})]
        return []

    def end_frame(self, stream: str, now: float, wall: float) -> list[Event]:
        return []  # its state lives on the track and goes with it

    def _clear_only(self, st: FatigueState, track: Track, stream: str, now: float, wall: float) -> list[Event]:
        """In a posture that is not scored: a raised alert clears after ``clear_s`` there; nothing is raised."""
        st.below_since = st.below_since if st.below_since is not None else now
        if st.raised and now - st.below_since >= self.s.clear_s:
            st.raised = False
            return [Event("fatigue", stream, track.id, EventState.CLEARED, round(st.score, 4), now, wall,
                          {"reason": f"{st.posture} (not scored)", "raised_for_s": round(now - st.raised_at, 1)})]
        return []
