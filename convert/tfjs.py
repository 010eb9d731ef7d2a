"""TF.js graph models (``model.json`` + weight shards) as OpenVINO models.

A TF.js graph model is a TensorFlow GraphDef in JSON (``modelTopology``) whose constants live in binary weight
shards described by ``weightsManifest`` (format: TensorFlow.js "graph-model", tfjs-converter's
``write_weights.py``). This module rebuilds the frozen GraphDef, fills every ``Const`` node from the shards (float16
and affine uint8/uint16 quantized weights are decoded to their original dtype), and rewrites the fused ops that the
TF.js converter emits and OpenVINO's TensorFlow frontend has no rule for (``_FusedConv2D``,
``FusedDepthwiseConv2dNative``, ``_FusedMatMul``) into their plain parts (convolution, ``BiasAdd``, activation).
OpenVINO then reads the frozen graph as any ``.pb``.

The GraphDef protobuf classes come from TensorBoard's copy of TensorFlow's protos (``tensorboard.compat.proto``), a
toolchain-only dependency: no TensorFlow is needed. Every fault of the input is a :class:`ModelError` naming the
file: a missing or unreadable ``model.json``, a weight shard that is missing or shorter than the manifest says, a
fused op or graph op with no conversion rule.
"""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path

import numpy as np
import openvino as ov

from edge_app.errors import ModelError, reason

# Fused ops of the TF.js converter -> the plain op their first two inputs feed.
FUSED_BASE = {"_FusedConv2D": "Conv2D", "FusedDepthwiseConv2dNative": "DepthwiseConv2dNative",
              "_FusedDepthwiseConv2dNative": "DepthwiseConv2dNative", "_FusedMatMul": "MatMul"}
# Parts a fused op may carry after its base op, in order; BiasAdd takes one extra input, the activations none.
FUSED_PARTS = {"BiasAdd", "Relu", "Relu6", "Elu", "Sigmoid", "Tanh", "LeakyRelu"}
_BASE_ATTRS = {"Conv2D": ("T", "strides", "padding", "data_format", "dilations", "explicit_paddings"),
               "DepthwiseConv2dNative": ("T", "strides", "padding", "data_format", "dilations", "explicit_paddings"),
               "MatMul": ("T", "transpose_a", "transpose_b")}
_QUANTIZED = {"uint8": np.uint8, "uint16": np.uint16, "float16": np.float16}
_DTYPES = {"float32": np.float32, "int32": np.int32, "bool": np.bool_}


def _protos():
    try:
        from tensorboard.compat.proto import graph_pb2, types_pb2
    except ImportError:
        raise ModelError("TF.js models need the toolchain's `tensorboard` package (pip install '.[toolchain]')") \
            from None
    return graph_pb2, types_pb2


def read_manifest(json_path: Path) -> dict:
    """The parsed ``model.json``; a :class:`ModelError` naming the file when it is missing, not JSON, or not a TF.js
    graph model."""
    if not json_path.is_file():
        raise ModelError(f"{json_path}: TF.js model file not found")
    try:
        data = json.loads(json_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"{json_path}: not a TF.js model.json ({reason(exc)})") from None
    if not isinstance(data, dict) or not isinstance(data.get("modelTopology"), dict) or \
            not isinstance(data.get("weightsManifest"), list):
        raise ModelError(f"{json_path}: not a TF.js graph model (needs modelTopology and weightsManifest)")
    if data.get("format", "graph-model") != "graph-model":
        raise ModelError(f"{json_path}: TF.js format {data.get('format')!r} is not supported (only graph-model; "
                         f"layers models are Keras models)")
    return data


def weight_files(json_path: Path, data: dict) -> list[Path]:
    """The weight shard paths the manifest names, relative to ``model.json``'s folder."""
    return [json_path.parent / p for group in data["weightsManifest"] for p in group.get("paths", [])]


def read_weights(json_path: Path, data: dict) -> dict[str, np.ndarray]:
    """Every weight of the manifest as a numpy array of its original dtype, by tensor name.

    Shards of one group are concatenated in order; each weight's bytes follow the previous one's. Quantized weights:
    float16 -> float32; uint8/uint16 -> ``min + q * scale`` (tfjs-converter's affine quantization).
    """
    weights: dict[str, np.ndarray] = {}
    for group in data["weightsManifest"]:
        blobs = []
        for rel in group.get("paths", []):
            path = json_path.parent / rel
            if not path.is_file():
                raise ModelError(f"{path}: TF.js weight file not found (named by {json_path.name})")
            blobs.append(path.read_bytes())
        buffer = b"".join(blobs)
        shard = json_path.parent / group["paths"][-1] if group.get("paths") else json_path
        offset = 0
        for spec in group.get("weights", []):
            name, shape, dtype = spec.get("name"), [int(d) for d in spec.get("shape", [])], spec.get("dtype")
            quant = spec.get("quantization")
            count = int(np.prod(shape)) if shape else 1
            stored = quant["dtype"] if quant else dtype
            if stored not in _QUANTIZED and stored not in _DTYPES:
                raise ModelError(f"{json_path}: weight {name}: dtype {stored!r} is not supported")
            np_stored = np.dtype(_QUANTIZED.get(stored, _DTYPES.get(stored)))
            size = count * np_stored.itemsize
            if offset + size > len(buffer):
                raise ModelError(f"{shard}: weight file is shorter than {json_path.name} says ({len(buffer)} bytes, "
                                 f"weight {name} needs bytes up to {offset + size})")
            raw = np.frombuffer(buffer, np_stored, count, offset)
            offset += size
            if quant and stored == "float16":
                value = raw.astype(np.float32)
            elif quant:
                value = (raw.astype(np.float32) * float(quant["scale"]) + float(quant["min"])).astype(
                    _DTYPES.get(quant.get("original_dtype", dtype), np.float32))
            else:
                value = raw
            weights[name] = value.reshape(shape)
        if offset != len(buffer):
            raise ModelError(f"{shard}: weight file holds {len(buffer)} bytes, {json_path.name} describes {offset}")
    return weights


def _unfuse(node, graph_out, where: Path) -> None:
    """Append the plain ops that ``node`` (a fused op) stands for to ``graph_out``; the last keeps its name."""
    base = FUSED_BASE[node.op]
    parts = [s.decode() for s in node.attr["fused_ops"].list.s]
    unknown = [p for p in parts if p not in FUSED_PARTS]
    if unknown:
        raise ModelError(f"{where}: node {node.name}: fused op {node.op} with {'+'.join(parts)}: no conversion rule "
                         f"for {unknown[0]}")
    first = graph_out.node.add()
    first.name, first.op = (node.name if not parts else f"{node.name}/{base}"), base
    first.input.extend(node.input[:2])
    first.device = node.device
    for key in _BASE_ATTRS[base]:
        if key in node.attr:
            first.attr[key].CopyFrom(node.attr[key])
    previous, extra = first.name, list(node.input[2:])
    for i, part in enumerate(parts):
        op = graph_out.node.add()
        op.name, op.op = (node.name if i == len(parts) - 1 else f"{node.name}/{part}"), part
        op.attr["T"].CopyFrom(node.attr["T"])
        if part == "BiasAdd":
            if not extra:
                raise ModelError(f"{where}: node {node.name}: fused BiasAdd without a bias input")
            op.input.extend([previous, extra.pop(0)])
            op.attr["data_format"].s = node.attr["data_format"].s or b"NHWC"
        else:
            op.input.append(previous)
            if part == "LeakyRelu" and "leakyrelu_alpha" in node.attr:
                op.attr["alpha"].f = node.attr["leakyrelu_alpha"].f
        previous = op.name


def to_graphdef(json_path: Path):
    """The frozen TensorFlow GraphDef of a TF.js graph model, with weights filled in and fused ops rewritten."""
    from google.protobuf import json_format

    graph_pb2, types_pb2 = _protos()
    data = read_manifest(json_path)
    weights = read_weights(json_path, data)
    topology = {k: v for k, v in data["modelTopology"].items() if k in ("node", "versions")}
    try:
        parsed = json_format.ParseDict(topology, graph_pb2.GraphDef(), ignore_unknown_fields=True)
    except json_format.ParseError as exc:
        raise ModelError(f"{json_path}: modelTopology is not a TensorFlow graph ({reason(exc)})") from None
    tf_type = {np.dtype(np.float32): types_pb2.DT_FLOAT, np.dtype(np.int32): types_pb2.DT_INT32,
               np.dtype(np.bool_): types_pb2.DT_BOOL}
    out = graph_pb2.GraphDef()
    out.versions.CopyFrom(parsed.versions)
    for node in parsed.node:
        if node.op == "Const" and node.name in weights:
            value = weights.pop(node.name)
            tensor = node.attr["value"].tensor
            tensor.Clear()
            tensor.dtype = tf_type[value.dtype]
            tensor.tensor_shape.SetInParent()  # a scalar has an empty shape, not none (read as [0])
            for dim in value.shape:
                tensor.tensor_shape.dim.add(size=int(dim))
            tensor.tensor_content = np.ascontiguousarray(value).tobytes()
            node.attr["dtype"].type = tensor.dtype
        if node.op in FUSED_BASE:
            _unfuse(node, out, json_path)
        else:
            out.node.add().CopyFrom(node)
    if weights:
        raise ModelError(f"{json_path}: weights without a Const node: {', '.join(sorted(weights)[:3])}")
    return out


def graph_ops(json_path: Path) -> set[str]:
    """The op types of a TF.js graph model, for error messages and reports."""
    data = read_manifest(json_path)
    return {n.get("op", "") for n in data["modelTopology"].get("node", [])}


def load_tfjs(json_path: Path) -> ov.Model:
    """A TF.js graph model (its ``model.json``) as an ov.Model with the graph's own inputs and outputs.

    Raises :class:`ModelError` (one line, naming the file) for any fault of the model files or an op OpenVINO
    cannot convert."""
    graph = to_graphdef(Path(json_path))
    with tempfile.TemporaryDirectory(prefix="vigil-tfjs-") as tmp:
        pb = Path(tmp) / "frozen.pb"
        pb.write_bytes(graph.SerializeToString())
        try:
            return ov.Core().read_model(str(pb))
        except Exception as exc:
            text = str(exc)
            rule = re.search(r"No conversion rule found for operations: ([^\n]+)", text)
            failed = re.findall(r"^-- (\S+) with a message:", text, flags=re.M)
            if rule:
                what = f"no conversion rule for op {rule.group(1).strip()}"
            elif failed:
                what = f"op {failed[0]} failed to convert"
            else:
                what = reason(exc)
            raise ModelError(f"{json_path}: cannot convert the TF.js graph ({what})") from None
