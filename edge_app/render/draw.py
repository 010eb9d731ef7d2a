"""Drawing poses onto frames (pure functions on numpy images)."""

from __future__ import annotations

import cv2
import numpy as np

from edge_app.alerts.board import severity
from edge_app.analysis.zones import ZoneConfig
from edge_app.records import Event, Pose, Track

# BlazePose connections drawn for the skeleton (face detail left out).
SKELETON = (
    (11, 12), (11, 13), (13, 15), (12, 14), (14, 16), (11, 23), (12, 24), (23, 24), (23, 25), (25, 27), (27, 29),
    (29, 31), (27, 31), (24, 26), (26, 28), (28, 30), (30, 32), (28, 32), (0, 11), (0, 12),
)
LEFT, RIGHT, CENTRE = (255, 160, 0), (0, 160, 255), (230, 230, 230)


def draw_pose(image: np.ndarray, pose: Pose, label: str = "", min_visibility: float = 0.3) -> None:
    draw_skeleton(image, pose.landmarks, pose.box, label, min_visibility)


# Alert colours (BGR) by severity; an acknowledged alert turns slate blue, so the room sees someone is on it.
SEVERITY_COLOURS = {"critical": (0, 0, 255), "warning": (0, 165, 255)}
ACKNOWLEDGED = (140, 111, 90)
ALERT = SEVERITY_COLOURS["critical"]


def alert_colour(severity: str, acknowledged: bool) -> tuple[int, int, int]:
    return ACKNOWLEDGED if acknowledged else SEVERITY_COLOURS.get(severity, SEVERITY_COLOURS["warning"])


def draw_label(image: np.ndarray, text: str, org: tuple[int, int], colour: tuple[int, int, int],
               scale: float = 0.5) -> None:
    """``text`` with its baseline's left end at ``org`` (pixels), on a black box so it reads on any picture: a thin
    anti-aliased stroke on a filled box costs about a tenth of an outlined anti-aliased one (measured 0.04 against
    0.33 ms a line), and the render stage draws several lines on every frame of every stream."""
    (w, h), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
    x, y = org
    cv2.rectangle(image, (x - 2, y - h - 3), (x + w + 2, y + base), (0, 0, 0), -1)
    cv2.putText(image, text, (x, y), cv2.FONT_HERSHEY_SIMPLEX, scale, colour, 1, cv2.LINE_AA)


def draw_skeleton(image: np.ndarray, lm: np.ndarray, box: tuple[float, float, float, float], label: str = "",
                  min_visibility: float = 0.3, highlight: tuple[int, int, int] | None = None) -> None:
    """A person's skeleton and label; ``highlight`` (an alert's colour) adds a box of that colour around them."""
    pts = np.round(lm[:, :2]).astype(int)
    if highlight is not None:
        x0, y0, x1, y1 = (int(round(v)) for v in box)
        cv2.rectangle(image, (x0 - 4, y0 - 4), (x1 + 4, y1 + 4), highlight, 3, cv2.LINE_AA)
    seen = lm[:, 3] >= min_visibility
    for a, b in SKELETON:
        if seen[a] and seen[b]:
            colour = LEFT if a % 2 and b % 2 else RIGHT if not a % 2 and not b % 2 else CENTRE
            cv2.line(image, tuple(pts[a]), tuple(pts[b]), colour, 2, cv2.LINE_AA)
    for i in np.nonzero(seen)[0]:
        cv2.circle(image, tuple(pts[i]), 3, (255, 255, 255), -1, cv2.LINE_AA)
    if label:
        x0, y0 = int(box[0]), max(12, int(box[1]) - 6)
        draw_label(image, label, (x0, y0), (255, 255, 255))


def draw_banner(image: np.ndarray, text: str, colour: tuple[int, int, int] = ALERT) -> int:
    """An alert banner across the top of the frame, in the alert's colour (the top: a fallen person usually lies in
    the bottom of the picture). Returns its height."""
    h, w = image.shape[:2]
    band = max(28, h // 12)
    top = image[:band]
    cv2.addWeighted(top, 0.35, np.full_like(top, colour), 0.65, 0, dst=top)
    scale = band / 40
    cv2.putText(image, text, (10, band - band // 3), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 2,
                cv2.LINE_AA)
    return band


ZONE_COLOURS = {"exclude": (200, 200, 200), "include": (80, 200, 80)}  # BGR: grey (ignored), green (watched)


def draw_zones(image: np.ndarray, zones: tuple[ZoneConfig, ...] | list[ZoneConfig]) -> None:
    """A stream's zones on its picture: each polygon (normalised corners scaled to the image) outlined and lightly
    tinted in its rule's colour, labelled with its name, rule and the alerts it governs."""
    if not zones:
        return
    h, w = image.shape[:2]
    tint = image.copy()
    outlines = []
    for zone in zones:
        pts = np.round(np.asarray(zone.polygon, dtype=float) * (w - 1, h - 1)).astype(np.int32)
        colour = ZONE_COLOURS[zone.rule]
        cv2.fillPoly(tint, [pts], colour)
        outlines.append((pts, colour, zone))
    cv2.addWeighted(tint, 0.18, image, 0.82, 0, dst=image)
    for pts, colour, zone in outlines:
        cv2.polylines(image, [pts], True, colour, 2, cv2.LINE_AA)
        x, y = int(pts[:, 0].min()) + 4, int(pts[:, 1].min()) + 16
        label = f"{zone.name} ({zone.rule} {'+'.join(zone.alerts)})"
        draw_label(image, label, (x, y), colour, 0.45)


def draw_hud(image: np.ndarray, lines: list[str], top: int = 0) -> None:
    """Status lines in the top left corner, below ``top`` (the alert banner's height)."""
    y = top + 18
    for text in lines:
        draw_label(image, text, (8, y), (0, 255, 0))
        y += 18


def mosaic(canvases: list[np.ndarray], tile_width: int = 640) -> np.ndarray:
    """Several streams side by side on a grid (each scaled to ``tile_width``); one stream is returned as is."""
    if len(canvases) == 1:
        return canvases[0]
    tiles = []
    for c in canvases:
        h = int(round(c.shape[0] * tile_width / c.shape[1]))
        tiles.append(cv2.resize(c, (tile_width, h)))
    tile_h = max(t.shape[0] for t in tiles)
    cols = int(np.ceil(np.sqrt(len(tiles))))
    rows = int(np.ceil(len(tiles) / cols))
    out = np.zeros((rows * tile_h, cols * tile_width, 3), np.uint8)
    for i, t in enumerate(tiles):
        r, c = divmod(i, cols)
        out[r * tile_h:r * tile_h + t.shape[0], c * tile_width:(c + 1) * tile_width] = t
    return out


def annotate_alert(image: np.ndarray, event: Event, track: Track | None) -> np.ndarray:
    """A copy of ``image`` (BGR) marked for an alert's snapshot: the person's skeleton and box in the alert's
    severity colour (when ``track`` is given) and a banner naming the alert."""
    marked = image.copy()
    colour = alert_colour(severity(event.type), False)
    if track is not None:
        draw_skeleton(marked, track.smoothed, track.box, f"#{track.id} {event.type.upper()}", highlight=colour)
    draw_banner(marked, f"{event.type.upper()} #{event.track_id}", colour)
    return marked
