"""Conversion from each source kind into OpenVINO IR, and clear errors for broken or wrong models."""

from __future__ import annotations

import numpy as np
import openvino as ov
import pytest

from convert.recipes import load_recipes
from convert.sources import head_nodes, load_file, load_source
from edge_app.errors import ModelError
from edge_app.inference.runtime import Runtime
from helpers.conversion import torch
from support import need_shared


def test_blazepose_tflite_converts_and_pruning_keeps_landmarks(tmp_path):
    tflite = need_shared("models", "blazepose", "pose_landmark_lite.tflite")
    recipes = load_recipes()
    recipe = recipes.models["pose_landmark_lite"]
    pruned = load_source(recipe, tflite, "test")
    assert [o.get_any_name() for o in pruned.outputs] == ["Identity", "Identity_1", "Identity_4"]
    full = load_file(tflite)
    assert len(full.outputs) == 5
    rt = Runtime("CPU")
    x = np.random.default_rng(3).random((1, 256, 256, 3), dtype=np.float32)
    a = rt.compile(pruned, "f32").create_request().infer({0: x})
    b = rt.compile(full, "f32").create_request().infer({0: x})
    assert np.allclose(a[0], b[0], atol=1e-3) and np.allclose(a[2], b[4], atol=1e-4)
    assert len(head_nodes(pruned)) == 3


def test_corrupted_ir_is_a_clear_error(tmp_path):
    xml = tmp_path / "model.xml"
    xml.write_text("<net><layers><broken")
    (tmp_path / "model.bin").write_bytes(b"\0" * 16)
    with pytest.raises(ModelError, match="cannot read model"):
        Runtime("CPU").compile(xml)


def test_wrong_kind_of_model_is_rejected_by_the_pose_classes(tmp_path):
    from edge_app.pose.detector import PoseDetector
    from edge_app.pose.landmarks import LandmarkModel

    lite = need_shared("models", "blazepose", "pose_landmark_lite.tflite")
    detector_file = need_shared("models", "blazepose", "pose_detection.tflite")
    rt = Runtime("CPU")
    with pytest.raises(ModelError, match="not a BlazePose detector"):
        PoseDetector(rt.compile(lite))
    with pytest.raises(ModelError, match="not a BlazePose landmark model"):
        LandmarkModel(rt.compile(detector_file))


def test_wrong_input_shape_is_a_clear_error(tmp_path):
    from edge_app.pose.landmarks import LandmarkModel
    from tiny_models import tiny_net

    model = ov.convert_model(tiny_net(), example_input=torch.zeros(1, 3, 32, 32))
    with pytest.raises(ModelError, match="expected input 1x256x256x3"):
        LandmarkModel(Runtime("CPU").compile(model))
