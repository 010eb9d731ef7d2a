"""Zones (issue 18): point in polygon, the gate that holds back alerts by zone rule, drawing, and the config file
edit the console's zone editor makes (validated first, backup kept, comments kept)."""

from __future__ import annotations

import numpy as np
import pytest

from edge_app.analysis.zones import ZoneConfig, ZoneGate, inside
from edge_app.config import load_config
from edge_app.config_edit import save_zones
from edge_app.errors import ConfigError
from edge_app.records import Event, EventState, Pose, RotatedRect, Track

BED = ZoneConfig(source="ward", name="bed", rule="exclude", polygon=[(0.0, 0.5), (0.5, 0.5), (0.5, 1.0), (0.0, 1.0)])
DESK = ZoneConfig(source="ward", name="desk", rule="include", alerts=["fatigue"],
                  polygon=[(0.5, 0.0), (1.0, 0.0), (1.0, 0.5), (0.5, 0.5)])


def person(track_id: int, hip_x: float, hip_y: float, hips_seen: bool = True) -> Track:
    lm = np.zeros((33, 5))
    lm[:, 3:] = 1.0 if hips_seen else 0.0
    lm[:, 0], lm[:, 1] = hip_x, hip_y
    box = (hip_x - 50, hip_y - 150, hip_x + 50, hip_y + 100)
    roi = RotatedRect(hip_x, hip_y, 200, 200)
    pose = Pose(landmarks=lm, world=np.zeros((33, 3)), score=1.0, roi=roi, next_roi=roi, box=box)
    return Track(id=track_id, pose=pose, smoothed=lm, first_seen=0.0, last_seen=0.0)


def event(type_: str, track_id: int, state: EventState = EventState.RAISED) -> Event:
    return Event(type_, "ward", track_id, state, 0.99, 1.0, 1.0, {})


def test_point_in_polygon_even_odd():
    square = [(0.2, 0.2), (0.8, 0.2), (0.8, 0.8), (0.2, 0.8)]
    assert inside(0.5, 0.5, square) and not inside(0.1, 0.5, square) and not inside(0.5, 0.9, square)
    concave = [(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.5, 0.3), (0.0, 1.0)]  # a notch cut from the bottom
    assert inside(0.5, 0.1, concave) and not inside(0.5, 0.6, concave)


def test_an_exclude_zone_holds_back_a_fall_and_its_clear_but_not_one_outside():
    gate = ZoneGate([BED])
    gate.observe([person(1, 100, 400), person(2, 500, 400)], 640, 480)  # 1 lies on the bed, 2 beside it
    kept = gate.admit([event("fall", 1), event("fall", 2), event("posture", 1, EventState.INFO)])
    assert [(e.type, e.track_id) for e in kept] == [("fall", 2), ("posture", 1)]
    # the held alert's later events never reach anyone: a clear, a long-lie escalation
    assert gate.admit([event("fall_long_lie", 1), event("fall", 1, EventState.CLEARED)]) == []
    assert gate.admit([event("fall", 2, EventState.CLEARED)])[0].track_id == 2


def test_an_include_zone_admits_only_inside_and_only_for_its_alert_types():
    gate = ZoneGate([DESK])
    gate.observe([person(1, 500, 100), person(2, 100, 100)], 640, 480)  # 1 at the desk, 2 away from it
    kept = gate.admit([event("fatigue", 1), event("fatigue", 2), event("fall", 2)])
    assert [(e.type, e.track_id) for e in kept] == [("fatigue", 1), ("fall", 2)]  # falls are not the desk's


def test_a_person_lost_mid_fall_is_placed_where_last_seen_and_the_box_centre_stands_in_for_unseen_hips():
    gate = ZoneGate([BED])
    gate.observe([person(1, 100, 400, hips_seen=False)], 640, 480)  # box centre (100, 375): on the bed
    gate.observe([], 640, 480)  # then unseen
    assert gate.admit([event("fall", 1)]) == []
    assert gate.admit([event("fall", 9)])[0].track_id == 9  # nowhere known: never held back


@pytest.mark.parametrize("polygon,message", [
    ([(0.1, 0.1), (0.5, 0.5)], "at least 3 corners"),
    ([(0.1, 0.1), (1.2, 0.5), (0.3, 0.9)], "outside the picture"),
    ([(0.1, 0.1), (0.2, 0.2), (0.3, 0.3)], "no area"),
])
def test_bad_polygons_are_refused(polygon, message):
    with pytest.raises(ValueError, match=message):
        ZoneConfig(source="ward", name="bed", polygon=polygon).validate()


CONFIG = """# the ward camera
sources:
  - name: ward   # by the window
    uri: ward.mp4
zones:
  - {source: hall, name: mat, rule: exclude, polygon: [[0.1, 0.1], [0.5, 0.1], [0.5, 0.5]]}
"""


def test_the_zone_editor_writes_a_validated_file_keeps_a_backup_and_the_comments(tmp_path):
    path = tmp_path / "vigil.yaml"
    path.write_text(CONFIG.replace("source: hall", "source: ward"))
    before = path.read_text()
    backup = save_zones(path, "ward", [{"name": "bed", "rule": "exclude", "alerts": ["fall"],
                                        "polygon": [[0.1, 0.5], [0.45, 0.5], [0.45, 0.95], [0.1, 0.95]]}],
                        check=load_config)
    assert backup.read_text() == before
    text = path.read_text()
    assert "# the ward camera" in text and "# by the window" in text  # the user's comments stay
    zones = load_config(path).zones
    assert [(z.name, z.rule, z.alerts) for z in zones] == [("bed", "exclude", ["fall"])]  # mat replaced (ward's)
    assert zones[0].polygon[2] == (0.45, 0.95)


def test_a_bad_zone_edit_is_refused_and_nothing_is_written(tmp_path):
    path = tmp_path / "vigil.yaml"
    path.write_text(CONFIG.replace("source: hall", "source: ward"))
    before = path.read_text()
    with pytest.raises(ConfigError, match=r"vigil.yaml: zones\[0\]: polygon: a zone needs at least 3 corners"):
        save_zones(path, "ward", [{"name": "bed", "polygon": [[0.1, 0.5], [0.4, 0.5]]}], check=load_config)
    with pytest.raises(ConfigError, match=r"zones\[0\]\.rule"):
        save_zones(path, "ward", [{"name": "bed", "rule": "mute", "polygon": [[0, 0], [1, 0], [1, 1]]}],
                   check=load_config)
    assert path.read_text() == before and not (tmp_path / "vigil.yaml.bak").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["vigil.yaml"]  # no candidate file left behind


def test_zones_are_drawn_where_they_are():
    from edge_app.render.draw import draw_zones

    image = np.zeros((200, 400, 3), np.uint8)
    draw_zones(image, [BED])
    assert image[150:, :200].any() and not image[:90, 210:].any()  # the bottom-left quarter, nothing top right
