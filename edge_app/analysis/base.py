"""The analyzer interface: each analyzer reads a track's pose series and reports events."""

from __future__ import annotations

from typing import Protocol

from edge_app.records import Event, Track


class Analyzer(Protocol):
    name: str
    min_rate_hz: float  # below this analysis rate (frames per second) of a stream, the pipeline pauses it (0: never)

    def update(self, track: Track, stream: str, now: float, wall: float) -> list[Event]:
        """Called once per frame for every confirmed track seen in it. State that belongs to one person lives in
        ``track.state[name]``; state that must outlive a track (a person lost and found again under a new id, the
        fall analyzer's) lives in the analyzer, keyed by stream and track id."""
        ...

    def end_frame(self, stream: str, now: float, wall: float) -> list[Event]:
        """Called once per frame of ``stream`` after every track's update: what depends on who was not seen (a
        person lost mid-fall), and events that need the whole frame (one alert per fall across tracks)."""
        ...

    def retune(self, new: Analyzer) -> bool:
        """Take the settings of ``new`` (an analyzer built from a reloaded config) and keep this one's state, so
        people being watched are not started afresh. False when it cannot (``new`` is of another kind or reads
        another model): ``new`` then replaces it."""
        ...
