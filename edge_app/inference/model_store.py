"""models_ir/ as the runtime sees it: the manifest written by the toolchain, and the choice of what runs.

A model has variants (an fp32 IR, an INT8 IR) and each variant can run at several precisions. The manifest records,
for each such *run*, its accuracy against the f32 reference and whether it meets the model's accuracy bound. With
``precision: auto`` the runtime measures the runs that meet the bound on this device, side by side, and keeps the
most exact one unless a less exact one is clearly faster (:func:`steady_choice`); it logs which one runs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import openvino as ov

from edge_app.errors import ModelError, VigilError
from edge_app.inference.latency import measure_interleaved
from edge_app.inference.manifest import Manifest, ModelRecord
from edge_app.inference.runtime import CompiledModel, Runtime
from edge_app.system import int8_dot_product, int8_dot_product_here

log = logging.getLogger(__name__)

RUN_NAMES = ("int8", "bf16", "f16", "f32")
FIDELITY = ("f32", "bf16", "f16", "int8")  # most exact first: how close each run computes to the f32 reference
CLEAR_GAIN = 0.15  # a less exact run is chosen only when at least this much faster (p50) than a more exact one


def steady_choice(p50_ms: dict[str, float]) -> str:
    """The run ``auto`` keeps, of runs (name -> p50 latency in ms, measured side by side) that all meet the accuracy
    bound: the most exact one (FIDELITY order) unless a less exact one is at least CLEAR_GAIN faster, step by step
    down the order. Two runs a few percent apart swap places with the noise of a busy machine; choosing between them
    by speed alone made a Vigil run its detector in INT8 at one start and in bf16 at the next, and track the same
    clip differently. Raises ValueError for an empty ``p50_ms``."""
    if not p50_ms:
        raise ValueError("no runs to choose from")
    order = sorted(p50_ms, key=lambda n: FIDELITY.index(n) if n in FIDELITY else len(FIDELITY))
    kept = order[0]
    for name in order[1:]:
        if p50_ms[name] <= (1.0 - CLEAR_GAIN) * p50_ms[kept]:
            kept = name
    return kept


@dataclass(frozen=True)
class Run:
    name: str  # int8 | bf16 | f16 | f32
    variant: str  # fp32 | int8: which IR
    precision_hint: str | None  # INFERENCE_PRECISION_HINT for the float parts
    meets_bound: bool
    path: Path


@dataclass(frozen=True)
class Chosen:
    model: str
    run: Run
    compiled: CompiledModel
    reason: str

    def describe(self) -> str:
        return (f"{self.model}: {self.run.name} ({self.run.path.parent.name} IR, inference precision "
                f"{self.compiled.precision}) on {self.compiled.device} - {self.reason}")


class ModelStore:
    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.manifest = Manifest.read(self.root / "manifest.json")
        self.models = self.manifest.models

    def record(self, model: str) -> ModelRecord:
        """The manifest's record of ``model``; raises ModelError naming the models there are."""
        if model not in self.models:
            raise ModelError(f"{self.root / 'manifest.json'}: no model {model!r} "
                             f"(have: {', '.join(sorted(self.models))})")
        return self.models[model]

    def kind(self, model: str) -> str:
        """The model family the toolchain built ``model`` as (blazepose_detector, movenet_multipose, ...)."""
        return self.record(model).kind

    def runs(self, model: str) -> list[Run]:
        """Every run of every variant of ``model`` the manifest records."""
        return [Run(name=name, variant=variant, precision_hint=run.precision_hint, meets_bound=run.meets_bound,
                    path=self.root / entry.path)
                for variant, entry in self.record(model).variants.items() for name, run in entry.runs.items()]

    def int8_proven_here(self, runtime: Runtime) -> bool:
        """Whether the manifest's INT8 accuracy holds on ``runtime``'s device: not when the build machine had INT8
        dot-product instructions and this CPU has none (system.int8_dot_product: the kernels differ and saturate
        there; AUTO may end on the CPU). A GPU or NPU, or a manifest without its build machine, is taken as proven."""
        built = self.manifest.meta.get("machine", {}).get("cpu_flags")
        if runtime.device.split(":")[0].split(".")[0] in ("GPU", "NPU") or not isinstance(built, list):
            return True
        return not int8_dot_product(built) or int8_dot_product_here()

    def choose(self, model: str, runtime: Runtime, precision: str = "auto",
               prepare: Callable[[ov.Model], ov.Model] | None = None) -> Chosen:
        """The run of ``model`` that runs here: the one asked for (``precision``), or with ``auto`` the fastest on
        this device of those within the accuracy bound, measured side by side (INT8 only where its bound was proven
        on a CPU of the same class: int8_proven_here). ``prepare``: the model class's
        preprocessing steps, added before each candidate is compiled (so the candidates are timed as they will run).
        Raises ModelError (no such build, nothing within the bound) or VigilError (an unknown precision)."""
        runs = self.runs(model)
        if precision != "auto":
            if precision not in RUN_NAMES:
                raise VigilError(f"precision {precision!r} is not one of auto, {', '.join(RUN_NAMES)}")
            match = [r for r in runs if r.name == precision]
            if not match:
                raise ModelError(f"{self.root}: model {model} has no {precision} build "
                                 f"(have: {', '.join(sorted(r.name for r in runs))})")
            run = match[0]
            if not run.meets_bound:
                log.warning("%s %s does not meet its accuracy bound (see models_ir/manifest.json); running it "
                            "because it was asked for", model, precision)
            return Chosen(model, run, runtime.compile(run.path, run.precision_hint, prepare),
                          "asked for in config")
        candidates = [r for r in runs if r.meets_bound and
                      (r.precision_hint is None or runtime.supports(r.precision_hint))]
        if any(r.name == "int8" for r in candidates) and not self.int8_proven_here(runtime):
            log.warning("%s: int8 was proven on a CPU with INT8 dot-product instructions (VNNI/AMX), which this one "
                        "lacks (or ONEDNN_MAX_CPU_ISA caps): its accuracy is unproven here, so it does not run; "
                        "`make models` on this machine proves it here, or set models.precision: int8", model)
            candidates = [r for r in candidates if r.name != "int8"]
        if not candidates:
            candidates = [r for r in runs if r.name == "f32"]
        if not candidates:
            raise ModelError(f"{self.root}: model {model} has no run that meets its accuracy bound")
        compiled = {r.name: runtime.compile(r.path, r.precision_hint, prepare) for r in candidates}
        if len(compiled) == 1:
            name = next(iter(compiled))
            return Chosen(model, candidates[0], compiled[name], "the only run that meets the accuracy bound")
        stats = measure_interleaved(compiled, iterations=40, warmup=5)
        best = steady_choice({n: s.p50_ms for n, s in stats.items()})
        ranking = ", ".join(f"{n} {s.p50_ms:.2f} ms" for n, s in sorted(stats.items(), key=lambda kv: kv[1].p50_ms))
        run = next(r for r in candidates if r.name == best)
        return Chosen(model, run, compiled[best], f"fastest here of the runs within the accuracy bound, a less exact "
                                                  f"one only when {CLEAR_GAIN:.0%} faster ({ranking})")
