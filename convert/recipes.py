"""configs/models.yaml, validated into typed recipes: where models come from and how they are built."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from edge_app.errors import ConfigError
from edge_app.schema import build, load_yaml, option

REPO = Path(__file__).resolve().parent.parent
DEFAULT_RECIPES = REPO / "configs" / "models.yaml"

ModelKind = Literal["blazepose_detector", "movenet_multipose", "blazepose_landmarks", "sequence", "generic"]


@dataclass(frozen=True)
class SourceFile:
    member: str = option(doc="path of the file inside the package archive")
    sha256: str = option(doc="pinned sha256 of the file")
    name: str = option("", doc="file name (filled from the mapping key)")

    def validate(self) -> None:
        if not re.fullmatch(r"[0-9a-f]{64}", self.sha256):
            raise ValueError(f"sha256 of {self.member} must be 64 lowercase hex digits")


@dataclass(frozen=True)
class SourcePackage:
    registry: Literal["pypi", "npm"] = option(doc="package registry")
    package: str = option(doc="pinned package spec, e.g. mediapipe==0.10.21 or @mediapipe/pose@0.5.1675469404")
    files: dict[str, SourceFile] = option(factory=dict, doc="files taken from the package archive")
    name: str = option("", doc="source name (filled from the mapping key)")


@dataclass(frozen=True)
class PyTorchSource:
    pytorch: str = option(doc="'module:factory' returning a torch.nn.Module")
    input_shape: list[int] = option(doc="example input shape for tracing")
    weights: Path | None = option(None, doc="state_dict file loaded into the module")


@dataclass(frozen=True)
class Int8Recipe:
    preset: Literal["performance", "mixed"] = option("performance", doc="NNCF quantization preset")
    subset_size: int = option(300, doc="number of calibration samples")
    ignore_heads: bool = option(True, doc="keep each output's last Convolution/MatMul in float")
    ignored_names: list[str] = option(factory=list, doc="node names (regular expressions) kept in float")
    ignored_types: list[str] = option(factory=list, doc="OpenVINO op types kept in float")
    float_first_layers: int = option(0, doc="keep the first N Convolution/MatMul layers in float")
    float_last_layers: int = option(0, doc="keep the last N Convolution/MatMul layers in float (a model's "
                                          "prediction heads)")
    float_layers: list[int] = option(factory=list, doc="keep the Convolution/MatMul layers at these positions "
                                                       "(0-based, in graph order) in float: what an earlier build's "
                                                       "agreement search found, so later builds need not search")
    float_residual_adds: Literal["none", "all", "second_half"] = option(
        "none", doc="keep residual Adds (both inputs computed) in float: none, all, or those of the second half")
    min_agreement: float = option(0.95, doc="below this float-vs-INT8 agreement, find the layer whose weights "
                                              "do the harm and keep it in float (up to max_rescued_layers)")
    max_rescued_layers: int = option(3, doc="most layers the agreement search may return to float")
    accuracy_control: bool = option(False, doc="also try alternative settings; keep the best float agreement")
    fast_bias_correction: bool = option(True, doc="false runs the slower, more exact bias correction")

    def validate(self) -> None:
        if self.subset_size < 1:
            raise ValueError("int8.subset_size must be >= 1")
        if self.float_first_layers < 0 or self.float_last_layers < 0:
            raise ValueError("int8.float_first_layers and int8.float_last_layers must be >= 0")
        if any(i < 0 for i in self.float_layers):
            raise ValueError("int8.float_layers must hold positions >= 0")


@dataclass(frozen=True)
class ModelRecipe:
    kind: ModelKind = option(doc="model family; decides calibration data and the accuracy check")
    source: str | PyTorchSource = option(doc="a source file name, a .tflite/.onnx/TF.js model.json path, or a "
                                             "PyTorch model")
    outputs: list[str] = option(factory=list, doc="keep only these outputs (tensor names); empty keeps all")
    needs: list[str] = option(factory=list, doc="more source files fetched beside the source (a TF.js model's "
                                                "weight shards)")
    input_shape: list[int] = option(factory=list, doc="fix a file source's dynamic input to this shape (e.g. "
                                                      "[1, 256, 256, 3]); empty keeps the model's own")
    int8: Int8Recipe | None = option(None, doc="INT8 quantization; omit for the float variant only")
    train: Literal["fall", "fatigue"] | None = option(
        None, doc="a sequence model `convert build` trains first (`convert train NAME`) when its weights are missing")
    name: str = option("", doc="model name (filled from the mapping key)")


@dataclass(frozen=True)
class RecipesFile:
    sources: dict[str, SourcePackage] = option(factory=dict, doc="packages that original models come from")
    models: dict[str, ModelRecipe] = option(factory=dict, doc="models to build into models_ir/")


@dataclass(frozen=True)
class Recipes:
    path: Path
    sources: dict[str, SourcePackage]
    models: dict[str, ModelRecipe]

    def source_file(self, name: str) -> tuple[SourcePackage, SourceFile]:
        for pkg in self.sources.values():
            if name in pkg.files:
                return pkg, pkg.files[name]
        raise ConfigError(f"{self.path}: no source provides {name!r}")

    def is_source_file(self, name: str) -> bool:
        return any(name in pkg.files for pkg in self.sources.values())


def load_recipes(path: str | Path = DEFAULT_RECIPES) -> Recipes:
    path = Path(path)
    raw = build(RecipesFile, load_yaml(path), str(path))
    sources = {}
    for sname, pkg in raw.sources.items():
        files = {fname: SourceFile(f.member, f.sha256, fname) for fname, f in pkg.files.items()}
        sources[sname] = SourcePackage(pkg.registry, pkg.package, files, sname)
    models = {}
    for mname, m in raw.models.items():
        if not re.fullmatch(r"[A-Za-z0-9_\-]+", mname):
            raise ConfigError(f"{path}: models.{mname}: model names may hold only letters, digits, _ and -")
        source = m.source
        if isinstance(source, PyTorchSource) and source.weights is not None and not source.weights.is_absolute():
            source = PyTorchSource(source.pytorch, source.input_shape, (path.parent.parent / source.weights).resolve())
        models[mname] = ModelRecipe(m.kind, source, m.outputs, m.needs, m.input_shape, m.int8, m.train, mname)
    recipes = Recipes(path, sources, models)
    for m in models.values():
        unknown = [n for n in m.needs if not recipes.is_source_file(n)]
        if unknown:
            raise ConfigError(f"{path}: models.{m.name}.needs: no source provides {unknown[0]!r}")
        if isinstance(m.source, str) and not recipes.is_source_file(m.source) and not m.source.endswith(
                (".tflite", ".onnx", ".xml", ".json")):
            raise ConfigError(f"{path}: models.{m.name}.source: {m.source!r} is neither a source file nor a "
                              f".tflite/.onnx/.xml/TF.js .json path")
    return recipes
