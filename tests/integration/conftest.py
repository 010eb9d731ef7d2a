"""The integration tier's promise, enforced: real models, in this process. A test that starts a process (the CLI, a
server) fails at once and belongs in tests/system."""

from __future__ import annotations

import os
import subprocess

import pytest


def _refuse(*args, **kwargs):
    raise AssertionError("an integration test started a process: move it to tests/system")


@pytest.fixture(scope="package", autouse=True)
def integration_tier_guard():
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(subprocess.Popen, "__init__", _refuse)
        mp.setattr(os, "fork", _refuse)
        yield
