"""The unit tier's promise, enforced: a unit test loads no model, starts no process and opens no socket. Each of
those raises here, for every test in tests/unit and the fixtures they use, so a test that needs one fails at once
and belongs in tests/integration or tests/system."""

from __future__ import annotations

import os
import socket
import subprocess

import openvino as ov
import pytest


class NotInUnitTier(AssertionError):
    pass


def _refuse(what: str):
    def refuse(*args, **kwargs):
        raise NotInUnitTier(f"a unit test {what}: move it to tests/integration or tests/system")
    return refuse


@pytest.fixture(scope="package", autouse=True)
def unit_tier_guard():
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(socket.socket, "__init__", _refuse("opened a socket"))
        mp.setattr(subprocess.Popen, "__init__", _refuse("started a process"))
        mp.setattr(os, "fork", _refuse("forked a process"))
        mp.setattr(ov.Core, "read_model", _refuse("read a model"))
        mp.setattr(ov.Core, "compile_model", _refuse("compiled a model"))
        yield
