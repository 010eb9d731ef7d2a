"""Parameterised fatigue transformations of real pose sequences (no labelled fatigue footage exists).

Each transformation takes a sequence (times, landmarks (T, 33, 5) in pixels, world (T, 33, 3)) and an intensity
ramp (T,) in [0, 1], and returns a changed copy. Strengths are in body units (torso lengths, degrees), so they mean
the same for near and far people. What they model:

- head_droop:   the head tilts forward and down about the neck (up to ``degrees``)
- nodding:      brief head dips, every ``period_s`` seconds, ``depth`` torso lengths deep (dozing off and catching it)
- trunk_slump:  the upper body leans forward about the hips (trunk flexion, ``degrees``)
- sway:         slow side-to-side sway of the whole body, ``amplitude`` torso lengths, ``period_s`` seconds
- slowdown:     movements shrink towards their 2-s running mean by ``factor`` (less movement energy)
- hand_to_face: a hand goes to the face (rubbing eyes, yawning) for ``seconds`` at a time, ``count`` times

``fatigued_variant`` draws 2-4 of them at fatigued strengths, always with at least one of the moving signs (nodding,
sway, slowdown): a head held down alone is what reading a phone or a laptop looks like. ``reading_variant`` is that
ordinary posture, label 0: head and trunk bent forward at fatigued angles, quickly, and held. ``mild_variant`` draws
one transformation at under a third of the smallest fatigued strength, and ``shift_variant`` an ordinary change of
posture (leaning back or forward, turning the head) held still, both label 0, so the model learns magnitude and
movement rather than the mere presence of a change.
"""

from __future__ import annotations

import numpy as np

from edge_app.records import Landmark

HEAD = list(range(0, 11))  # nose, eyes, ears, mouth
UPPER = list(range(0, 23))  # everything above the hips
L_SHOULDER, R_SHOULDER, L_ELBOW, R_ELBOW, L_WRIST, R_WRIST, L_HIP, R_HIP = (
    Landmark.LEFT_SHOULDER, Landmark.RIGHT_SHOULDER, Landmark.LEFT_ELBOW, Landmark.RIGHT_ELBOW,
    Landmark.LEFT_WRIST, Landmark.RIGHT_WRIST, Landmark.LEFT_HIP, Landmark.RIGHT_HIP)

FATIGUED = {"head_droop": {"degrees": (25, 50)}, "nodding": {"depth": (0.25, 0.5), "period_s": (3, 8)},
            "trunk_slump": {"degrees": (15, 35)}, "sway": {"amplitude": (0.12, 0.3), "period_s": (2, 5)},
            "slowdown": {"factor": (0.6, 0.9)}, "hand_to_face": {"seconds": (2, 4), "count": (2, 4)}}


def _torso(lm: np.ndarray) -> np.ndarray:
    sh = lm[:, [L_SHOULDER, R_SHOULDER], :2].mean(1)
    hip = lm[:, [L_HIP, R_HIP], :2].mean(1)
    return np.maximum(np.linalg.norm(sh - hip, axis=1), 1.0)


def _facing(lm: np.ndarray) -> np.ndarray:
    """+1 when the face points to the image's right, -1 to its left (per frame)."""
    sh = lm[:, [L_SHOULDER, R_SHOULDER], 0].mean(1)
    return np.where(lm[:, 0, 0] >= sh, 1.0, -1.0)


def _rotate(points: np.ndarray, pivot: np.ndarray, angle: np.ndarray) -> np.ndarray:
    """Rotate (T, J, 2) points about (T, 2) pivots by (T,) radians."""
    c, s = np.cos(angle)[:, None], np.sin(angle)[:, None]
    d = points - pivot[:, None]
    return np.stack([c * d[..., 0] - s * d[..., 1], s * d[..., 0] + c * d[..., 1]], axis=-1) + pivot[:, None]


def head_droop(times, lm, world, ramp, degrees):
    lm, world = lm.copy(), world.copy()
    neck = lm[:, [L_SHOULDER, R_SHOULDER], :2].mean(1)
    angle = np.radians(degrees) * ramp * _facing(lm)  # forward and down: towards the face's side
    lm[:, HEAD, :2] = _rotate(lm[:, HEAD, :2], neck, angle)
    wneck = world[:, [L_SHOULDER, R_SHOULDER], :2].mean(1)
    world[:, HEAD, :2] = _rotate(world[:, HEAD, :2], wneck, angle)
    return lm, world


def nodding(times, lm, world, ramp, depth, period_s, phase=0.0):
    lm, world = lm.copy(), world.copy()
    dip = np.maximum(0.0, np.sin(2 * np.pi * (times / period_s + phase))) ** 6 * ramp
    lm[:, HEAD, 1] += (depth * _torso(lm) * dip)[:, None]
    world[:, HEAD, 1] += (depth * 0.5 * dip)[:, None]
    return lm, world


def trunk_slump(times, lm, world, ramp, degrees):
    lm, world = lm.copy(), world.copy()
    hips = lm[:, [L_HIP, R_HIP], :2].mean(1)
    angle = np.radians(degrees) * ramp * _facing(lm)
    lm[:, UPPER, :2] = _rotate(lm[:, UPPER, :2], hips, angle)
    whips = world[:, [L_HIP, R_HIP], :2].mean(1)
    world[:, UPPER, :2] = _rotate(world[:, UPPER, :2], whips, angle)
    return lm, world


def sway(times, lm, world, ramp, amplitude, period_s, phase=0.0):
    lm, world = lm.copy(), world.copy()
    offset = amplitude * np.sin(2 * np.pi * (times / period_s + phase)) * ramp
    lm[:, :, 0] += (offset * _torso(lm))[:, None]
    world[:, :, 0] += (offset * 0.5)[:, None]
    return lm, world


def slowdown(times, lm, world, ramp, factor):
    lm, world = lm.copy(), world.copy()
    span = max(1, int(round(2.0 / max(np.median(np.diff(times)), 1e-3))))
    kernel = np.ones(span) / span
    for arr in (lm[..., :2], world):
        flat = arr.reshape(len(times), -1)
        pad = np.pad(flat, ((span // 2, span - 1 - span // 2), (0, 0)), mode="edge")
        mean = np.stack([np.convolve(pad[:, j], kernel, mode="valid") for j in range(flat.shape[1])], axis=1)
        keep = 1.0 - factor * ramp[:, None]
        arr[...] = (mean + (flat - mean) * keep).reshape(arr.shape)
    return lm, world


def hand_to_face(times, lm, world, ramp, seconds, count, rng=None):
    rng = rng or np.random.default_rng(0)
    lm, world = lm.copy(), world.copy()
    active = np.nonzero(ramp > 0.5)[0]
    if not len(active):
        return lm, world
    for _ in range(int(count)):
        start = times[rng.choice(active)]
        inside = (times >= start) & (times < start + seconds)
        weight = np.clip(np.minimum(times - start, start + seconds - times) / 0.5, 0, 1) * inside
        side = rng.integers(2)
        wrist, elbow = (L_WRIST, L_ELBOW) if side == 0 else (R_WRIST, R_ELBOW)
        target = lm[:, 0, :2] + [0.0, 0.1] * _torso(lm)[:, None]
        for joint, share in ((wrist, 1.0), (elbow, 0.5)):
            lm[:, joint, :2] += (target - lm[:, joint, :2]) * (weight * share)[:, None]
            world[:, joint, :2] += (world[:, 0, :2] - world[:, joint, :2]) * (weight * share)[:, None]
    return lm, world


TRANSFORMS = {"head_droop": head_droop, "nodding": nodding, "trunk_slump": trunk_slump, "sway": sway,
              "slowdown": slowdown, "hand_to_face": hand_to_face}


def ramp_from(times: np.ndarray, start: float, rise_s: float) -> np.ndarray:
    x = np.clip((times - start) / max(rise_s, 1e-3), 0.0, 1.0)
    return x * x * (3 - 2 * x)


def _params(name: str, rng: np.random.Generator, scale: float = 1.0) -> dict:
    out = {}
    for key, (lo, hi) in FATIGUED[name].items():
        if key in ("period_s", "seconds", "count"):
            out[key] = float(rng.uniform(lo, hi))
        else:
            out[key] = float(rng.uniform(lo, hi)) * scale
    return out


def fatigued_variant(times, lm, world, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict]:
    """A fatigued copy: onset somewhere in the first third, rising over 5-15 s. Returns lm, world, ramp, recipe."""
    start = float(rng.uniform(times[0], times[0] + (times[-1] - times[0]) / 3))
    ramp = ramp_from(times, start, float(rng.uniform(5, 15)))
    moving = str(rng.choice(["nodding", "sway", "slowdown"]))
    others = [n for n in TRANSFORMS if n != moving]
    names = [moving] + list(rng.choice(others, size=int(rng.integers(1, 4)), replace=False))
    recipe = {"onset_s": round(start, 2)}
    for name in names:
        params = _params(name, rng)
        if name == "hand_to_face":
            lm, world = hand_to_face(times, lm, world, ramp, rng=rng, **params)
        else:
            lm, world = TRANSFORMS[name](times, lm, world, ramp, **params)
        recipe[name] = {k: round(v, 3) for k, v in params.items()}
    return lm, world, ramp, recipe


def reading_variant(times, lm, world, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, dict]:
    """Looking down at something (not fatigue): head and trunk bend forward within a second and stay there."""
    ramp = ramp_from(times, float(rng.uniform(times[0] + 10, max(times[0] + 10, times[-1] - 10))),
                     float(rng.uniform(0.3, 1.0)))
    head, trunk = _params("head_droop", rng), _params("trunk_slump", rng)
    trunk["degrees"] *= float(rng.uniform(0, 1))
    lm, world = head_droop(times, lm, world, ramp, **head)
    lm, world = trunk_slump(times, lm, world, ramp, **trunk)
    return lm, world, {"head_droop": head, "trunk_slump": trunk}


def shift_variant(times, lm, world, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, dict]:
    """An ordinary change of posture (not fatigue): within a second the person leans back or forward, turns or tilts
    the head, and stays so. Static changes like these must not read as fatigue; the moving signs must."""
    ramp = ramp_from(times, float(rng.uniform(times[0] + 10, max(times[0] + 10, times[-1] - 10))),
                     float(rng.uniform(0.3, 1.0)))
    trunk = float(rng.uniform(5, 25)) * float(rng.choice([-1.0, 1.0]))
    head = float(rng.uniform(10, 40)) * float(rng.choice([-1.0, 1.0]))
    lm, world = trunk_slump(times, lm, world, ramp, degrees=trunk)
    lm, world = head_droop(times, lm, world, ramp, degrees=head)
    return lm, world, {"trunk_degrees": round(trunk, 1), "head_degrees": round(head, 1)}


def mild_variant(times, lm, world, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, dict]:
    """An alert person's small version of one transformation (under a third of the fatigued range's low end)."""
    name = str(rng.choice([n for n in TRANSFORMS if n != "hand_to_face"]))
    params = {k: (v if k == "period_s" else v * 0.3 * (FATIGUED[name][k][0] / FATIGUED[name][k][1]))
              for k, v in _params(name, rng).items()}
    lm, world = TRANSFORMS[name](times, lm, world, np.ones(len(times)), **params)
    return lm, world, {name: {k: round(v, 3) for k, v in params.items()}}
