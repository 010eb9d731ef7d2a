"""Alerts over MQTT with a real Mosquitto broker (Debian's package), started and stopped by the tests."""

from __future__ import annotations

import json

from edge_app.alerts.spool import Spool


def test_an_old_json_lines_outbox_is_imported_once_without_its_torn_line(tmp_path):
    # an earlier version's outbox: two events confirmed-less, a line cut by a power cut, nothing delivered
    lines = [json.dumps({"a": 1, "seq": 1}), json.dumps({"a": 2, "seq": 2}), '{"a": 3, "se']
    (tmp_path / "outbox.jsonl").write_text("\n".join(lines))
    (tmp_path / "delivered").write_text("0")
    spool = Spool.in_folder(tmp_path)
    assert [r["a"] for r in spool.pending()] == [1, 2]
    assert not (tmp_path / "outbox.jsonl").exists() and (tmp_path / "outbox.jsonl.imported").is_file()
    again = Spool.in_folder(tmp_path)  # the next start reads them from the database, not the old file again
    assert [r["a"] for r in again.pending()] == [1, 2]
    again.mark_delivered(again.pending()[0]["seq"])
    assert [r["a"] for r in Spool.in_folder(tmp_path).pending()] == [2]
    assert Spool.in_folder(tmp_path).put({"a": 4})["seq"] == 3


def test_two_sinks_share_one_database_without_mixing_their_outboxes(tmp_path):
    from edge_app.storage.db import Database

    db = Database(tmp_path / "vigil.db")
    mqtt, hook = Spool(db, "mqtt"), Spool(db, "webhook")
    mqtt.put({"n": 1})
    hook.put({"n": 2})
    hook.put({"n": 3})
    mqtt.mark_delivered(1)
    db.close()
    db = Database(tmp_path / "vigil.db")
    assert Spool(db, "mqtt").pending() == []
    assert [r["n"] for r in Spool(db, "webhook").pending()] == [2, 3]


def test_the_default_client_id_is_stable_and_differs_between_cloned_boxes(monkeypatch):
    import socket
    import uuid

    from edge_app.alerts.mqtt import default_client_id

    assert default_client_id() == default_client_id() and socket.gethostname() in default_client_id()
    mine = default_client_id()
    monkeypatch.setattr(uuid, "getnode", lambda: 0x0242AC110099)  # a clone: same image, another network card
    assert default_client_id() != mine
