"""Helpers of the field cases tests, shared by their tiers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from support import need_shared, run_cli

FPS = 18.0  # the UP-Fall clips the cases were made from
FRAME = 1.0 / FPS


def control() -> Path:
    return need_shared("falls", "upfall_s1", "Activity1", "Trial2Cam1.mp4")


def case(name: str) -> Path:
    return need_shared("cases", name)


def run(tmp_path: Path, source: str, *extra: str) -> tuple[list[dict], dict, str]:
    """Run Vigil on ``source`` (every frame, no pacing); its raised events, --stats and stderr."""
    events, stats = tmp_path / "events.jsonl", tmp_path / "stats.json"
    events.unlink(missing_ok=True)
    proc = run_cli("edge_app", "run", "--headless", "--fast", "--http", "off", "--source", source, "--events",
                   str(events), "--stats", str(stats), *extra)
    assert proc.returncode == 0, proc.stderr[-3000:]
    raised = [json.loads(line) for line in events.read_text().splitlines()] if events.exists() else []
    return [e for e in raised if e["state"] == "raised"], json.loads(stats.read_text()), proc.stderr


@pytest.fixture(scope="module")
def control_fall(manifest, tmp_path_factory) -> dict:
    """The unmodified clip's one fall alert (the reference every variant is compared with)."""
    raised, _, _ = run(tmp_path_factory.mktemp("control"), f"cam={control()}")
    falls = [e for e in raised if e["type"] == "fall"]
    assert len(falls) == 1, raised
    return falls[0]


def one_fall(raised: list[dict]) -> dict:
    assert [e["type"] for e in raised] == ["fall"], raised
    return raised[0]
