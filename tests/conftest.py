"""Shared fixtures. Tests that need ../shared/data or built models skip with a clear reason when absent."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared" / "data"
MODELS_IR = REPO / "models_ir"
PYTHON = sys.executable


def need_shared(*parts: str) -> Path:
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"needs {path} (the shared real data is not present on this machine)")
    return path


@pytest.fixture(scope="session")
def shared() -> Path:
    return need_shared()


@pytest.fixture(scope="session")
def manifest() -> dict:
    path = MODELS_IR / "manifest.json"
    if not path.is_file():
        pytest.skip("needs built models: run `make models`")
    return json.loads(path.read_text())


@pytest.fixture(scope="session")
def runtime():
    from edge_app.inference.runtime import Runtime

    return Runtime("CPU", "LATENCY", threads=2)


def run_cli(*args: str, env: dict | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
    """Run ``python -m ...`` from the repository root; returns the completed process (text)."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([PYTHON, "-m", *args], cwd=REPO, capture_output=True, text=True, timeout=timeout,
                          env=full_env)


def assert_clean_error(proc: subprocess.CompletedProcess, *needles: str) -> str:
    """A user error: non-zero exit, no traceback, the last stderr line names what was wrong."""
    assert proc.returncode != 0, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
    assert lines, "no error message"
    last = lines[-1]
    assert "error:" in last, proc.stderr
    for needle in needles:
        assert needle in last, f"{needle!r} not in {last!r}"
    return last
