"""Property-based fuzzing (hypothesis) of every payload Vigil parses: whatever arrives, the answer is a result or
the clear error (VigilError, one line), never a crash. The config loader's fuzz is in test_config.py."""

from __future__ import annotations

import json

from hypothesis import given

from edge_app.errors import VigilError
from helpers.fuzz import FUZZ, json_values, one_line


@FUZZ
@given(data=json_values)
def test_model_manifests(tmp_path_factory, runtime, data):
    from edge_app.inference.model_store import ModelStore

    folder = tmp_path_factory.mktemp("models")
    (folder / "manifest.json").write_text(json.dumps(data))
    try:
        store = ModelStore(folder)
        for name in list(store.models)[:2]:
            store.choose(name, runtime, "auto")
    except VigilError as exc:
        one_line(exc)
