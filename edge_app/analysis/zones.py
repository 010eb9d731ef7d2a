"""Zones: named polygons of a source's picture with a rule for the alerts raised on people inside them.

A zone is a polygon in normalised picture coordinates (x right, y down, both 0-1 of the analysed picture: after the
source's rotate, flip and crop, as the view shows it). A person is *inside* when their hip centre is (the point a
body rests on: a person lying on a bed has their hips on it even when their feet hang over; the box centre when the
hips are not seen). Each zone governs the alert types it lists (``fall`` also covers ``fall_long_lie``):

- ``exclude``: no alert of those types is raised on a person inside it (a bed, a sofa, an exercise mat);
- ``include``: alerts of those types are raised only on people inside one of the source's include zones for that
  type (fatigue only at the ``workstation``).

An alert held back by a zone is logged (info) and, like its later clear, never reaches the board or any sink; the
analyzers run as usual, so a person who falls just outside the bed is still seen. Point-in-polygon is the even-odd
ray-crossing rule (W. R. Franklin, PNPOLY).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from edge_app.records import Event, EventState, Landmark, Track
from edge_app.schema import option

log = logging.getLogger(__name__)

ZONE_ALERTS = ("fall", "fatigue")


@dataclass(frozen=True)
class ZoneConfig:
    """One entry of the config's ``zones`` list."""

    source: str = option(doc="the source (stream) name the zone belongs to")
    name: str = option(doc="the zone's name, shown on the view and in logs (e.g. bed)")
    rule: Literal["include", "exclude"] = option(
        "exclude", "exclude: no alert of these types on a person whose hips are inside; include: such alerts only "
                   "inside (one of) the source's include zones")
    alerts: list[Literal["fall", "fatigue"]] = option(factory=lambda: list(ZONE_ALERTS),
                                                      doc="alert types the rule governs (fall covers fall_long_lie)")
    polygon: list[tuple[float, float]] = option(factory=list, doc="[[x, y], ...] corners, 0-1 of the picture's "
                                                                  "width and height, at least 3")

    def validate(self) -> None:
        if not self.name or not self.name.replace("_", "").replace("-", "").replace(" ", "").isalnum():
            raise ValueError(f"name {self.name!r}: use letters, digits, spaces, - and _")
        if len(self.polygon) < 3:
            raise ValueError(f"polygon: a zone needs at least 3 corners, got {len(self.polygon)}")
        for i, (x, y) in enumerate(self.polygon):
            if not (0.0 <= x <= 1.0 and 0.0 <= y <= 1.0):
                raise ValueError(f"polygon[{i}]: [{x}, {y}] is outside the picture (coordinates are 0-1)")
        if polygon_area(self.polygon) < 1e-4:
            raise ValueError("polygon: the corners enclose no area (all on a line?)")
        if not self.alerts:
            raise ValueError("alerts: name at least one alert type (fall, fatigue)")


def polygon_area(polygon: list[tuple[float, float]]) -> float:
    """Area of a simple polygon (shoelace formula), in the square of its coordinates' unit."""
    pts = np.asarray(polygon, dtype=float)
    x, y = pts[:, 0], pts[:, 1]
    return 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


def inside(x: float, y: float, polygon: list[tuple[float, float]]) -> bool:
    """Whether point (x, y) lies inside ``polygon`` (even-odd rule, PNPOLY); same coordinates for both."""
    result = False
    n = len(polygon)
    for i in range(n):
        xi, yi = polygon[i]
        xj, yj = polygon[i - 1]
        if (yi > y) != (yj > y) and x < (xj - xi) * (y - yi) / (yj - yi) + xi:
            result = not result
    return result


def anchor(track: Track, min_visibility: float = 0.5) -> tuple[float, float]:
    """The point (pixels) that places a person in a zone: the hip centre when a hip is seen, else the box centre."""
    lm = track.smoothed
    hips = [h for h in (Landmark.LEFT_HIP, Landmark.RIGHT_HIP) if lm[h, 3] >= min_visibility]
    if hips:
        return float(lm[hips, 0].mean()), float(lm[hips, 1].mean())
    x0, y0, x1, y1 = track.box
    return (x0 + x1) / 2, (y0 + y1) / 2


def family(event_type: str) -> str:
    """The alert type a zone rule names for an event type (``fall_long_lie`` -> ``fall``)."""
    return event_type.split("_", 1)[0]


@dataclass
class ZoneGate:
    """One stream's zones: :meth:`observe` every frame's tracks, then :meth:`admit` the frame's events.

    ``where`` keeps each track's last anchor (normalised), so an alert on a person no longer seen (lost mid-fall)
    is placed where they were last."""

    zones: list[ZoneConfig]
    where: dict[int, tuple[float, float]] = field(default_factory=dict)
    held: set[tuple[str, int]] = field(default_factory=set)  # (type, track) raised inside an exclude zone

    def observe(self, tracks: list[Track], width: int, height: int) -> None:
        """Record where each track's person is (``width`` x ``height``: the analysed picture, pixels)."""
        for track in tracks:
            x, y = anchor(track)
            self.where[track.id] = (x / max(width, 1), y / max(height, 1))
        if len(self.where) > 1000:  # tracks long gone: keep the newest ids
            for key in sorted(self.where)[:-500]:
                del self.where[key]

    def zone_for(self, event: Event) -> tuple[bool, str]:
        """(admitted, reason): whether ``event`` may be published under this stream's zones, and which zone says
        so ("" when none applies)."""
        kind = family(event.type)
        point = self.where.get(event.track_id) if event.track_id is not None else None
        if kind not in ZONE_ALERTS or point is None:
            return True, ""
        ruled = [z for z in self.zones if kind in z.alerts]
        for z in ruled:
            if z.rule == "exclude" and inside(*point, z.polygon):
                return False, f"inside exclude zone {z.name!r}"
        includes = [z for z in ruled if z.rule == "include"]
        if includes:
            hit = next((z for z in includes if inside(*point, z.polygon)), None)
            if hit is None:
                return False, f"outside include zone{'s' if len(includes) > 1 else ''} " + ", ".join(
                    repr(z.name) for z in includes)
            return True, hit.name
        return True, ""

    def admit(self, events: list[Event]) -> list[Event]:
        """The events that may be published: a raise inside an exclude zone (or outside every include zone) is held
        back and logged, and so is every later event of that alert (its clear, a long-lie escalation)."""
        kept = []
        for event in events:
            key = (family(event.type), event.track_id)
            if event.state == EventState.RAISED and event.type == family(event.type):
                ok, reason = self.zone_for(event)
                if not ok:
                    self.held.add(key)
                    log.info("stream %s: %s on track %s not raised: %s", event.stream, event.type, event.track_id,
                             reason)
                    continue
                self.held.discard(key)
            elif key in self.held:
                if event.state == EventState.CLEARED and event.type == family(event.type):
                    self.held.discard(key)
                continue
            kept.append(event)
        return kept
