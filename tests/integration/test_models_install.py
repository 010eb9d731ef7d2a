"""`vigil models --from DIR` (edge_app/models_install.py): a built models_ir installed on a box without the
toolchain, checked whole first, swapped in at the end, the models that were there kept as a backup."""

from __future__ import annotations

import json
import shutil

import pytest

from edge_app.errors import ModelError
from edge_app.inference.model_store import ModelStore
from edge_app.inference.runtime import Runtime
from edge_app.models_install import install_models
from edge_app.pose.landmarks import LandmarkModel
from support import MODELS_IR


def test_install_copies_what_the_runtime_needs_and_keeps_the_previous_models(tmp_path, manifest):
    target = tmp_path / "home" / "models_ir"
    first = install_models(MODELS_IR, target)
    assert first.backup is None and set(first.models) == set(manifest["models"])
    assert not list(target.rglob("*.onnx"))  # the toolchain's exports stay behind: only IRs and the manifest
    chosen = ModelStore(target).choose("pose_landmark_full", Runtime("CPU"), "int8", LandmarkModel.prepare)
    assert chosen.compiled.path.is_relative_to(target)
    (target / "marker").write_text("the models that were here")
    second = install_models(MODELS_IR, target)
    assert second.backup == target.with_name("models_ir.bak") and (second.backup / "marker").is_file()
    assert not (target / "marker").exists()
    assert sorted(p.name for p in target.parent.iterdir()) == ["models_ir", "models_ir.bak"]  # no staging left


def test_a_folder_that_is_not_whole_is_refused_and_the_installed_models_stay(tmp_path):
    source = tmp_path / "built"
    shutil.copytree(MODELS_IR, source, ignore=shutil.ignore_patterns("onnx"))
    target = tmp_path / "home" / "models_ir"
    install_models(source, target)
    broken = source / "pose_detector" / "fp32" / "model.bin"
    broken.write_bytes(broken.read_bytes()[:100])
    with pytest.raises(ModelError, match="pose_detector/fp32/model"):
        install_models(source, target)
    assert ModelStore(target).choose("pose_detector", Runtime("CPU"), "f32").run.name == "f32"  # still whole
    assert sorted(p.name for p in target.parent.iterdir()) == ["models_ir"]


def test_a_manifest_pointing_outside_its_folder_is_refused(tmp_path):
    source = tmp_path / "built"
    shutil.copytree(MODELS_IR, source, ignore=shutil.ignore_patterns("onnx"))
    data = json.loads((source / "manifest.json").read_text())
    name = next(iter(data["models"]))
    data["models"][name]["variants"]["fp32"]["path"] = "../../etc/model.xml"
    (source / "manifest.json").write_text(json.dumps(data))
    with pytest.raises(ModelError, match="points outside the folder"):
        install_models(source, tmp_path / "home" / "models_ir")
    assert not (tmp_path / "home" / "models_ir").exists()
