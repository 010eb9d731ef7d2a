"""A thin wrapper that owns the OpenVINO core: device choice and fallback, hints, precision and model cache."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import openvino as ov

from edge_app.errors import ModelError, VigilError, reason

log = logging.getLogger(__name__)

DEVICES = ("CPU", "GPU", "NPU", "AUTO")
HINTS = ("LATENCY", "THROUGHPUT")
PRECISIONS = ("f32", "bf16", "f16")


@dataclass(frozen=True)
class CompiledModel:
    """A compiled model and what it actually runs as."""

    compiled: ov.CompiledModel
    path: Path
    device: str  # the device that actually runs it
    precision: str  # the inference precision actually in effect (f32, bf16, f16, ...)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.compiled.inputs[0].get_shape())

    def create_request(self) -> ov.InferRequest:
        return self.compiled.create_infer_request()



def read_model(core: ov.Core, path: str | os.PathLike) -> ov.Model:
    """Read an IR (or any format OpenVINO reads) with a clear one-line error when it is missing or broken."""
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"{path}: model file not found (build models with `make models`)")
    if path.suffix == ".xml" and not path.with_suffix(".bin").is_file():
        raise ModelError(f"{path.with_suffix('.bin')}: weights file of the model not found "
                         "(rebuild with `make models`)")
    try:
        return core.read_model(str(path))
    except Exception as exc:  # OpenVINO raises RuntimeError with multi-line C++ context
        raise ModelError(f"{path}: cannot read model ({reason(exc)})") from None


class Runtime:
    """Owns one ``ov.Core``; compiles models on the configured device with fallback to CPU.

    ``device``: CPU, GPU, NPU or AUTO (or any OpenVINO device string such as ``GPU.1`` or ``AUTO:GPU,CPU``).
    A device that is not present falls back to CPU with a warning. ``precision``: None for the device default,
    or f32 / bf16 / f16 to force ``INFERENCE_PRECISION_HINT``.
    """

    def __init__(self, device: str = "CPU", hint: str = "LATENCY", threads: int | None = None,
                 cache_dir: str | os.PathLike | None = None):
        if hint not in HINTS:
            raise VigilError(f"performance hint {hint!r} is not one of {', '.join(HINTS)}")
        self.core = ov.Core()
        self.requested_device = device
        self.device = self._resolve_device(device)
        self.hint = hint
        self.threads = threads
        if cache_dir:
            Path(cache_dir).mkdir(parents=True, exist_ok=True)
            self.core.set_property({"CACHE_DIR": str(cache_dir)})

    @property
    def available_devices(self) -> list[str]:
        return list(self.core.available_devices)

    def _resolve_device(self, device: str) -> str:
        name = device.upper()
        if name.startswith(("AUTO", "MULTI", "HETERO")):
            return name
        available = self.core.available_devices
        base = name.split(".")[0]
        if name in available or (base == name and any(d.split(".")[0] == base for d in available)):
            return name
        if base not in {d.split(".")[0] for d in available} and base not in DEVICES:
            raise VigilError(f"device {device!r} is not known to OpenVINO (known here: {', '.join(available)})")
        log.warning("device %s is not available on this machine (have: %s); falling back to CPU",
                    device, ", ".join(available))
        return "CPU"

    def device_properties(self, precision: str | None) -> dict:
        props: dict = {"PERFORMANCE_HINT": self.hint}
        base = self.device.split(":")[0].split(".")[0]
        if self.threads and base == "CPU":
            props["INFERENCE_NUM_THREADS"] = int(self.threads)
        if base == "CPU":
            # OpenVINO pins a compiled model's inference threads to cores of its choice (all of ours to core 0 on a
            # 2-core box), where they then queue behind the capture and pipeline threads while the other core idles:
            # unpinned, eight streams went from 118-130 to 140-142 fps in all here (side by side, same run)
            props["ENABLE_CPU_PINNING"] = False
        if precision and base not in ("AUTO", "MULTI", "HETERO"):
            props["INFERENCE_PRECISION_HINT"] = precision
        return props

    def supports(self, precision: str) -> bool:
        """Whether the device computes ``precision`` natively (bf16 needs avx512_bf16/AMX on CPU)."""
        base = self.device.split(":")[0].split(".")[0]
        if base in ("AUTO", "MULTI", "HETERO"):
            return precision == "f32"
        try:
            caps = self.core.get_property(base, "OPTIMIZATION_CAPABILITIES")
        except Exception:
            return precision == "f32"
        return {"f32": "FP32", "bf16": "BF16", "f16": "FP16", "int8": "INT8"}[precision] in caps

    def compile(self, model: ov.Model | str | os.PathLike, precision: str | None = None,
                prepare: Callable[[ov.Model], ov.Model] | None = None) -> CompiledModel:
        """``model`` (an IR path or an ov.Model) compiled on this runtime's device. ``prepare``, when given, changes
        the model before it is compiled (the model class's ``PrePostProcessor`` steps: uint8 BGR in, see
        inference/preprocessing.py); an ov.Model given is never changed in place. Raises ModelError naming the file
        when it cannot be read, prepared or compiled."""
        if precision is not None and precision not in PRECISIONS:
            raise VigilError(f"precision {precision!r} is not one of {', '.join(PRECISIONS)}")
        path = Path("<in-memory>")
        if not isinstance(model, ov.Model):
            path = Path(model)
            model = read_model(self.core, path)
        elif prepare is not None:
            model = model.clone()
        if prepare is not None:
            try:
                model = prepare(model)
            except Exception as exc:  # PrePostProcessor raises RuntimeError with C++ context
                raise ModelError(f"{path}: cannot add the model's preprocessing ({reason(exc)})") from None
        try:
            compiled = self.core.compile_model(model, self.device, self.device_properties(precision))
        except Exception as exc:
            raise ModelError(f"{path}: cannot compile for {self.device} ({reason(exc)})") from None
        return CompiledModel(compiled, path, self._execution_device(compiled), self._precision(compiled))

    def _execution_device(self, compiled: ov.CompiledModel) -> str:
        try:
            devices = compiled.get_property("EXECUTION_DEVICES")
            return ",".join(devices) if devices else self.device
        except Exception:
            return self.device

    @staticmethod
    def _precision(compiled: ov.CompiledModel) -> str:
        try:
            value = compiled.get_property("INFERENCE_PRECISION_HINT")
        except Exception:
            return "default"
        text = str(value).lower()
        return {"<type: 'float32'>": "f32", "<type: 'bfloat16'>": "bf16", "<type: 'float16'>": "f16"}.get(
            text, text.replace("<type: '", "").replace("'>", "").replace("float32", "f32")
            .replace("bfloat16", "bf16").replace("float16", "f16"))
