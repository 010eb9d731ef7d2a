"""`python -m edge_app benchmark --quick`: under two minutes, the documented JSON schema with measured numbers, the
peers side by side, the pipeline scenarios, plots that are real PNGs; and its failure paths."""

from __future__ import annotations

import numpy as np
import pytest


def test_onnx_export_matches_the_ir(manifest):
    """The ONNX Runtime peer runs the same model as Vigil: its output equals OpenVINO f32 on real windows."""
    from support import MODELS_IR, REPO

    onnx = MODELS_IR / "fall_detector" / "onnx" / "model.onnx"
    windows = REPO / ".cache" / "vigil" / "trained" / "fall" / "windows.npz"
    if not onnx.is_file() or not windows.is_file():
        pytest.skip("needs the fall model built from training (make models with ../shared/data)")
    import onnxruntime as ort

    from edge_app.inference.runtime import Runtime

    x = np.load(windows)["x"][:64].astype(np.float32)
    session = ort.InferenceSession(str(onnx), providers=["CPUExecutionProvider"])
    compiled = Runtime("CPU").compile(MODELS_IR / "fall_detector" / "fp32" / "model.xml", "f32").compiled
    for window in x:
        a = session.run(None, {"input": window[None]})[0]
        b = compiled(window[None])[0]
        assert np.allclose(a, b, atol=1e-4), (a, b)
