"""Webhook alerts against a real local HTTP receiver that is down, then fails, then accepts."""

from __future__ import annotations

import json

from edge_app.alerts.spool import Spool
from edge_app.alerts.webhook import redacted


def test_url_credentials_are_not_shown():
    assert redacted("https://user:secret@hooks.example:8443/v1/vigil?k=s") == "https://hooks.example:8443/v1/vigil"


def test_event_log_rotates_without_losing_a_line(tmp_path):
    from edge_app.alerts.bus import EventLog, event_record
    from edge_app.records import Event

    path = tmp_path / "events.jsonl"
    log = EventLog(path, max_bytes=2000, backups=50)
    for i in range(100):
        log.publish(event_record(Event("posture", "cam", 1, "info", 1.0, float(i), 0.0, {"n": i}), i))
    log.close()
    files = sorted(tmp_path.glob("events.jsonl.*"), key=lambda p: -int(p.suffix[1:])) + [path]
    assert len(files) > 3 and all(f.stat().st_size < 2000 + 300 for f in files)
    numbers = [json.loads(line)["frame"] for f in files for line in f.read_text().splitlines()]
    assert numbers == list(range(100))  # oldest file first, every event once, in order


def test_event_log_keeps_only_the_configured_backups(tmp_path):
    from edge_app.alerts.bus import EventLog, event_record
    from edge_app.records import Event

    log = EventLog(tmp_path / "e.jsonl", max_bytes=500, backups=2)
    for i in range(60):
        log.publish(event_record(Event("posture", "cam", 1, "info", 1.0, float(i), 0.0, {}), i))
    log.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["e.jsonl", "e.jsonl.1", "e.jsonl.2"]


def test_out_of_order_delivery_survives_a_restart(tmp_path):
    spool = Spool.in_folder(tmp_path / "s")
    records = [spool.put({"n": i}) for i in range(5)]
    spool.mark_delivered(records[3]["seq"])
    spool.mark_delivered(records[1]["seq"])
    again = Spool.in_folder(tmp_path / "s")
    assert [r["n"] for r in again.pending()] == [0, 2, 4]
    for r in again.pending():
        again.mark_delivered(r["seq"])
    assert Spool.in_folder(tmp_path / "s").pending() == []


def test_every_sink_is_a_context_manager_that_closes(tmp_path):
    from edge_app.alerts.bus import EventLog, MemorySink, event_record
    from edge_app.records import Event

    record = event_record(Event("fall", "cam", 1, "raised", 0.9, 1.0, 0.0, {}), 3)
    with EventLog(tmp_path / "events.jsonl") as log:
        log.publish(record)
    assert log._fh is None  # closed on leaving the block
    assert json.loads((tmp_path / "events.jsonl").read_text()) == record
    with MemorySink() as memory:
        memory.publish(record)
    assert memory.records == [record]
