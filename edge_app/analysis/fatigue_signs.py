"""The signs of fatigue in a person's window, measured against the same person's own baseline: pure functions.

A fatigue warning names what it saw (``details.signs``). Each sign is the change from the person's baseline (their
first seconds in the same posture) to the last window, in the units the feature set uses (analysis/features.py:
lengths in torso lengths, seconds, degrees). The signs are the ones the fatigue literature and the semi-synthetic
training data use (convert/train/synthetic.py):

=================  ===================================================================  =========================
sign               measure (window minus baseline)                                      kind
=================  ===================================================================  =========================
head_droop         median head-droop angle about the neck, degrees                      posture
trunk_slump        median forward lean of the torso (3D), degrees                       posture
nodding            second-deepest dip of the head below its 3-s running median (one dip   moving
                   is looking down once), torso lengths
sway               amplitude of side-to-side hip motion around its 6-s running mean,    moving
                   torso lengths
slowed_movement    1 - (movement energy / baseline's), for a person who moved in the    moving
                   baseline
hand_to_face       share of the window with a hand within half a torso of the nose      moving
=================  ===================================================================  =========================

A sign is *present* when its measure reaches its threshold (``THRESHOLDS``). Postures alone (a head held down, a
forward lean: reading, typing, lying down to rest) never make a warning: at least one moving sign must be present
(``moving_sign``). The thresholds sit at the low end of the fatigued strengths of the training data's transforms
and above every ordinary window of the training split (below); the test split is never used to choose them.
"""

from __future__ import annotations

import numpy as np

from edge_app.analysis.features import FEATURE_NAMES

_F = {name: i for i, name in enumerate(FEATURE_NAMES)}
POSTURE_SIGNS = ("head_droop", "trunk_slump")
MOVING_SIGNS = ("nodding", "sway", "slowed_movement", "hand_to_face")
SIGNS = POSTURE_SIGNS + MOVING_SIGNS
# Chosen on the training split (UP-Fall activities 7 and 8), `python -m convert.train.fatigue_check --signs train`: each
# moving sign's threshold sits above its largest value on every ordinary window (as is, reading, posture shifts).
THRESHOLDS: dict[str, float] = {
    "head_droop": 20.0,  # degrees (training transforms: 25-50; a posture: reported, never enough alone)
    "trunk_slump": 12.0,  # degrees (15-35; a posture)
    "nodding": 0.1,  # torso lengths (dips of 0.25-0.5; ordinary windows reach 0.08)
    "sway": 0.06,  # torso lengths (amplitude 0.12-0.3; ordinary 0.035)
    "slowed_movement": 0.6,  # share of movement energy lost (ordinary windows reach 0.55: people settle in)
    "hand_to_face": 0.08,  # share of the window (2-4 s, 2-4 times; ordinary 0.05)
}
MIN_BASELINE_ENERGY = 0.05  # torso lengths per second: below it the baseline was still, and nothing can slow down
HAND_NEAR_FACE = 0.5  # torso lengths


def _running(x: np.ndarray, span: int, how=np.median) -> np.ndarray:
    """Running ``how`` of a 1-D series over ``span`` samples, centred, edges held."""
    span = max(1, min(span, len(x)))
    pad = np.pad(x, (span // 2, span - 1 - span // 2), mode="edge")
    return how(np.lib.stride_tricks.sliding_window_view(pad, span), axis=-1)


def _dips(feats: np.ndarray, rate: float, floor: float = 0.05) -> float:
    """Depth of the second-deepest dip of the head below its 3-s running median (torso lengths): nodding is
    repeated, so one dip (looking down once, a step change) does not count. Dips are runs of samples deeper than
    ``floor``."""
    head = feats[:, _F["head_above_hips"]]
    below = _running(head, int(round(3 * rate))) - head
    depths, current = [], 0.0
    for value in below:
        if value > floor:
            current = max(current, float(value))
        elif current:
            depths.append(current)
            current = 0.0
    if current:
        depths.append(current)
    return sorted(depths)[-2] if len(depths) >= 2 else 0.0


def _sway(feats: np.ndarray, rate: float) -> float:
    x = np.cumsum(feats[:, _F["hip_velocity_x"]]) / rate  # hip position, torso lengths, from its velocity
    around = x - _running(x, int(round(6 * rate)), np.mean)
    return float(np.sqrt(2) * np.std(around)) if len(x) else 0.0


def _hand_near_face(feats: np.ndarray) -> float:
    near = (feats[:, _F["hand_to_face"]] < HAND_NEAR_FACE) & (feats[:, _F["hands_seen"]] > 0.5)
    return float(near.mean()) if len(near) else 0.0


def measure_signs(window: np.ndarray, reference: np.ndarray, rate: float) -> dict[str, float]:
    """Every sign's measure (module table) for a window of features (T, NUM_FEATURES) at ``rate`` Hz against the
    person's baseline features (B, NUM_FEATURES) at the same rate. Returns {sign: size}, rounded for reading."""
    def median(feats, name):
        return float(np.median(feats[:, _F[name]]))

    base_energy = median(reference, "movement_energy")
    slowed = 0.0
    if base_energy >= MIN_BASELINE_ENERGY:
        slowed = 1.0 - median(window, "movement_energy") / base_energy
    sizes = {
        "head_droop": 90.0 * (median(window, "head_droop_3d") - median(reference, "head_droop_3d")),
        "trunk_slump": 90.0 * (median(window, "torso_angle_3d") - median(reference, "torso_angle_3d")),
        "nodding": _dips(window, rate) - _dips(reference, rate),
        "sway": _sway(window, rate) - _sway(reference, rate),
        "slowed_movement": slowed,
        "hand_to_face": _hand_near_face(window) - _hand_near_face(reference),
    }
    return {k: round(v, 3) for k, v in sizes.items()}


def present_signs(sizes: dict[str, float], thresholds: dict[str, float] = THRESHOLDS) -> dict[str, float]:
    """The signs whose measure reaches its threshold, with their sizes."""
    return {k: v for k, v in sizes.items() if v >= thresholds[k]}


def moving_sign(present: dict[str, float]) -> bool:
    """Whether ``present`` holds a sign that is more than a posture (module doc): what a warning needs."""
    return any(k in MOVING_SIGNS for k in present)
