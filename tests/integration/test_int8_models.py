"""The built INT8 models against the issue's bounds, re-measured here on the shared COCO images.

The manifest records what the build measured; these tests measure again and check the manifest tells the truth.
"""

from __future__ import annotations

import pytest

from convert.coco import load_coco
from convert.kinds import DetectorKind, LandmarkKind
from support import MODELS_IR, need_shared

LANDMARK_MODELS = ["pose_landmark_full", "pose_landmark_lite", "pose_landmark_heavy"]


@pytest.fixture(scope="module")
def coco():
    root = need_shared("pose", "coco_minitrain")
    return load_coco(root / "person_keypoints.json", root / "images")


def compiled_runs(manifest, name, runtime, prepare):
    """The model's runs compiled as the runtime compiles them (``prepare``: its input conversion in the model)."""
    entry = manifest["models"].get(name)
    if entry is None or "int8" not in entry["variants"]:
        pytest.skip(f"{name} has no INT8 build in models_ir (run `make models`)")
    fp = MODELS_IR / entry["variants"]["fp32"]["path"]
    q = MODELS_IR / entry["variants"]["int8"]["path"]
    runs = {"f32": runtime.compile(fp, "f32", prepare), "int8": runtime.compile(q, "f32", prepare)}
    if runtime.supports("bf16"):
        runs["bf16"] = runtime.compile(fp, "bf16", prepare)
    return entry, runs


@pytest.mark.parametrize("name", LANDMARK_MODELS)
def test_landmark_int8_accuracy_is_as_recorded(manifest, coco, runtime, name):
    entry, runs = compiled_runs(manifest, name, runtime, LandmarkKind.prepare)
    ref = LandmarkKind.accuracy(runs["f32"], coco)
    got = LandmarkKind.accuracy(runs["int8"], coco)
    recorded = entry["variants"]["int8"]["runs"]["int8"]
    assert got["people"] == ref["people"] >= 40
    assert got["mean_oks"] == pytest.approx(recorded["accuracy"]["mean_oks"], abs=0.002)
    assert recorded["meets_bound"] == LandmarkKind.meets_bound(got, ref)


def test_full_landmark_int8_meets_the_accuracy_bound(manifest, coco, runtime):
    _, runs = compiled_runs(manifest, "pose_landmark_full", runtime, LandmarkKind.prepare)
    ref = LandmarkKind.accuracy(runs["f32"], coco)
    got = LandmarkKind.accuracy(runs["int8"], coco)
    assert got["mean_oks"] >= ref["mean_oks"] - 0.01, (got, ref)
    assert got["pck_0.2"] >= ref["pck_0.2"] - 0.01, (got, ref)
    # and not worse than MediaPipe's own pipeline on comparable COCO crops (OKS 0.35, PCK@0.2 0.51)
    assert got["mean_oks"] >= 0.35 and got["pck_0.2"] >= 0.51


def test_detector_int8_recall_is_as_recorded_and_the_runtime_keeps_to_the_bound(manifest, coco, runtime):
    """The detector's INT8 recall measured again (as the runtime compiles it), the manifest's verdict on its bound
    the same, and ``precision: auto`` never choosing a run outside the bound."""
    from edge_app.inference.model_store import ModelStore

    entry, runs = compiled_runs(manifest, "pose_detector", runtime, DetectorKind.prepare)
    ref = DetectorKind.accuracy(runs["f32"], coco)
    got = DetectorKind.accuracy(runs["int8"], coco)
    recorded = entry["variants"]["int8"]["runs"]["int8"]
    assert ref["people"] == got["people"] and ref["found"] > 0
    assert got["recall"] == pytest.approx(recorded["accuracy"]["recall"], abs=1e-4)
    assert recorded["meets_bound"] == DetectorKind.meets_bound(got, ref)
    chosen = ModelStore(MODELS_IR).choose("pose_detector", runtime, "auto", DetectorKind.prepare)
    assert chosen.run.meets_bound


# INT8's speed over f32 (issue 2's 1.6x bound) is a claim for the machine it runs on: `make benchmark` measures it
# side by side and reports it under "Targets" (a loaded 2-core CI box made a timed test here flaky).


def test_manifest_records_what_the_issue_asks(manifest):
    assert manifest["versions"]["openvino"] and manifest["versions"]["nncf"]
    for name, entry in manifest["models"].items():
        assert entry["source"]["sha256"]
        if "int8" in entry["variants"]:
            q = entry["variants"]["int8"]["quantization"]
            for key in ("preset", "ignored_scope", "subset_size", "calibration_sources"):
                assert key in q, (name, key)
        for variant in entry["variants"].values():
            for run in variant["runs"].values():
                assert run["precision_ran"] and run["latency"]["p50_ms"] > 0 and run["latency"]["p95_ms"] > 0
