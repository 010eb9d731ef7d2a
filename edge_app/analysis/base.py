"""The analyzer interface: each analyzer reads a track's pose series and reports events."""

from __future__ import annotations

from typing import Protocol

from edge_app.records import Event, Track


class Analyzer(Protocol):
    name: str

    def update(self, track: Track, stream: str, now: float, wall: float) -> list[Event]:
        """Called once per frame for every confirmed track seen in it; keeps its state in ``track.state[name]``."""
        ...
