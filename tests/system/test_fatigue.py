"""Fatigue: the synthetic transformations, the analyzer's hysteresis, and the real model on held-back sequences."""

from __future__ import annotations


def test_bad_fatigue_config(tmp_path):
    from support import assert_clean_error, run_cli

    cfg = tmp_path / "c.yaml"
    cfg.write_text("analysis:\n  fatigue:\n    raise_at: 0.3\n    clear_at: 0.5\n")
    assert_clean_error(run_cli("edge_app", "config", "--config", str(cfg)), "hysteresis")
