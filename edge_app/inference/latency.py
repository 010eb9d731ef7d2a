"""Latency measurement of compiled models, shared by the model build, variant choice and benchmark.

Candidates are measured interleaved (round-robin, one inference each per round) so that a noisy, shared machine
slows them all alike and their ratios stay honest. Inputs and outputs are shared, not copied, as the runtime's
model classes infer.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from edge_app.inference.runtime import CompiledModel


@dataclass(frozen=True)
class LatencyStats:
    p50_ms: float
    p95_ms: float
    p99_ms: float
    mean_ms: float
    count: int

    @property
    def fps(self) -> float:
        return 1000.0 / self.mean_ms if self.mean_ms > 0 else 0.0

    def as_dict(self) -> dict:
        return {"p50_ms": round(self.p50_ms, 4), "p95_ms": round(self.p95_ms, 4), "p99_ms": round(self.p99_ms, 4),
                "mean_ms": round(self.mean_ms, 4), "fps": round(self.fps, 1), "count": self.count}


def stats_from_ms(samples_ms: list[float] | np.ndarray) -> LatencyStats:
    arr = np.asarray(samples_ms, dtype=np.float64)
    if arr.size == 0:
        return LatencyStats(0.0, 0.0, 0.0, 0.0, 0)
    p50, p95, p99 = np.percentile(arr, [50, 95, 99])
    return LatencyStats(float(p50), float(p95), float(p99), float(arr.mean()), int(arr.size))


def random_inputs(model: CompiledModel, seed: int = 0) -> dict[int, np.ndarray]:
    rng = np.random.default_rng(seed)
    feeds = {}
    for i, port in enumerate(model.compiled.inputs):
        shape = [d if d > 0 else 1 for d in port.get_partial_shape().get_min_shape()]
        if port.get_element_type().is_integral():  # an image input such as MoveNet's int32 pixels
            feeds[i] = rng.integers(0, 256, shape).astype(port.get_element_type().to_dtype())
        else:
            feeds[i] = rng.random(shape, dtype=np.float32)
    return feeds


def measure_calls_interleaved(calls: dict[str, Callable[[], object]], iterations: int = 200, warmup: int = 20,
                              progress=None) -> dict[str, LatencyStats]:
    """Latency of each call (one synchronous inference of some engine), measured round-robin in one run, so a
    noisy machine slows them all alike. ``progress`` is called once per round."""
    for _ in range(warmup):
        for call in calls.values():
            call()
    samples: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(iterations):
        for name, call in calls.items():
            t0 = time.perf_counter()
            call()
            samples[name].append((time.perf_counter() - t0) * 1000.0)
        if progress:
            progress()
    return {name: stats_from_ms(s) for name, s in samples.items()}


def infer_call(model: CompiledModel, feeds: dict[int, np.ndarray] | None = None) -> Callable[[], object]:
    """One synchronous inference of ``model``, inputs and outputs shared (not copied) as the runtime's model
    classes infer."""
    req, feeds = model.create_request(), feeds or random_inputs(model)
    return lambda: req.infer(feeds, share_inputs=True, share_outputs=True)


def measure_interleaved(models: dict[str, CompiledModel], iterations: int = 200, warmup: int = 20,
                        inputs: dict[str, dict[int, np.ndarray]] | None = None,
                        progress=None) -> dict[str, LatencyStats]:
    """Synchronous latency of each model, measured round-robin in one run. ``progress`` is called per round."""
    calls = {name: infer_call(m, (inputs or {}).get(name)) for name, m in models.items()}
    return measure_calls_interleaved(calls, iterations, warmup, progress)
