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


def _joint_angle(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    u, v = a - b, c - b
    cos = (u * v).sum(-1) / np.maximum(np.linalg.norm(u, axis=-1) * np.linalg.norm(v, axis=-1), 1e-9)
    return np.arccos(np.clip(cos, -1.0, 1.0))


def frame_features(lm: np.ndarray, world: np.ndarray, dt: float) -> np.ndarray:
    """Features (G, NUM_FEATURES) of a resampled window: ``lm`` (G, 13, 4), ``world`` (G, 13, 3), step ``dt``."""
    xy = lm[..., :2]
    vis = lm[..., 3]
    sh = (xy[:, _K[L_SHOULDER]] + xy[:, _K[R_SHOULDER]]) / 2
    hip = (xy[:, _K[L_HIP]] + xy[:, _K[R_HIP]]) / 2
    feet = (xy[:, _K[L_ANKLE]] + xy[:, _K[R_ANKLE]]) / 2
    nose = xy[:, _K[NOSE]]
    width = xy[..., 0].max(1) - xy[..., 0].min(1)
    height = xy[..., 1].max(1) - xy[..., 1].min(1)
    torso = np.maximum(np.linalg.norm(sh - hip, axis=-1), 0.25 * np.maximum(width, height))
    scale = np.maximum(torso, 1e-3)
    right_angle = np.pi / 2

    w_sh = (world[:, _K[L_SHOULDER]] + world[:, _K[R_SHOULDER]]) / 2
    w_hip = (world[:, _K[L_HIP]] + world[:, _K[R_HIP]]) / 2
    w_torso = w_sh - w_hip
    torso_3d = np.arccos(np.clip(-w_torso[:, 1] / np.maximum(np.linalg.norm(w_torso, axis=-1), 1e-9), -1, 1))
    w_neck = world[:, _K[NOSE]] - w_sh
    droop = np.arccos(np.clip((w_neck * w_torso).sum(-1) / np.maximum(
        np.linalg.norm(w_neck, axis=-1) * np.linalg.norm(w_torso, axis=-1), 1e-9), -1, 1))

    def angle(a, b, c):
        return _joint_angle(xy[:, _K[a]], xy[:, _K[b]], xy[:, _K[c]]) / np.pi

    hand_face = np.minimum(np.linalg.norm(xy[:, _K[L_WRIST]] - nose, axis=-1),
                           np.linalg.norm(xy[:, _K[R_WRIST]] - nose, axis=-1)) / scale
    # velocities in torso lengths per second, with the window's median torso as the unit (steady across a fall)
    unit = float(np.median(scale))
    hip_v = np.gradient(hip, dt, axis=0) / unit
    head_v = np.gradient(nose, dt, axis=0) / unit
    hip_a = np.gradient(hip_v[:, 1], dt) / 10.0
    speeds = np.linalg.norm(np.gradient(xy, dt, axis=0), axis=-1) / unit
    energy = (speeds * vis).sum(1) / np.maximum(vis.sum(1), 1e-6)
    feats = np.stack([
        _angle_to_vertical(sh - hip) / right_angle, torso_3d / right_angle,
        np.log(np.maximum(width, 1.0) / np.maximum(height, 1.0)),
        (hip[:, 1] - nose[:, 1]) / scale, (feet[:, 1] - nose[:, 1]) / scale, (feet[:, 1] - hip[:, 1]) / scale,
        angle(L_HIP, L_KNEE, L_ANKLE), angle(R_HIP, R_KNEE, R_ANKLE),
        angle(L_SHOULDER, L_HIP, L_KNEE), angle(R_SHOULDER, R_HIP, R_KNEE),
        angle(L_SHOULDER, L_ELBOW, L_WRIST), angle(R_SHOULDER, R_ELBOW, R_WRIST),
        _joint_angle(nose, sh, hip) / np.pi, droop / right_angle, np.minimum(hand_face, 5.0), vis.mean(1),
        np.clip(hip_v[:, 1], -10, 10), np.clip(hip_a, -10, 10), np.clip(head_v[:, 1], -10, 10),
        np.clip(hip_v[:, 0], -10, 10), np.minimum(energy, 10.0),
        # masks for joints not seen: a feature computed from guessed joints means less where its mask is 0
        (vis[:, _K[NOSE]] >= SEEN), (vis[:, [_K[L_WRIST], _K[R_WRIST]]].max(1) >= SEEN),
        (vis[:, [_K[L_HIP], _K[R_HIP]]].max(1) >= SEEN), (vis[:, [_K[L_ANKLE], _K[R_ANKLE]]].max(1) >= SEEN),
    ], axis=1)
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
