"""Training windows from pose sequences: features of the seconds before each moment, and their labels."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from convert.train.clips import Clip
from convert.train.extract import Sequence
from edge_app.analysis.fall import FallSettings
from edge_app.analysis.features import FEATURE_NAMES, resample, window
from edge_app.analysis.features import frame_features as _frame_features

TORSO = FEATURE_NAMES.index("torso_angle_2d")
HIPS_ABOVE_FEET = FEATURE_NAMES.index("hips_above_feet")


@dataclass
class Windows:
    x: np.ndarray  # (N, steps, features) float32
    y: np.ndarray  # (N,) float32 in [0, 1]
    clip: np.ndarray  # (N,) clip names
    end: np.ndarray  # (N,) window end, seconds in the clip

    def subset(self, mask: np.ndarray) -> Windows:
        return Windows(self.x[mask], self.y[mask], self.clip[mask], self.end[mask])

    @staticmethod
    def concat(parts: list[Windows]) -> Windows:
        parts = [p for p in parts if len(p.y)]
        if not parts:
            return Windows(np.zeros((0, 1, len(FEATURE_NAMES)), np.float32), np.zeros(0, np.float32),
                           np.zeros(0, str), np.zeros(0))
        return Windows(np.concatenate([p.x for p in parts]), np.concatenate([p.y for p in parts]),
                       np.concatenate([p.clip for p in parts]), np.concatenate([p.end for p in parts]))


def series(seq: Sequence, rate: float = 15.0) -> tuple[np.ndarray, np.ndarray]:
    """Per-step features over the whole tracked span of a sequence (for labelling, not for the model)."""
    grid = np.arange(seq.times[0], seq.times[-1], 1.0 / rate)
    lm, wd = resample(seq.times, seq.landmarks, seq.world, grid)
    return grid, _frame_features(lm, wd, 1.0 / rate)


FALL_RULES = FallSettings()


def is_down(feats: np.ndarray, s: FallSettings = FALL_RULES) -> np.ndarray:
    """On the ground by body geometry, with the fall analyzer's thresholds: torso far from vertical, or hips as low
    as the feet."""
    return (feats[:, TORSO] * 90 > s.down_torso_deg) | (feats[:, HIPS_ABOVE_FEET] < s.down_hips_above_feet)


def down_time(seq: Sequence, hold: float = 1.0, rate: float = 15.0) -> float | None:
    """The first moment after which the person stays down for ``hold`` seconds (80 % of its steps); None if never.
    Used to place the fall in UP-Fall clips, whose labels are per clip. Only the subject's own track counts
    (someone else in view has another id)."""
    if seq.subject is None:
        return None
    seq = seq.track(seq.subject)
    if len(seq.times) < 2:
        return None
    grid, feats = series(seq, rate)
    down = is_down(feats)
    n = int(hold * rate)
    for i in range(len(grid) - n):
        if down[i] and down[i:i + n].mean() >= 0.8:
            return float(grid[i])
    return None


def mirrored(x: np.ndarray) -> np.ndarray:
    """The same windows seen in a mirror: left and right joints swap, horizontal motion changes sign."""
    out = x.copy()
    for a, b in (("knee_angle_l", "knee_angle_r"), ("hip_angle_l", "hip_angle_r"),
                 ("elbow_angle_l", "elbow_angle_r")):
        i, j = FEATURE_NAMES.index(a), FEATURE_NAMES.index(b)
        out[..., [i, j]] = x[..., [j, i]]
    out[..., FEATURE_NAMES.index("hip_velocity_x")] *= -1
    return out


def trial_down_times(clips: list[Clip], seqs: dict[str, Sequence]) -> dict[str, float]:
    """UP-Fall's two cameras film the same trial in sync: the fall happens at the same moment in both. Each clip
    gets the earliest moment either camera shows the person down (a frontal view can hide a lying torso)."""
    by_trial: dict[str, list[float]] = {}
    for clip in clips:
        if clip.kind == "fall" and clip.labels is None and clip.name in seqs:
            t = down_time(seqs[clip.name])
            if t is not None:
                by_trial.setdefault(clip.name.rsplit("-c", 1)[0], []).append(t)
    return {c.name: min(by_trial[c.name.rsplit("-c", 1)[0]]) for c in clips
            if c.name.rsplit("-c", 1)[0] in by_trial}


def fall_label(clip: Clip, seq: Sequence, ends: np.ndarray, t_down: float | None = None) -> np.ndarray:
    """1 for windows ending while a fall happens or just after it, 0 for ordinary moments, -1 to leave out
    (the edges of a fall, where either answer is defensible)."""
    y = np.full(len(ends), -1.0)
    if clip.kind == "adl":
        y[:] = 0.0
        return y
    if clip.labels is not None:  # UR Fall: -1 not lying, 0 falling, 1 lying (per frame)
        labels = np.asarray(clip.labels)
        if not (labels == 1).any():
            return y
        t_lying = float(np.argmax(labels == 1)) / seq.fps
        t_fall = float(np.argmax(labels == 0)) / seq.fps if (labels == 0).any() else t_lying - 1.0
        y[(ends >= t_fall + 0.3) & (ends <= t_lying + 1.0)] = 1.0
        y[ends < t_fall - 0.2] = 0.0
        return y
    t_down = down_time(seq) if t_down is None else t_down
    if t_down is None:
        return y
    y[(ends >= t_down - 0.7) & (ends <= t_down + 1.0)] = 1.0
    y[(ends < t_down - 1.5) | (ends > t_down + 2.5)] = 0.0
    return y


def make_windows(clip: Clip, seq: Sequence, seconds: float, rate: float, stride: float, label_fn) -> Windows:
    """Windows of every tracked person, as the runtime's analyzers see them. The clip's label applies to its
    subject; other people are ordinary moments in daily-activity clips and left out of fall clips (a bystander
    sits through someone else's fall, and a fallen subject found again under a new id has no clean label)."""
    parts = []
    subject = seq.subject
    for track_id in sorted(set(seq.ids.tolist())):
        own = seq.track(track_id)
        if track_id == subject:
            parts.append(_track_windows(clip, own, seconds, rate, stride, label_fn))
        elif clip.kind == "adl":
            parts.append(_track_windows(clip, own, seconds, rate, stride, lambda c, s, e: np.zeros(len(e))))
    return Windows.concat(parts)


def _track_windows(clip: Clip, seq: Sequence, seconds: float, rate: float, stride: float, label_fn) -> Windows:
    steps = int(round(seconds * rate))
    if len(seq.times) < 2:
        return Windows.concat([])
    ends = np.arange(seq.times[0] + 0.6 * seconds, seq.times[-1] + 1e-6, stride)
    xs, keep = [], []
    for i, end in enumerate(ends):
        w = window(seq.times, seq.landmarks, seq.world, float(end), seconds, rate)
        if w is not None and len(w) == steps:
            xs.append(w)
            keep.append(i)
    if not xs:
        return Windows.concat([])
    ends = ends[keep]
    y = label_fn(clip, seq, ends)
    use = y >= 0
    return Windows(np.stack(xs)[use].astype(np.float32), y[use].astype(np.float32),
                   np.array([clip.name] * int(use.sum())), ends[use])
