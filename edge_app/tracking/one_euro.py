"""One-Euro filter (Casiez et al. 2012) over arrays of landmark coordinates, as MediaPipe smooths pose landmarks.

Jitter is removed at low speed (low cutoff) while fast motion passes with little lag (the cutoff rises with speed).
Values are divided by the person's scale before filtering, so the same parameters suit near and far people
(MediaPipe's pose parameters: min_cutoff 0.05, beta 80, derivative cutoff 1, on scale-normalised coordinates).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class OneEuroParams:
    min_cutoff: float = 0.05
    beta: float = 80.0
    d_cutoff: float = 1.0


def _alpha(cutoff: np.ndarray | float, dt: float) -> np.ndarray | float:
    tau = 1.0 / (2 * math.pi * cutoff)
    return 1.0 / (1.0 + tau / dt)


class OneEuroFilter:
    """Filters an array of any shape; call with the value, its timestamp (seconds) and the scale (pixels)."""

    def __init__(self, params: OneEuroParams = OneEuroParams()):
        self.params = params
        self._x: np.ndarray | None = None
        self._dx: np.ndarray | None = None
        self._t: float | None = None

    def reset(self) -> None:
        self._x = self._dx = self._t = None

    def __call__(self, value: np.ndarray, t: float, scale: float = 1.0) -> np.ndarray:
        value = np.asarray(value, dtype=np.float64)
        scale = max(float(scale), 1e-6)
        x = value / scale
        if self._x is None or self._t is None or t <= self._t:
            self._x, self._dx, self._t = x, np.zeros_like(x), t
            return value.copy()
        dt = t - self._t
        p = self.params
        dx = (x - self._x) / dt
        a_d = _alpha(p.d_cutoff, dt)
        self._dx = a_d * dx + (1 - a_d) * self._dx
        cutoff = p.min_cutoff + p.beta * np.abs(self._dx)
        a = _alpha(cutoff, dt)
        self._x = a * x + (1 - a) * self._x
        self._t = t
        return self._x * scale
