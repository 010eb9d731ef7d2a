"""TF.js graph models as a toolchain source: tiny graph models written here in TF.js's own format (model.json +
weight shard), converted by convert/tfjs.py and run by OpenVINO, checked against numpy; and every bad-input case of
issue 14 (missing or corrupted model.json, short weight file, unknown op) as one line naming the file, exit 2."""

from __future__ import annotations

import json

import numpy as np
import openvino as ov
import pytest

from convert.tfjs import load_tfjs
from edge_app.errors import ModelError
from helpers.tfjs import B1, B2, DW, RNG, W, write_model


def reference(x: np.ndarray, half: bool) -> np.ndarray:
    """The same network in numpy (SAME padding, stride 1)."""
    q = (lambda a: a.astype(np.float16).astype(np.float32)) if half else (lambda a: a)
    w, b1, dw, b2 = q(W), q(B1), q(DW), q(B2)
    pad = np.pad(x[0], ((1, 1), (1, 1), (0, 0)))
    conv = np.zeros((8, 8, 4), np.float32)
    for i in range(8):
        for j in range(8):
            conv[i, j] = np.tensordot(pad[i:i + 3, j:j + 3], w, axes=([0, 1, 2], [0, 1, 2]))
    conv = np.maximum(conv + b1, 0)
    pad = np.pad(conv, ((1, 1), (1, 1), (0, 0)))
    out = np.zeros((8, 8, 4), np.float32)
    for i in range(8):
        for j in range(8):
            out[i, j] = (pad[i:i + 3, j:j + 3] * dw[..., 0]).sum(axis=(0, 1))
    return np.clip(out + b2, 0, 6)[None]


@pytest.mark.parametrize("half", [True, False])
def test_a_tfjs_graph_model_converts_and_computes_what_its_graph_says(tmp_path, half):
    model = load_tfjs(write_model(tmp_path, half=half))
    compiled = ov.Core().compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    x = RNG.normal(0, 1, (1, 8, 8, 3)).astype(np.float32)
    got = compiled(x)[0]
    np.testing.assert_allclose(got, reference(x, half), rtol=1e-4, atol=1e-4)
    # the fused ops became plain ones: no fused op type survives in the converted model
    assert {op.get_type_name() for op in model.get_ops()} >= {"Convolution", "GroupConvolution", "Relu", "Clamp"}


@pytest.mark.parametrize("case,needle", [
    ("missing", "not found"), ("not json", "not a TF.js model.json"), ("layers model", "graph-model"),
    ("short weights", "shorter than model.json says"), ("missing weights", "weight file not found"),
    ("unknown op", "NoSuchOp"),
])
def test_bad_tfjs_models_give_one_line_naming_the_file(tmp_path, case, needle):
    path = tmp_path / "m" / "model.json"
    if case != "missing":
        write_model(path.parent, extra_op="NoSuchOp" if case == "unknown op" else None,
                    cut_weights=10 if case == "short weights" else 0)
    if case == "not json":
        path.write_text(path.read_text()[:200])
    elif case == "layers model":
        path.write_text(json.dumps({**json.loads(path.read_text()), "format": "layers-model"}))
    elif case == "missing weights":
        (path.parent / "group1-shard1of1.bin").unlink()
    with pytest.raises(ModelError) as err:
        load_tfjs(path)
    message = str(err.value)
    assert "\n" not in message and needle in message, message
    assert str(path.parent) in message
