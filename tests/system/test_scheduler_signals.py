"""The scheduler's wait for results takes signals (SIGTERM, SIGHUP) at any moment without hanging: CPython 3.11's
SimpleQueue.get(timeout) waited forever when a signal landed in its last microseconds, and a Vigil ignored SIGTERM
(inference/scheduler.py). The storm runs in a child process, so a hang is a clear failure, not a stuck suite."""

from __future__ import annotations

import subprocess

from support import PYTHON, REPO

CHILD = """
import os, signal, threading, time
from edge_app.inference.scheduler import AsyncScheduler
handled = []
signal.signal(signal.SIGUSR1, lambda *a: handled.append(1))
def storm():
    while True:
        os.kill(os.getpid(), signal.SIGUSR1)
        time.sleep(0.0003)
threading.Thread(target=storm, daemon=True).start()
scheduler, polls, deadline = AsyncScheduler(), 0, time.monotonic() + 10.0
while time.monotonic() < deadline:
    assert scheduler.poll(0.001) == []
    polls += 1
print(polls, len(handled))
"""


def test_polling_under_a_storm_of_signals_always_returns():
    try:
        proc = subprocess.run([PYTHON, "-c", CHILD], cwd=REPO, capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        raise AssertionError("the scheduler's poll hung under signals (10 s of polling did not end in 60 s)") from None
    assert proc.returncode == 0, proc.stderr[-2000:]
    polls, handled = map(int, proc.stdout.split())
    assert polls > 1000 and handled > 1000
