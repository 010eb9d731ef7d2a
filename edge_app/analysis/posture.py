"""Posture per track: standing, sitting or lying, from body geometry, with hysteresis against flicker."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from edge_app.records import Event, EventState, Landmark, Track

L_SHOULDER, R_SHOULDER, L_HIP, R_HIP, L_KNEE, R_KNEE, L_ANKLE, R_ANKLE = (
    Landmark.LEFT_SHOULDER, Landmark.RIGHT_SHOULDER, Landmark.LEFT_HIP, Landmark.RIGHT_HIP, Landmark.LEFT_KNEE,
    Landmark.RIGHT_KNEE, Landmark.LEFT_ANKLE, Landmark.RIGHT_ANKLE)
POSTURES = ("standing", "sitting", "lying")


def angle_to_vertical(vec: np.ndarray) -> float:
    """Degrees between a 2D image vector (y down) and straight up; 0 upright, 90 horizontal."""
    return math.degrees(math.atan2(abs(float(vec[0])), max(-float(vec[1]), 1e-9))) if vec[1] < 0 else \
        180.0 - math.degrees(math.atan2(abs(float(vec[0])), max(float(vec[1]), 1e-9)))


def joint_angle(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> float:
    """Angle at ``b`` in degrees between b->a and b->c (180 = straight)."""
    u, v = a - b, c - b
    cos = float(np.dot(u, v) / max(np.linalg.norm(u) * np.linalg.norm(v), 1e-9))
    return math.degrees(math.acos(max(-1.0, min(1.0, cos))))


@dataclass(frozen=True)
class PostureFeatures:
    torso_angle: float  # degrees from vertical, image plane
    thigh_angle: float  # degrees from vertical, mean of both thighs, image plane
    knee_angle: float  # degrees, mean of both knees
    aspect: float  # landmark box width / height


def features(landmarks: np.ndarray) -> PostureFeatures:
    xy = landmarks[:, :2]
    shoulders, hips = xy[[L_SHOULDER, R_SHOULDER]].mean(axis=0), xy[[L_HIP, R_HIP]].mean(axis=0)
    torso = angle_to_vertical(shoulders - hips)
    thighs = [angle_to_vertical(xy[h] - xy[k]) for h, k in ((L_HIP, L_KNEE), (R_HIP, R_KNEE))]
    knees = [joint_angle(xy[h], xy[k], xy[a]) for h, k, a in ((L_HIP, L_KNEE, L_ANKLE), (R_HIP, R_KNEE, R_ANKLE))]
    w = float(xy[:, 0].max() - xy[:, 0].min())
    h = float(xy[:, 1].max() - xy[:, 1].min())
    return PostureFeatures(torso, float(np.mean(thighs)), float(np.mean(knees)), w / max(h, 1e-6))


def classify(f: PostureFeatures) -> str:
    """Lying: torso far from vertical; sitting: torso up but thighs well off vertical with bent knees."""
    if f.torso_angle >= 60 or (f.torso_angle >= 45 and f.aspect > 1.3):
        return "lying"
    if f.thigh_angle >= 50 and f.knee_angle <= 140:
        return "sitting"
    return "standing"


@dataclass
class PostureState:
    """A track's posture as the posture analyzer keeps it in ``track.state["posture"]``: the posture reported, the
    candidate that must hold ``hold_s`` before it is, and since when (media time, seconds)."""

    posture: str | None = None
    candidate: str | None = None
    since: float = 0.0


def posture_of(track: Track) -> str | None:
    """The posture the posture analyzer last reported for ``track`` (standing, sitting, lying), None before it has
    (or when it does not run)."""
    st = track.state.get(PostureAnalyzer.name)
    return st.posture if isinstance(st, PostureState) else None


class PostureAnalyzer:
    """Emits an ``info`` event ``posture`` when a track's posture changes and the new one has held ``hold_s``."""

    name = "posture"
    min_rate_hz = 0.0  # a posture is a posture at any rate

    def __init__(self, hold_s: float = 0.4):
        self.hold_s = hold_s

    def retune(self, new: object) -> bool:
        if not isinstance(new, PostureAnalyzer):
            return False
        self.hold_s = new.hold_s
        return True

    def update(self, track: Track, stream: str, now: float, wall: float) -> list[Event]:
        st: PostureState = track.state.setdefault(self.name, PostureState())
        f = features(track.smoothed)
        label = classify(f)
        if label != st.candidate:
            st.candidate, st.since = label, now
        if st.candidate == st.posture or now - st.since < self.hold_s and st.posture is not None:
            return []
        previous, st.posture = st.posture, st.candidate
        return [Event("posture", stream, track.id, EventState.INFO, 1.0, now, wall,
                      {"posture": st.posture, "previous": previous, "torso_angle": round(f.torso_angle, 1),
                       "thigh_angle": round(f.thigh_angle, 1), "knee_angle": round(f.knee_angle, 1)})]

    def end_frame(self, stream: str, now: float, wall: float) -> list[Event]:
        return []  # nothing depends on who was not seen
