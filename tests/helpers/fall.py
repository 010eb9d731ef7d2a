"""Helpers of the fall tests, shared by their tiers."""

from __future__ import annotations

import math
from collections import deque
from types import SimpleNamespace

import numpy as np

from edge_app.analysis.fall import FallAnalyzer

# a standing person, 170 px tall, feet at y=400 (image y down): joint -> (x, y)
STANDING = {0: (300, 240), 11: (285, 265), 12: (315, 265), 13: (280, 300), 14: (320, 300), 15: (278, 330),
            16: (322, 330), 23: (290, 330), 24: (310, 330), 25: (290, 365), 26: (310, 365), 27: (290, 400),
            28: (310, 400)}


def skeleton(angle_deg: float = 0.0, drop: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Landmarks (33, 5) and world (33, 3) of the standing pose rotated by ``angle_deg`` about the feet (90 =
    lying) and lowered by ``drop`` pixels."""
    lm = np.zeros((33, 5))
    lm[:, :2] = STANDING[0]
    for j, xy in STANDING.items():
        lm[j, :2] = xy
    pivot = np.array([300.0, 400.0])
    a = math.radians(angle_deg)
    rot = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    lm[:, :2] = (lm[:, :2] - pivot) @ rot.T + pivot + [0, drop]
    lm[:, 3:] = 1.0
    world = np.zeros((33, 3))
    world[:, :2] = (lm[:, :2] - [300, 330]) / 170.0  # metres-ish, hip-centred, y down
    return lm, world


def series(angles: list[float], fps: float = 30.0, drops: list[float] | None = None):
    drops = drops or [0.0] * len(angles)
    times = np.arange(len(angles)) / fps
    lms, worlds = zip(*(skeleton(a, d) for a, d in zip(angles, drops)))
    return times, np.stack(lms), np.stack(worlds)


class ScriptedModel:
    """A fall score given by the test (the model is tested separately): the state machine is what is tested."""
    steps = 30

    def __init__(self, score):
        self.score = score

    def __call__(self, window):
        return self.score(window)


def run(analyzer: FallAnalyzer, angles: list[float], fps: float = 30.0, track_id: int = 1, visible=None,
        stream: str = "cam", drops=None, evidence=None, analysed=None, source: str = "landmarks",
        finder_score: float = 0.0, flag: float = 1.0) -> list:
    """Feeds a scripted skeleton series through the analyzer as the pipeline does; returns the events.
    ``visible(t)``: whether the person is seen at ``t``; ``evidence(t)``: whether that pose is person evidence
    (the tracker's ``Track.evidence``; default always); ``source``: which model gave the poses ("landmarks" or
    "finder"); ``analysed(t)``: whether the frame at ``t`` reaches analysis at all (False: dropped by the stream);
    ``finder_score``: the finder's match under every pose (0: none); ``flag``: the landmark model's pose flag."""
    track = SimpleNamespace(id=track_id, history=deque(maxlen=900), evidence=True)
    events = []
    drops = drops or [0.0] * len(angles)
    for i, (angle, drop) in enumerate(zip(angles, drops)):
        t = i / fps
        if analysed is not None and not analysed(t):
            continue
        if visible is None or visible(t):
            lm, world = skeleton(angle, drop)
            track.smoothed, track.pose = lm, SimpleNamespace(world=world, body=None, source=source, score=flag,
                                                             finder_score=finder_score)
            track.evidence = True if evidence is None else evidence(t)
            xy = lm[:, :2]
            track.box = (xy[:, 0].min(), xy[:, 1].min(), xy[:, 0].max(), xy[:, 1].max())
            track.history.append((t, lm, world, 1.0))
            events += analyzer.update(track, stream, t, 1000.0 + t)
        events += analyzer.end_frame(stream, t, 1000.0 + t)
    return events
