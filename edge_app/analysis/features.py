"""Body-size-normalised, camera-invariant-as-possible features of a pose series, for the fall and fatigue models.

Pure functions. A window of a track's history is first resampled to a fixed rate (so a 30 fps camera and an 18 fps
one give the same series), then each step gets the features below. Lengths are in torso lengths (shoulder centre to
hip centre, floored by a quarter of the body box so a foreshortened torso does not blow them up); angles in units
of 90 degrees; velocities per second. Image y points down, so a positive vertical velocity is a descent. Four masks
say whether the head, the hands, the hips and the feet are seen.
"""

from __future__ import annotations

import numpy as np

from edge_app.records import Landmark

NOSE, L_SHOULDER, R_SHOULDER, L_ELBOW, R_ELBOW, L_WRIST, R_WRIST = (
    Landmark.NOSE, Landmark.LEFT_SHOULDER, Landmark.RIGHT_SHOULDER, Landmark.LEFT_ELBOW, Landmark.RIGHT_ELBOW,
    Landmark.LEFT_WRIST, Landmark.RIGHT_WRIST)
L_HIP, R_HIP, L_KNEE, R_KNEE, L_ANKLE, R_ANKLE = (
    Landmark.LEFT_HIP, Landmark.RIGHT_HIP, Landmark.LEFT_KNEE, Landmark.RIGHT_KNEE, Landmark.LEFT_ANKLE,
    Landmark.RIGHT_ANKLE)
KEY_JOINTS = (NOSE, L_SHOULDER, R_SHOULDER, L_ELBOW, R_ELBOW, L_WRIST, R_WRIST, L_HIP, R_HIP, L_KNEE, R_KNEE,
              L_ANKLE, R_ANKLE)
_K = {j: i for i, j in enumerate(KEY_JOINTS)}  # body joint -> column in the resampled arrays

FEATURE_NAMES = (
    "torso_angle_2d", "torso_angle_3d", "log_aspect", "head_above_hips", "head_above_feet", "hips_above_feet",
    "knee_angle_l", "knee_angle_r", "hip_angle_l", "hip_angle_r", "elbow_angle_l", "elbow_angle_r", "neck_angle",
    "head_droop_3d", "hand_to_face", "visibility",
    "hip_velocity_y", "hip_acceleration_y", "head_velocity_y", "hip_velocity_x", "movement_energy",
    "head_seen", "hands_seen", "hips_seen", "feet_seen",
)
SEEN = 0.5  # visibility from which a joint counts as seen (the masks)
NUM_FEATURES = len(FEATURE_NAMES)


def resample(times: np.ndarray, landmarks: np.ndarray, world: np.ndarray, grid: np.ndarray
             ) -> tuple[np.ndarray, np.ndarray]:
    """Key joints of a (T, 33, 5) landmark and (T, 33, 3) world series, linearly interpolated at ``grid`` times
    (held at the ends, as ``np.interp``; ``times`` increasing): returns (G, 13, 4) [x, y, z, visibility] and
    (G, 13, 3). All 91 series share one search for their neighbours (a third of the time of 91 ``np.interp``)."""
    keys = list(KEY_JOINTS)
    n = len(keys)
    both = np.concatenate([landmarks[:, keys, :4].reshape(len(times), -1),
                           world[:, keys, :].reshape(len(times), -1)], axis=1).astype(np.float64)
    if len(times) == 1:
        out = np.repeat(both, len(grid), axis=0)
    else:
        idx = np.clip(np.searchsorted(times, grid, side="right") - 1, 0, len(times) - 2)
        t0, t1 = times[idx], times[idx + 1]
        w = np.clip((grid - t0) / np.where(t1 > t0, t1 - t0, 1.0), 0.0, 1.0)[:, None]
        out = both[idx] * (1.0 - w) + both[idx + 1] * w
    return out[:, :n * 4].reshape(len(grid), n, 4), out[:, n * 4:].reshape(len(grid), n, 3)


def _angle_to_vertical(vec: np.ndarray) -> np.ndarray:
    """Angle (radians) between vectors (..., 2) in image coordinates (y down) and straight up."""
    return np.arctan2(np.abs(vec[..., 0]), -vec[..., 1])


def _length(vec: np.ndarray) -> np.ndarray:
    """Euclidean length over the last axis (``np.linalg.norm(vec, axis=-1)`` without its per-call overhead)."""
    return np.sqrt((vec * vec).sum(-1))


def _joint_angle(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Angle (radians, 0-pi) at ``b`` between ``a`` and ``c``: arrays (..., D) of points."""
    u, v = a - b, c - b
    cos = (u * v).sum(-1) / np.maximum(_length(u) * _length(v), 1e-9)
    return np.arccos(np.clip(cos, -1.0, 1.0))


# the six limb angles (knees, hips, elbows; left then right), as columns (a, b, c) of the resampled arrays
_LIMBS = np.array([[_K[a], _K[b], _K[c]] for a, b, c in (
    (L_HIP, L_KNEE, L_ANKLE), (R_HIP, R_KNEE, R_ANKLE), (L_SHOULDER, L_HIP, L_KNEE), (R_SHOULDER, R_HIP, R_KNEE),
    (L_SHOULDER, L_ELBOW, L_WRIST), (R_SHOULDER, R_ELBOW, R_WRIST))])
_NOSE, _LS, _RS, _LH, _RH = _K[NOSE], _K[L_SHOULDER], _K[R_SHOULDER], _K[L_HIP], _K[R_HIP]
_LW, _RW, _LA, _RA = _K[L_WRIST], _K[R_WRIST], _K[L_ANKLE], _K[R_ANKLE]


def frame_features(lm: np.ndarray, world: np.ndarray, dt: float) -> np.ndarray:
    """Features (G, NUM_FEATURES) float32 of a resampled window: ``lm`` (G, 13, 4), ``world`` (G, 13, 3), step
    ``dt`` seconds (G >= 2). Each step's features in the order of FEATURE_NAMES; NaN and infinities become 0.

    Runs every 0.1 s for every tracked person (the fall model), so it is written as a few whole-array operations:
    about a third of the time of one NumPy call per feature, the same values (tests/unit/test_fall.py)."""
    xy = lm[..., :2]
    vis = lm[..., 3]
    sh = (xy[:, _LS] + xy[:, _RS]) / 2
    hip = (xy[:, _LH] + xy[:, _RH]) / 2
    feet = (xy[:, _LA] + xy[:, _RA]) / 2
    nose = xy[:, _NOSE]
    low, high = xy.min(1), xy.max(1)
    width, height = high[:, 0] - low[:, 0], high[:, 1] - low[:, 1]
    torso = np.maximum(_length(sh - hip), 0.25 * np.maximum(width, height))
    scale = np.maximum(torso, 1e-3)
    right_angle = np.pi / 2

    w_sh = (world[:, _LS] + world[:, _RS]) / 2
    w_torso = w_sh - (world[:, _LH] + world[:, _RH]) / 2
    w_neck = world[:, _NOSE] - w_sh
    w_torso_len = _length(w_torso)
    torso_3d = np.arccos(np.clip(-w_torso[:, 1] / np.maximum(w_torso_len, 1e-9), -1, 1))
    droop = np.arccos(np.clip((w_neck * w_torso).sum(-1) / np.maximum(_length(w_neck) * w_torso_len, 1e-9), -1, 1))

    # velocities in torso lengths per second, with the window's median torso as the unit (steady across a fall)
    unit = float(np.median(scale))
    xy_v = np.gradient(xy, dt, axis=0)  # (G, 13, 2); the gradient is linear, so the centres' are the joints' means
    hip_v = (xy_v[:, _LH] + xy_v[:, _RH]) / 2 / unit
    head_vy = xy_v[:, _NOSE, 1] / unit
    hip_a = np.gradient(hip_v[:, 1], dt) / 10.0
    speeds = _length(xy_v) / unit
    energy = (speeds * vis).sum(1) / np.maximum(vis.sum(1), 1e-6)
    hand_face = np.minimum(_length(xy[:, _LW] - nose), _length(xy[:, _RW] - nose)) / scale

    feats = np.empty((len(xy), NUM_FEATURES), np.float64)
    feats[:, 0] = _angle_to_vertical(sh - hip) / right_angle
    feats[:, 1] = torso_3d / right_angle
    feats[:, 2] = np.log(np.maximum(width, 1.0) / np.maximum(height, 1.0))
    feats[:, 3] = (hip[:, 1] - nose[:, 1]) / scale
    feats[:, 4] = (feet[:, 1] - nose[:, 1]) / scale
    feats[:, 5] = (feet[:, 1] - hip[:, 1]) / scale
    feats[:, 6:12] = _joint_angle(xy[:, _LIMBS[:, 0]], xy[:, _LIMBS[:, 1]], xy[:, _LIMBS[:, 2]]) / np.pi
    feats[:, 12] = _joint_angle(nose, sh, hip) / np.pi
    feats[:, 13] = droop / right_angle
    feats[:, 14] = np.minimum(hand_face, 5.0)
    feats[:, 15] = vis.mean(1)
    feats[:, 16] = hip_v[:, 1]
    feats[:, 17] = hip_a
    feats[:, 18] = head_vy
    feats[:, 19] = hip_v[:, 0]
    np.clip(feats[:, 16:20], -10, 10, out=feats[:, 16:20])
    feats[:, 20] = np.minimum(energy, 10.0)
    # masks for joints not seen: a feature computed from guessed joints means less where its mask is 0
    feats[:, 21] = vis[:, _NOSE] >= SEEN
    feats[:, 22] = np.maximum(vis[:, _LW], vis[:, _RW]) >= SEEN
    feats[:, 23] = np.maximum(vis[:, _LH], vis[:, _RH]) >= SEEN
    feats[:, 24] = np.maximum(vis[:, _LA], vis[:, _RA]) >= SEEN
    return np.nan_to_num(feats.astype(np.float32), nan=0.0, posinf=0.0, neginf=0.0)


def window(times: np.ndarray, landmarks: np.ndarray, world: np.ndarray, end: float, seconds: float, rate: float
           ) -> np.ndarray | None:
    """Features (steps, NUM_FEATURES) of the ``seconds`` before ``end`` at ``rate`` Hz; None when the series does
    not cover at least 60 % of that span (a person just appeared)."""
    steps = int(round(seconds * rate))
    if len(times) < 2 or end - times[0] < 0.6 * seconds or times[-1] < end - 0.5:
        return None
    grid = end - (steps - 1 - np.arange(steps)) / rate
    lm, wd = resample(times, landmarks, world, grid)
    return frame_features(lm, wd, 1.0 / rate)


def current_features(landmarks: np.ndarray, world: np.ndarray) -> np.ndarray:
    """The posture features (NUM_FEATURES,) of one frame's (33, 5) landmarks and (33, 3) world landmarks; motion
    features are zero."""
    keys = list(KEY_JOINTS)
    lm = np.repeat(landmarks[None, keys, :4].astype(np.float64), 2, axis=0)
    wd = np.repeat(world[None, keys, :].astype(np.float64), 2, axis=0)
    return frame_features(lm, wd, 1.0)[-1]


def posture_measures(landmarks: np.ndarray) -> tuple[float, float]:
    """(torso angle to vertical in degrees, hips above feet in torso lengths) of one frame's (33, 5) landmarks: the
    same values as ``current_features``'s ``torso_angle_2d`` * 90 and ``hips_above_feet``, at a fraction of the
    cost (the fall analyzer needs them every frame)."""
    xy = landmarks[list(KEY_JOINTS), :2]
    sh = (xy[_K[L_SHOULDER]] + xy[_K[R_SHOULDER]]) / 2
    hip = (xy[_K[L_HIP]] + xy[_K[R_HIP]]) / 2
    feet_y = (xy[_K[L_ANKLE], 1] + xy[_K[R_ANKLE], 1]) / 2
    span = xy.max(0) - xy.min(0)
    torso = max(float(np.hypot(*(sh - hip))), 0.25 * float(span.max()), 1e-3)
    d = sh - hip
    return float(np.degrees(np.arctan2(abs(d[0]), -d[1]))), float((feet_y - hip[1]) / torso)
