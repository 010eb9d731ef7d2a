"""INT8 post-training quantization with NNCF on real calibration data, with a search over settings.

The recipe says what stays in float: output heads, the first layers, residual Adds (see configs/models.yaml for
what was measured). NNCF's own accuracy control (``quantize_with_accuracy_control``) returns quantizers to float
one group at a time; on BlazePose's landmark model the error is spread over the network and each step gained little
(agreement drop 0.037 -> 0.029 after three steps, about a minute each), so with ``accuracy_control: true`` the
toolchain instead also quantizes a few alternative settings (bias correction off, more first layers in float) and
keeps the one whose outputs agree best with the float model on held-out calibration samples. The accuracy bound is
checked afterwards by the build on labelled data.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np
import openvino as ov

from convert.recipes import Int8Recipe
from convert.sources import head_nodes

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Candidate:
    name: str
    preset: str
    ignored_names: tuple[str, ...]
    disable_bias_correction: bool = False
    fast_bias_correction: bool = True

    def describe(self) -> dict:
        return {"candidate": self.name, "preset": self.preset, "ignored_scope": list(self.ignored_names),
                "bias_correction": "off" if self.disable_bias_correction else
                ("fast" if self.fast_bias_correction else "full")}


@dataclass
class QuantResult:
    model: ov.Model
    candidate: Candidate
    agreement: float
    trials: list[dict] = field(default_factory=list)


def conv_names(model: ov.Model) -> list[str]:
    return [op.get_friendly_name() for op in model.get_ordered_ops()
            if op.get_type_name() in ("Convolution", "GroupConvolution", "MatMul")]


def residual_adds(model: ov.Model) -> list[str]:
    """Adds whose inputs are both computed (skip connections), in graph order; bias Adds have a constant input."""
    return [op.get_friendly_name() for op in model.get_ordered_ops() if op.get_type_name() == "Add" and
            all(i.get_source_output().get_node().get_type_name() != "Constant" for i in op.inputs())]


def recipe_ignored(model: ov.Model, recipe: Int8Recipe) -> list[str]:
    """Node names the recipe keeps in float: listed names, output heads, first, last and listed layers, residual Adds.

    Raises ValueError when a ``float_layers`` position is beyond the model's Convolution/MatMul layers."""
    ignored = list(recipe.ignored_names)
    if recipe.ignore_heads:
        ignored += head_nodes(model)
    convs = conv_names(model)
    beyond = [i for i in recipe.float_layers if i >= len(convs)]
    if beyond:
        raise ValueError(f"int8.float_layers: position {beyond[0]} is beyond the model's {len(convs)} "
                         f"Convolution/MatMul layers")
    ignored += [convs[i] for i in recipe.float_layers]
    ignored += convs[: recipe.float_first_layers]
    ignored += convs[len(convs) - recipe.float_last_layers:] if recipe.float_last_layers else []
    adds = residual_adds(model)
    if recipe.float_residual_adds == "all":
        ignored += adds
    elif recipe.float_residual_adds == "second_half":
        ignored += adds[len(adds) // 2:]
    return list(dict.fromkeys(ignored))


def candidates(model: ov.Model, recipe: Int8Recipe) -> list[Candidate]:
    ignored = recipe_ignored(model, recipe)
    base = Candidate("recipe", recipe.preset, tuple(ignored), fast_bias_correction=recipe.fast_bias_correction)
    if not recipe.accuracy_control:
        return [base]
    convs = conv_names(model)
    first = [c for c in convs[: max(1, len(convs) // 20)] if c not in ignored]
    return [
        base,
        replace(base, name="no-bias-correction", disable_bias_correction=True),
        replace(base, name="first-layers-float", ignored_names=tuple(ignored + first)),
    ]


def nncf_quantize(model: ov.Model, calibration: list, recipe: Int8Recipe, candidate: Candidate,
                  ignored_types: list[str]) -> ov.Model:
    import nncf  # toolchain-only dependency

    advanced = nncf.AdvancedQuantizationParameters(disable_bias_correction=candidate.disable_bias_correction)
    preset = nncf.QuantizationPreset.MIXED if candidate.preset == "mixed" else nncf.QuantizationPreset.PERFORMANCE
    scope = nncf.IgnoredScope(names=list(candidate.ignored_names), types=list(ignored_types), validate=False)
    return nncf.quantize(model, nncf.Dataset(calibration), preset=preset,
                         subset_size=min(recipe.subset_size, len(calibration)),
                         fast_bias_correction=candidate.fast_bias_correction, ignored_scope=scope,
                         advanced_parameters=advanced)


def _weights(node) -> np.ndarray:
    """Evaluate a weight input (a constant, or NNCF's int8 -> Convert -> Subtract -> Multiply decompression)."""
    kind = node.get_type_name()
    if kind == "Constant":
        return node.get_data().astype(np.float32)
    args = [_weights(i.get_source_output().get_node()) for i in node.inputs()]
    if kind == "Convert":
        return args[0]
    if kind == "Subtract":
        return args[0] - args[1]
    if kind == "Multiply":
        return args[0] * args[1]
    if kind == "Reshape":
        return args[0].reshape([int(v) for v in args[1]])
    raise ValueError(kind)


def with_float_weights(fp_model: ov.Model, q_model: ov.Model, names: set[str]) -> ov.Model:
    """A copy of ``q_model`` in which the layers ``names`` use their original float weights."""
    import openvino.opset13 as ops

    originals = {op.get_friendly_name(): op.input_value(1).get_node() for op in fp_model.get_ops()
                 if op.get_friendly_name() in names}
    out = q_model.clone()
    for op in out.get_ordered_ops():
        name = op.get_friendly_name()
        if name in originals and op.input_value(1).get_node().get_type_name() != "Constant":
            op.input(1).replace_source_output(ops.constant(_weights(originals[name])).output(0))
    out.validate_nodes_and_infer_types()
    return out


def harmful_layer(fp_model: ov.Model, q_model: ov.Model, agreement: Callable[[ov.Model], float],
                  exclude: set[str]) -> tuple[str, float] | None:
    """Bisect over the quantized layers: the one layer whose float weights restore agreement the most."""
    layers = [op.get_friendly_name() for op in q_model.get_ordered_ops()
              if op.get_type_name() in ("Convolution", "GroupConvolution", "MatMul")
              and op.input_value(1).get_node().get_type_name() != "Constant"
              and op.get_friendly_name() not in exclude]
    lo, hi, score = 0, len(layers), 0.0
    while hi - lo > 1:
        mid = (lo + hi) // 2
        left = agreement(with_float_weights(fp_model, q_model, set(layers[lo:mid])))
        right = agreement(with_float_weights(fp_model, q_model, set(layers[mid:hi])))
        lo, hi, score = (lo, mid, left) if left >= right else (mid, hi, right)
    return (layers[lo], score) if layers else None


def quantize(model: ov.Model, calibration: list, validation: list, recipe: Int8Recipe,
             agreement: Callable[[ov.Model], float], progress: Callable[[str], None] = lambda s: None
             ) -> QuantResult:
    """Quantize every candidate; keep the one whose ``agreement`` (float-vs-INT8 on ``validation``) is best.

    When agreement stays below ``recipe.min_agreement``, the layer whose weight quantization does the harm is found
    by bisection and kept in float, up to ``recipe.max_rescued_layers`` times (measured: one depthwise layer of the
    heavy landmark model, weights up to 1.6e3, took mean OKS from 0.47 to 0.32 on its own).
    """
    import nncf

    nncf.set_log_level(logging.ERROR)
    best: QuantResult | None = None
    trials = []
    for cand in candidates(model, recipe):
        progress(f"quantizing ({cand.name})")
        t0 = time.perf_counter()
        q = nncf_quantize(model, calibration, recipe, cand, recipe.ignored_types)
        score = agreement(q)
        rescued: list[str] = []
        while score < recipe.min_agreement and len(rescued) < recipe.max_rescued_layers:
            progress(f"searching harmful layer ({cand.name}, agreement {score:.3f})")
            found = harmful_layer(model, q, agreement, set(cand.ignored_names))
            if found is None or found[1] <= score + 0.005:
                break
            rescued.append(found[0])
            cand = replace(cand, name=f"{cand.name}+float:{found[0]}",
                           ignored_names=cand.ignored_names + (found[0],))
            q = nncf_quantize(model, calibration, recipe, cand, recipe.ignored_types)
            score = agreement(q)
            log.info("kept %s in float: agreement %.4f", found[0], score)
        trial = {**cand.describe(), "agreement": round(score, 5), "seconds": round(time.perf_counter() - t0, 1)}
        trials.append(trial)
        log.info("int8 candidate %s: agreement %.4f", cand.name, score)
        if best is None or score > best.agreement:
            best = QuantResult(q, cand, score)
    assert best is not None
    best.trials = trials
    return best


def split_holdout(samples: list[np.ndarray], every: int = 4) -> tuple[list, list]:
    """Calibration and held-out validation samples: every ``every``-th sample is held out."""
    calibration = [s for i, s in enumerate(samples) if i % every]
    validation = [s for i, s in enumerate(samples) if not i % every]
    return calibration, validation
