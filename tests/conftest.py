"""Fixtures, and the test tiers: a test's folder gives its marker (tests/unit: unit, tests/integration:
integration, tests/system: system), so `pytest -m unit` and `make test-fast` run the unit tier alone."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

import pytest

# fixtures shared by one subject's tests across the tiers
from helpers.console import console  # noqa: F401
from helpers.field_cases import control_fall  # noqa: F401
from support import MODELS_IR, MOSQUITTO, REPO, Broker, RtspServer, need_shared, rtsp_available

# Every Vigil the tests start serves its operator view on a free port, so the suite never clashes with a running
# Vigil (or another test) on the default 8090. Tests of the server set their own address.
os.environ.setdefault("VIGIL_HTTP", "127.0.0.1:0")

TIERS = ("unit", "integration", "system")


def _test_home() -> Path:
    """A Vigil home for the whole run (edge_app/home.py), outside the checkout: the checkout's configs, models,
    scripts and caches are linked in, so what a run writes by default (evidence/, reports/) never lands in the
    checkout."""
    home = Path(tempfile.mkdtemp(prefix="vigil-test-home-"))
    (REPO / ".cache").mkdir(exist_ok=True)
    for name in ("configs", "models_ir", "scripts", ".cache"):
        if (REPO / name).exists():
            (home / name).symlink_to(REPO / name)
    return home


if "VIGIL_HOME" not in os.environ:
    os.environ["VIGIL_HOME"] = str(_test_home())


def pytest_runtest_setup(item):
    """Each test's Vigil keeps its database (alert history, outboxes, accounts) apart: an alert one test left open
    never shows on another's board. (A hook, not a fixture, so hypothesis' tests take it too.)"""
    name = hashlib.sha1(item.nodeid.encode()).hexdigest()[:16]
    os.environ["VIGIL_DB"] = str(Path(os.environ["VIGIL_HOME"]) / "data" / f"{name}.db")


def pytest_collection_modifyitems(config, items):
    for item in items:
        parts = Path(str(item.fspath)).relative_to(REPO / "tests").parts
        if parts and parts[0] in TIERS:
            item.add_marker(getattr(pytest.mark, parts[0]))


def pytest_unconfigure(config):
    home = Path(os.environ.get("VIGIL_HOME", ""))
    if home.name.startswith("vigil-test-home-") and home.parent == Path(tempfile.gettempdir()):
        shutil.rmtree(home, ignore_errors=True)


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


@pytest.fixture
def rtsp_server():
    """A factory: rtsp_server({"cam1": path}) starts a real RTSP server; all are stopped after the test."""
    if not Path("/usr/bin/python3").exists() or not rtsp_available():
        pytest.skip("needs GStreamer's RTSP server for the system python3 (make setup installs it)")
    servers: list[RtspServer] = []

    def start(mounts: dict[str, Path], **kw) -> RtspServer:
        server = RtspServer(mounts, **kw).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def broker(tmp_path):
    if MOSQUITTO is None:
        pytest.skip("needs mosquitto (Debian package; `make setup` installs it)")
    b = Broker(tmp_path).start()
    yield b
    b.stop()
