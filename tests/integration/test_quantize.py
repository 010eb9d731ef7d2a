"""The INT8 search machinery on a small real network quantized by NNCF."""

from __future__ import annotations

import numpy as np
import openvino as ov
import pytest

from convert.quantize import conv_names, harmful_layer, nncf_quantize, recipe_ignored, residual_adds
from convert.recipes import Int8Recipe
from convert.sources import fold_constants, head_nodes

torch = pytest.importorskip("torch")
pytest.importorskip("nncf")


@pytest.fixture(scope="module")
def models():
    from tiny_models import deep_tiny_net

    fp = fold_constants(ov.convert_model(deep_tiny_net(), example_input=torch.zeros(1, 3, 16, 16)))
    rng = np.random.default_rng(0)
    calib = [rng.random((1, 3, 16, 16), dtype=np.float32) for _ in range(32)]
    q = nncf_quantize(fp, calib, Int8Recipe(subset_size=32), _base(fp), [])
    return fp, q, calib


def _base(fp):
    from convert.quantize import candidates

    return candidates(fp, Int8Recipe(subset_size=32))[0]


def _agreement(fp, inputs):
    core = ov.Core()
    ref = [core.compile_model(fp, "CPU", {"INFERENCE_PRECISION_HINT": "f32"}).create_infer_request().infer(
        {0: x})[0] for x in inputs]

    def agreement(model):
        req = core.compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": "f32"}).create_infer_request()
        err = np.mean([np.abs(req.infer({0: x})[0] - r).mean() for x, r in zip(inputs, ref)])
        return float(1.0 / (1.0 + err))
    return agreement


def _corrupt(q: ov.Model, layer: str) -> ov.Model:
    """Scale one layer's dequantized weights by 8, as a badly quantized layer would be off."""
    import openvino.opset13 as ops

    out = q.clone()
    for op in out.get_ordered_ops():
        if op.get_friendly_name() == layer:
            w = op.input_value(1)
            op.input(1).replace_source_output(ops.multiply(w, ops.constant(np.float32(8.0))).output(0))
    out.validate_nodes_and_infer_types()
    return out


def test_recipe_ignored_scope_names_heads_first_layers_and_adds(models):
    fp, _, _ = models
    recipe = Int8Recipe(float_first_layers=2, float_residual_adds="all")
    ignored = recipe_ignored(fp, recipe)
    convs = conv_names(fp)
    assert set(head_nodes(fp)) <= set(ignored) and set(convs[:2]) <= set(ignored)
    assert set(residual_adds(fp)) <= set(ignored)


def test_recipe_keeps_listed_layer_positions_in_float(models):
    fp, _, _ = models
    convs = conv_names(fp)
    ignored = recipe_ignored(fp, Int8Recipe(ignore_heads=False, float_layers=[1, 3]))
    assert ignored == [convs[1], convs[3]]
    with pytest.raises(ValueError, match=f"float_layers: position {len(convs)} is beyond"):
        recipe_ignored(fp, Int8Recipe(float_layers=[0, len(convs)]))


def test_quantized_model_agrees_and_search_finds_the_broken_layer(models):
    fp, q, calib = models
    agreement = _agreement(fp, calib[:8])
    assert agreement(q) > 0.9
    victim = [op.get_friendly_name() for op in q.get_ordered_ops() if op.get_type_name() == "Convolution"][2]
    broken = _corrupt(q, victim)
    assert agreement(broken) < agreement(q)
    found = harmful_layer(fp, broken, agreement, exclude=set())
    assert found is not None and found[0] == victim
