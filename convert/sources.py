"""Load a model from its source (TFLite, ONNX, TF.js graph model, PyTorch, IR) into a clean OpenVINO model: only
the outputs the runtime uses, constants folded (so NNCF sees plain weights, e.g. of TFLite depthwise convolutions)."""

from __future__ import annotations

import importlib
import tempfile
from pathlib import Path

import openvino as ov
import openvino.passes as ov_passes

from convert.recipes import ModelRecipe, PyTorchSource
from edge_app.errors import ModelError, VigilError, reason

SUPPORTED_SUFFIXES = (".tflite", ".onnx", ".json", ".xml", ".pt", ".pth")


def load_file(path: Path) -> ov.Model:
    """A .tflite, .onnx, TF.js graph model (model.json) or OpenVINO .xml file as an ov.Model, with a one-line
    error naming the file when it cannot be read."""
    if not path.is_file():
        raise ModelError(f"{path}: model file not found")
    if path.suffix == ".json":
        from convert.tfjs import load_tfjs

        return load_tfjs(path)
    if path.suffix not in (".tflite", ".onnx", ".xml"):
        raise ModelError(f"{path}: unsupported model format (use .tflite, .onnx, a TF.js model.json, an OpenVINO "
                         f".xml, or a PyTorch module:factory recipe)")
    try:
        return ov.Core().read_model(str(path))  # picks the frontend by suffix, quietly
    except Exception as exc:
        raise ModelError(f"{path}: cannot convert ({reason(exc)})") from None


def pytorch_module(source: PyTorchSource, where: str):
    """Import ``module:factory`` and load the weights if given: the torch.nn.Module in eval mode."""
    import torch  # toolchain-only dependency

    module_name, _, factory_name = source.pytorch.partition(":")
    if not module_name or not factory_name:
        raise VigilError(f"{where}: pytorch source must be 'module:factory', got {source.pytorch!r}")
    try:
        factory = getattr(importlib.import_module(module_name), factory_name)
    except (ImportError, AttributeError) as exc:
        raise VigilError(f"{where}: cannot import {source.pytorch} ({reason(exc)})") from None
    net = factory()
    if not isinstance(net, torch.nn.Module):
        raise VigilError(f"{where}: {source.pytorch} did not return a torch.nn.Module")
    if source.weights is not None:
        if not source.weights.is_file():
            raise ModelError(f"{source.weights}: weights file not found")
        try:
            state = torch.load(source.weights, map_location="cpu", weights_only=True)
            net.load_state_dict(state)
        except Exception as exc:
            raise ModelError(f"{source.weights}: cannot load weights into {source.pytorch} "
                             f"({reason(exc)})") from None
    return net.eval()


def load_pytorch(source: PyTorchSource, where: str) -> ov.Model:
    """Import ``module:factory``, load weights if given, and convert with an example input of ``input_shape``."""
    import torch

    net = pytorch_module(source, where)
    example = torch.zeros(*source.input_shape)
    with torch.no_grad():
        try:
            return ov.convert_model(net, example_input=example, input=[tuple(source.input_shape)])
        except Exception as exc:
            raise ModelError(f"{where}: cannot convert {source.pytorch} ({reason(exc)})") from None


def export_onnx(source: PyTorchSource, path: Path, where: str) -> Path:
    """The same PyTorch model as ONNX (fixed input shape), for peers that run ONNX (the benchmark's ONNX Runtime).
    Written to a temporary name first, so a failed export never leaves a half file."""
    import torch

    net = pytorch_module(source, where)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    with torch.no_grad():
        try:
            torch.onnx.export(net, (torch.zeros(*source.input_shape),), str(partial), dynamo=False,
                              input_names=["input"], output_names=["output"], opset_version=17)
        except Exception as exc:
            partial.unlink(missing_ok=True)
            raise ModelError(f"{where}: cannot export {source.pytorch} to ONNX ({reason(exc)})") from None
    partial.replace(path)
    return path


def prune_outputs(model: ov.Model, keep: list[str], where: str) -> ov.Model:
    """A model computing only the outputs named in ``keep`` (in that order); the rest of the graph is dropped."""
    if not keep:
        return model
    by_name = {}
    for out in model.outputs:
        for name in out.get_names():
            by_name[name] = out
    missing = [k for k in keep if k not in by_name]
    if missing:
        raise ModelError(f"{where}: model has no output {missing[0]!r} (outputs: "
                         f"{', '.join(sorted(by_name))})")
    return ov.Model([by_name[k] for k in keep], model.get_parameters(), model.get_friendly_name())


def fold_constants(model: ov.Model) -> ov.Model:
    """Fold constant subgraphs (e.g. TFLite's f16 weights -> Convert -> Transpose). Converters mark weight
    decompression as not foldable; a round trip through IR drops those marks so the weights become plain
    constants that NNCF can quantize."""
    with tempfile.TemporaryDirectory(prefix="vigil-fold-") as tmp:
        ov.save_model(model, f"{tmp}/m.xml", compress_to_fp16=False)
        model = ov.Core().read_model(f"{tmp}/m.xml")
    manager = ov_passes.Manager()
    manager.register_pass(ov_passes.ConstantFolding())
    manager.run_passes(model)
    return model


def load_source(recipe: ModelRecipe, path: Path | None, where: str) -> ov.Model:
    """The recipe's model as a clean float ov.Model. ``path`` is the resolved file for file sources."""
    if isinstance(recipe.source, PyTorchSource):
        model = load_pytorch(recipe.source, where)
    else:
        assert path is not None
        model = load_file(path)
    if recipe.input_shape:
        try:
            model.reshape(list(recipe.input_shape))
        except Exception as exc:
            raise ModelError(f"{where}: input_shape {recipe.input_shape}: {reason(exc)}") from None
    return fold_constants(prune_outputs(model, recipe.outputs, where))


def head_nodes(model: ov.Model) -> list[str]:
    """Friendly names of the last Convolution/MatMul before each output: the regression heads kept in float."""
    heads = []
    for result in model.get_results():
        stack, seen = [result.input_value(0).get_node()], set()
        while stack:
            node = stack.pop()
            if node.get_friendly_name() in seen:  # wrapper objects are fresh each time: compare by name
                continue
            seen.add(node.get_friendly_name())
            if node.get_type_name() in ("Convolution", "MatMul", "GroupConvolution"):
                if node.get_friendly_name() not in heads:
                    heads.append(node.get_friendly_name())
                continue
            stack += [i.get_source_output().get_node() for i in node.inputs()
                      if i.get_source_output().get_node().get_type_name() != "Constant"]
    return heads
