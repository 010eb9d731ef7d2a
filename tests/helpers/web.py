"""Helpers of the web tests, shared by their tiers."""

from __future__ import annotations

import socket
import time
import urllib.error
import urllib.request

import cv2
import numpy as np

from edge_app.timing import FrameTiming, Metrics
from edge_app.web.server import BOUNDARY


def snapshot_of(frames: int = 5) -> dict:
    metrics = Metrics()
    t0 = time.monotonic()
    for i in range(frames):
        metrics.add("cam-1", FrameTiming(captured=t0 + i, taken=t0 + i + 0.001, pose_done=t0 + i + 0.006,
                                         pose_parts=(0.001, 0.003, 0.0005), tracked=t0 + i + 0.0062,
                                         analysed=t0 + i + 0.0063, rendered=t0 + i + 0.008))
    snap = metrics.summary({"cam-1": 2})
    snap["sources"] = {"cam-1": {"status": "online", "captured": 9, "reconnects": 1}}
    return snap


def get(url: str, token: str | None = None, timeout: float = 5.0):
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    return urllib.request.urlopen(request, timeout=timeout)


def read_mjpeg_frames(url: str, count: int, timeout: float = 10.0) -> list[np.ndarray]:
    frames = []
    with get(url, timeout=timeout) as resp:
        assert resp.headers["Content-Type"] == f"multipart/x-mixed-replace; boundary={BOUNDARY}"
        while len(frames) < count:
            assert resp.readline().strip() == f"--{BOUNDARY}".encode()
            headers = {}
            while (line := resp.readline().strip()):
                key, _, value = line.decode().partition(": ")
                headers[key] = value
            assert headers["Content-Type"] == "image/jpeg"
            data = resp.read(int(headers["Content-Length"]))
            resp.readline()
            frames.append(cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR))
    return frames


def raw_request(port: int, data: bytes, timeout: float = 5.0) -> tuple[bytes, float]:
    """Sends raw bytes, reads until the server closes the connection; returns what came back and how long it took."""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as conn:
        conn.sendall(data)
        got = b""
        while (chunk := conn.recv(4096)):
            got += chunk
    return got, time.monotonic() - started
