"""Conversion from each source kind into OpenVINO IR, and clear errors for broken or wrong models."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import numpy as np
import openvino as ov

from edge_app.inference.runtime import Runtime
from helpers.conversion import torch
from support import assert_clean_error, run_cli


def _write_recipes(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "models.yaml"
    path.write_text(textwrap.dedent(body))
    return path


def _torch_reference(x: np.ndarray) -> np.ndarray:
    from tiny_models import tiny_net

    with torch.no_grad():
        return tiny_net()(torch.from_numpy(x)).numpy()


def _infer(xml: Path, x: np.ndarray) -> np.ndarray:
    cm = Runtime("CPU").compile(xml, "f32")
    return cm.create_request().infer({0: x})[0]


def test_pytorch_source_builds_ir_matching_torch(tmp_path):
    recipes = _write_recipes(tmp_path, """
        models:
          tiny:
            kind: generic
            source: {pytorch: "tiny_models:tiny_net", input_shape: [1, 3, 32, 32]}
    """)
    proc = run_cli("convert", "build", "--recipes", str(recipes), "--out", str(tmp_path / "ir"),
                   "--latency-iterations", "20", env={"PYTHONPATH": str(Path(__file__).parent.parent)})
    assert proc.returncode == 0, proc.stderr
    xml = tmp_path / "ir" / "tiny" / "fp32" / "model.xml"
    x = np.random.default_rng(1).random((1, 3, 32, 32), dtype=np.float32)
    assert np.allclose(_infer(xml, x), _torch_reference(x), atol=1e-5)
    manifest = json.loads((tmp_path / "ir" / "manifest.json").read_text())
    entry = manifest["models"]["tiny"]
    assert entry["source"]["pytorch"] == "tiny_models:tiny_net"
    run = entry["variants"]["fp32"]["runs"]["f32"]
    assert run["precision_ran"] == "f32" and run["latency"]["p50_ms"] > 0
    assert manifest["versions"]["openvino"] == ov.get_version()


def test_onnx_source_exported_from_pytorch(tmp_path):
    from tiny_models import tiny_net

    onnx_path = tmp_path / "tiny.onnx"
    torch.onnx.export(tiny_net(), torch.zeros(1, 3, 32, 32), str(onnx_path), input_names=["x"],
                      output_names=["y"], dynamo=False)
    recipes = _write_recipes(tmp_path, f"""
        models:
          tiny_onnx:
            kind: generic
            source: {onnx_path}
    """)
    proc = run_cli("convert", "build", "--recipes", str(recipes), "--out", str(tmp_path / "ir"),
                   "--latency-iterations", "20")
    assert proc.returncode == 0, proc.stderr
    x = np.random.default_rng(2).random((1, 3, 32, 32), dtype=np.float32)
    assert np.allclose(_infer(tmp_path / "ir" / "tiny_onnx" / "fp32" / "model.xml", x), _torch_reference(x),
                       atol=1e-5)


def test_corrupted_tflite_is_a_clear_error_from_the_cli(tmp_path):
    bad = tmp_path / "broken.tflite"
    bad.write_bytes(b"TFL3" + b"\x07" * 100)
    recipes = _write_recipes(tmp_path, f"""
        models:
          broken:
            kind: generic
            source: {bad}
    """)
    proc = run_cli("convert", "build", "--recipes", str(recipes), "--out", str(tmp_path / "ir"))
    assert_clean_error(proc, str(bad))


def test_pytorch_factory_errors_are_one_line(tmp_path):
    recipes = _write_recipes(tmp_path, """
        models:
          bad:
            kind: generic
            source: {pytorch: "tiny_models:not_a_module", input_shape: [1, 3, 8, 8]}
    """)
    proc = run_cli("convert", "build", "--recipes", str(recipes), "--out", str(tmp_path / "ir"),
                   env={"PYTHONPATH": str(Path(__file__).parent.parent)})
    assert_clean_error(proc, "did not return a torch.nn.Module")
    recipes.write_text(recipes.read_text().replace("not_a_module", "no_such_thing"))
    proc = run_cli("convert", "build", "--recipes", str(recipes), "--out", str(tmp_path / "ir"),
                   env={"PYTHONPATH": str(Path(__file__).parent.parent)})
    assert_clean_error(proc, "cannot import tiny_models:no_such_thing")
