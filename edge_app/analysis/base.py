"""The analyzer interface: each analyzer reads a track's pose series and reports events."""

from __future__ import annotations

from typing import Protocol

from edge_app.records import Event, Track


class Analyzer(Protocol):
    name: str
    min_rate_hz: float  # below this analysis rate (frames per second) of a stream, the pipeline pauses it (0: never)

    def update(self, track: Track, stream: str, now: float, wall: float) -> list[Event]:
        """Called once per frame for every confirmed track seen in it; keeps its state in ``track.state[name]``."""
        ...
