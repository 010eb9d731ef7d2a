"""Helpers of the console tests, shared by their tiers."""

from __future__ import annotations

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
