"""A sequence model (fall, fatigue) on OpenVINO: input (1, steps, features) of analysis/features.py, output a
probability. The model class checks the IR's shape against what the analyzer will feed it."""

from __future__ import annotations

import numpy as np

from edge_app.analysis.features import NUM_FEATURES
from edge_app.errors import ModelError
from edge_app.inference.runtime import CompiledModel


class SequenceModel:
    def __init__(self, compiled: CompiledModel):
        self.compiled = compiled
        shape = tuple(compiled.compiled.inputs[0].get_partial_shape().get_min_shape())
        if len(shape) != 3 or shape[2] != NUM_FEATURES or shape[1] < 2:
            raise ModelError(f"{compiled.path}: not a Vigil sequence model (input {shape}; expected "
                             f"1 x steps x {NUM_FEATURES} features)")
        self.steps = int(shape[1])
        self._request = compiled.create_request()

    def __call__(self, window: np.ndarray) -> float:
        result = self._request.infer({0: window[None].astype(np.float32)})
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
