"""Helpers of the console tests, shared by their tiers."""

from __future__ import annotations

import shutil
import threading
import time

import pytest

from edge_app.alerts.board import AlertBoard
from edge_app.records import Event
from edge_app.web.server import FrameHub, OperatorServer


def raised(type_="fall", stream="hall", track=3, wall=None) -> Event:
    return Event(type_, stream, track, "raised", 0.99, 12.0, wall or time.time(), {})


class PipelineThread:
    """Applies the board's queued operator actions the way the pipeline thread does, collecting the events."""

    def __init__(self, board: AlertBoard):
        self.board, self.events, self._stop = board, [], threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.is_set():
            self.events += self.board.apply_requests()
            time.sleep(0.01)

    def stop(self):
        self._stop.set()
        self._thread.join(2)


@pytest.fixture
def console():
    board = AlertBoard()
    hub = FrameHub()
    snapshot = lambda: {"sources": {"hall": {"status": "online", "reconnects": 0}},  # noqa: E731
                        "streams": {"hall": {"recent_fps": 15.0}}}
    server = OperatorServer(hub, snapshot, "127.0.0.1", 0, board=board).start()
    worker = PipelineThread(board)
    yield server, board, worker
    worker.stop()
    server.stop()


def chromium(accept_self_signed: bool = False):
    """Headless Chromium under Selenium (Debian's chromium and chromium-driver); skips the test when missing.
    ``accept_self_signed``: trust any certificate (a console on HTTPS with Vigil's self-signed one)."""
    if not (shutil.which("chromium") and shutil.which("chromedriver")):
        pytest.skip("needs Debian's chromium and chromium-driver (make setup installs them)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1400,900", "--autoplay-policy=no-user-gesture-required"):
        options.add_argument(arg)
    if accept_self_signed:
        options.accept_insecure_certs = True
    return webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
