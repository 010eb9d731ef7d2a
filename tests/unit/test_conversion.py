"""Conversion from each source kind into OpenVINO IR, and clear errors for broken or wrong models."""

from __future__ import annotations

import pytest

from edge_app.errors import ModelError
from edge_app.inference.runtime import Runtime


def test_missing_model_file_is_a_clear_error(tmp_path):
    with pytest.raises(ModelError, match="model file not found"):
        Runtime("CPU").compile(tmp_path / "nope.xml")


def test_ir_without_weights_is_a_clear_error(tmp_path):
    xml = tmp_path / "model.xml"
    xml.write_text("<net/>")
    with pytest.raises(ModelError, match="weights file"):
        Runtime("CPU").compile(xml)
