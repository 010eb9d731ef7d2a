"""TF.js graph models as a toolchain source: tiny graph models written here in TF.js's own format (model.json +
weight shard), converted by convert/tfjs.py and run by OpenVINO, checked against numpy; and every bad-input case of
issue 14 (missing or corrupted model.json, short weight file, unknown op) as one line naming the file, exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import openvino as ov
import pytest

from convert.tfjs import load_tfjs
from edge_app.errors import ModelError
from support import assert_clean_error, run_cli

RNG = np.random.default_rng(3)
W = RNG.normal(0, 0.5, (3, 3, 3, 4)).astype(np.float32)  # HWIO
DW = RNG.normal(0, 0.5, (3, 3, 4, 1)).astype(np.float32)  # depthwise HW, channels, multiplier
B1 = RNG.normal(0, 0.5, 4).astype(np.float32)
B2 = RNG.normal(0, 0.5, 4).astype(np.float32)


def _attr_list(values):
    return {"list": {"i": [str(v) for v in values]}}


def _conv_attrs(fused: list[str]) -> dict:
    import base64

    return {"strides": _attr_list([1, 1, 1, 1]), "padding": {"s": base64.b64encode(b"SAME").decode()},
            "data_format": {"s": base64.b64encode(b"NHWC").decode()}, "dilations": _attr_list([1, 1, 1, 1]),
            "T": {"type": "DT_FLOAT"}, "num_args": {"i": "1"},
            "fused_ops": {"list": {"s": [base64.b64encode(f.encode()).decode() for f in fused]}}}


def write_model(folder: Path, *, half: bool = True, fused_tail: str = "Relu6", extra_op: str | None = None,
                cut_weights: int = 0) -> Path:
    """A TF.js graph model: input (1, 8, 8, 3) -> _FusedConv2D(BiasAdd, Relu) -> FusedDepthwiseConv2dNative(BiasAdd,
    ``fused_tail``) -> Identity, weights float16-quantized when ``half`` (as tfjs-converter writes them)."""
    folder.mkdir(parents=True, exist_ok=True)
    consts = [("w", W), ("b1", B1), ("dw", DW), ("b2", B2)]
    nodes = [{"name": "input", "op": "Placeholder", "attr": {"dtype": {"type": "DT_FLOAT"}, "shape": {"shape": {
        "dim": [{"size": "1"}, {"size": "8"}, {"size": "8"}, {"size": "3"}]}}}}]
    nodes += [{"name": n, "op": "Const", "attr": {"dtype": {"type": "DT_FLOAT"}, "value": {"tensor": {
        "dtype": "DT_FLOAT", "tensorShape": {}}}}} for n, _ in consts]
    nodes.append({"name": "conv", "op": "_FusedConv2D", "input": ["input", "w", "b1"],
                  "attr": _conv_attrs(["BiasAdd", "Relu"])})
    nodes.append({"name": "dwconv", "op": "FusedDepthwiseConv2dNative", "input": ["conv", "dw", "b2"],
                  "attr": _conv_attrs(["BiasAdd", fused_tail])})
    last = "dwconv"
    if extra_op:
        nodes.append({"name": "odd", "op": extra_op, "input": ["dwconv"], "attr": {"T": {"type": "DT_FLOAT"}}})
        last = "odd"
    nodes.append({"name": "Identity", "op": "Identity", "input": [last], "attr": {"T": {"type": "DT_FLOAT"}}})
    blob, specs = b"", []
    for name, value in consts:
        spec = {"name": name, "shape": list(value.shape), "dtype": "float32"}
        if half:
            spec["quantization"] = {"dtype": "float16", "original_dtype": "float32"}
            blob += value.astype(np.float16).tobytes()
        else:
            blob += value.tobytes()
        specs.append(spec)
    (folder / "group1-shard1of1.bin").write_bytes(blob[:len(blob) - cut_weights])
    model = {"format": "graph-model", "modelTopology": {"node": nodes, "versions": {"producer": 1}},
             "weightsManifest": [{"paths": ["group1-shard1of1.bin"], "weights": specs}]}
    path = folder / "model.json"
    path.write_text(json.dumps(model))
    return path


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


def test_an_unknown_fused_activation_is_named(tmp_path):
    path = write_model(tmp_path, fused_tail="Gelu")
    with pytest.raises(ModelError, match=r"model\.json.*Gelu"):
        load_tfjs(path)


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


@pytest.mark.parametrize("case", ["corrupted", "short weights", "unknown op"])
def test_convert_build_of_a_bad_tfjs_model_exits_2_with_one_line(tmp_path, case):
    path = write_model(tmp_path / "m", extra_op="NoSuchOp" if case == "unknown op" else None,
                       cut_weights=10 if case == "short weights" else 0)
    if case == "corrupted":
        path.write_bytes(path.read_bytes()[:300])
    recipes = tmp_path / "models.yaml"
    recipes.write_text(f"models:\n  tiny:\n    kind: generic\n    source: {path}\n")
    proc = run_cli("convert", "build", "--recipes", str(recipes), "--out", str(tmp_path / "out"), "--no-int8",
                   "--latency-iterations", "5")
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert_clean_error(proc, str(path.parent))
