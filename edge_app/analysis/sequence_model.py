"""A sequence model (fall, fatigue) on OpenVINO: input (1, steps, features) of analysis/features.py, output a
probability. The model class checks the IR's shape against what the analyzer will feed it."""

from __future__ import annotations

from typing import Protocol

import numpy as np

from edge_app.analysis.features import NUM_FEATURES
from edge_app.errors import ModelError
from edge_app.inference.runtime import CompiledModel


class Scorer(Protocol):
    """What the fall and fatigue analyzers need of a sequence model: its window length and a probability for a
    window. SequenceModel is the OpenVINO one; training and tests pass their own."""

    steps: int  # the window's length in samples (fall: 30 at 15 Hz; fatigue: 80 at 4 Hz)

    def __call__(self, window: np.ndarray) -> float:
        """``window``: (steps, NUM_FEATURES) float32 of analysis/features.py; returns the probability (0-1)."""
        ...


class SequenceModel:
    """A sequence model IR compiled on a device: input (1, steps, NUM_FEATURES), output one probability.
    Raises ModelError when the IR's input is not that shape."""

    def __init__(self, compiled: CompiledModel):
        self.compiled = compiled
        shape = tuple(compiled.compiled.inputs[0].get_partial_shape().get_min_shape())
        if len(shape) != 3 or shape[2] != NUM_FEATURES or shape[1] < 2:
            raise ModelError(f"{compiled.path}: not a Vigil sequence model (input {shape}; expected "
                             f"1 x steps x {NUM_FEATURES} features)")
        self.steps = int(shape[1])
        self._request = compiled.create_request()

    def __call__(self, window: np.ndarray) -> float:
        result = self._request.infer({0: window[None].astype(np.float32)}, share_inputs=True, share_outputs=True)
        return float(np.asarray(result[0]).reshape(-1)[0])


def recent_history(history, since: float) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """A track's history entries from ``since`` on, as arrays (times, landmarks, world); None if fewer than 2."""
    entries = []
    for entry in reversed(history):
        entries.append(entry)
        if entry[0] < since:
            break
    if len(entries) < 2:
        return None
    entries.reverse()
    return (np.fromiter((e[0] for e in entries), np.float64, len(entries)),
            np.stack([e[1] for e in entries]), np.stack([e[2] for e in entries]))
