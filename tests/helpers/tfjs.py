"""Helpers of the tfjs tests, shared by their tiers."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

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
