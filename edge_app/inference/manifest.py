"""The model manifest (models_ir/manifest.json) as one typed record shared by the toolchain, which writes it
(convert/build.py), and the runtime, which reads it (model_store.py).

A model has variants (``fp32``: the float IR; ``int8``: the NNCF-quantized IR), and each variant has runs: the
precision it ran at on the build machine (``f32``, ``bf16``; ``int8`` for the INT8 IR), each with its latency, its
accuracy on labelled data and whether that accuracy meets the model's bound against the f32 reference.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from edge_app.errors import ModelError

FORMAT = 1


@dataclass(frozen=True)
class RunRecord:
    """One run of a variant: ``precision_hint`` (OpenVINO INFERENCE_PRECISION_HINT for the float parts),
    ``precision_ran`` (what the device really ran), ``latency`` (p50_ms, p95_ms, p99_ms, mean_ms, fps, count),
    ``accuracy`` (the model family's metrics, convert/kinds.py), ``meets_bound`` and whether the bound was checked
    at all (no labelled data: only f32 is trusted)."""

    precision_hint: str | None
    precision_ran: str
    device: str
    latency: dict[str, float]
    accuracy: dict[str, Any] | None
    meets_bound: bool
    bound_checked: bool


@dataclass(frozen=True)
class VariantRecord:
    """An IR of the model: ``path`` relative to models_ir/, its ``runs`` by name, and for the INT8 IR how it was
    quantized (settings, calibration data, float-vs-INT8 agreement, the candidates tried)."""

    path: str
    runs: dict[str, RunRecord] = field(default_factory=dict)
    quantization: dict[str, Any] | None = None


@dataclass(frozen=True)
class ModelRecord:
    """One built model: its family (``kind``), where it came from (``source``), the hash of the recipe it was built
    from, its variants, the accuracy bound in words, and the build's other facts (``extra``: latency set-up,
    speed-ups, build time)."""

    kind: str
    variants: dict[str, VariantRecord]
    source: Any = None
    recipe_hash: str = ""
    bound: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict:
        out = {"kind": self.kind, "source": self.source, "recipe_hash": self.recipe_hash,
               "variants": {name: {k: v for k, v in asdict(var).items() if v is not None or k != "quantization"}
                            for name, var in self.variants.items()},
               "bound": self.bound}
        return {**out, **self.extra}

    @classmethod
    def from_json(cls, data: dict, where: str) -> ModelRecord:
        """Raises ModelError naming ``where`` when the entry is not a model record."""
        try:
            variants = {name: VariantRecord(_text(var["path"], "path"),
                                            {run: _run(r) for run, r in var.get("runs", {}).items()},
                                            var.get("quantization"))
                        for name, var in data["variants"].items()}
            known = {"kind", "source", "recipe_hash", "variants", "bound"}
            return cls(str(data["kind"]), variants, data.get("source"), str(data.get("recipe_hash", "")),
                       data.get("bound"), {k: v for k, v in data.items() if k not in known})
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            raise ModelError(f"{where}: not a Vigil model entry ({type(exc).__name__}: {exc})") from None


RUN_KEYS = tuple(RunRecord.__dataclass_fields__)


def _text(value, key: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{key} is not text")
    return value


def _run(data: dict) -> RunRecord:
    fields = {k: data.get(k) for k in RUN_KEYS}
    if fields["precision_hint"] is not None:
        _text(fields["precision_hint"], "precision_hint")
    return RunRecord(**{**fields, "meets_bound": fields["meets_bound"] is True,
                        "bound_checked": fields["bound_checked"] is True})


@dataclass(frozen=True)
class Manifest:
    """The whole manifest: ``models`` by name, and the build machine and library versions (``meta``)."""

    models: dict[str, ModelRecord]
    meta: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def read(cls, path: Path) -> Manifest:
        """Read ``path``; raises ModelError when it is missing or not a Vigil manifest."""
        if not path.is_file():
            raise ModelError(f"{path}: not found; build the models with `make models`")
        try:
            data = json.loads(path.read_text())
            models = data["models"]
            if not isinstance(models, dict):
                raise TypeError("models is not a mapping")
        except (ValueError, KeyError, TypeError) as exc:
            raise ModelError(f"{path}: not a Vigil model manifest ({type(exc).__name__})") from None
        return cls({name: ModelRecord.from_json(entry, f"{path}: models.{name}") for name, entry in models.items()},
                   {k: v for k, v in data.items() if k != "models"})

    def to_json(self) -> dict:
        return {**self.meta, "format": FORMAT, "models": {n: m.to_json() for n, m in self.models.items()}}
