"""Keypoint accuracy metrics: COCO OKS, PCK, per-keypoint errors. Pure functions."""

from __future__ import annotations

import numpy as np

# COCO's per-keypoint OKS constants (sigmas), in COCO-17 order.
COCO_SIGMAS = np.array([.26, .25, .25, .35, .35, .79, .79, .72, .72, .62, .62, 1.07, 1.07, .87, .87, .89, .89]) / 10.0


def oks(pred_xy: np.ndarray, gt: np.ndarray, area: float) -> float:
    """Object keypoint similarity of predicted (17, 2) points to ground truth (17, 3: x, y, v) of given area."""
    labelled = gt[:, 2] > 0
    if not labelled.any():
        return float("nan")
    d2 = ((pred_xy[:, :2] - gt[:, :2]) ** 2).sum(axis=1)
    var = (2 * COCO_SIGMAS) ** 2
    e = d2 / var / (max(area, 1e-9) + np.spacing(1)) / 2
    return float(np.exp(-e[labelled]).mean())


def pck(pred_xy: np.ndarray, gt: np.ndarray, box: tuple[float, float, float, float], alpha: float = 0.2) -> np.ndarray:
    """Per labelled keypoint: 1 where the error is below ``alpha`` times the box's longer side (else 0)."""
    labelled = gt[:, 2] > 0
    ref = max(box[2] - box[0], box[3] - box[1])
    err = np.linalg.norm(pred_xy[:, :2] - gt[:, :2], axis=1)
    return (err[labelled] < alpha * ref).astype(np.float64)


def keypoint_errors(pred_xy: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """(17,) pixel errors, NaN where the keypoint is not labelled."""
    err = np.linalg.norm(pred_xy[:, :2] - gt[:, :2], axis=1)
    return np.where(gt[:, 2] > 0, err, np.nan)


def summarize(oks_values: list[float], pck_hits: list[np.ndarray], errors: list[np.ndarray],
              names: tuple[str, ...]) -> dict:
    o = np.asarray(oks_values, dtype=np.float64)
    hits = np.concatenate(pck_hits) if pck_hits else np.zeros(0)
    errs = np.vstack(errors) if errors else np.zeros((0, len(names)))
    with np.errstate(all="ignore"):
        per_kp = {name: (None if np.isnan(errs[:, i]).all() else round(float(np.nanmean(errs[:, i])), 2))
                  for i, name in enumerate(names)}
    return {
        "people": int(o.size),
        "mean_oks": round(float(o.mean()), 4) if o.size else None,
        "oks_ge_0.5": round(float((o >= 0.5).mean()), 4) if o.size else None,
        "oks_ge_0.75": round(float((o >= 0.75).mean()), 4) if o.size else None,
        "pck_0.2": round(float(hits.mean()), 4) if hits.size else None,
        "keypoint_error_px": per_kp,
    }
