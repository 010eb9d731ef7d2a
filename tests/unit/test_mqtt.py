"""Alerts over MQTT with a real Mosquitto broker (Debian's package), started and stopped by the tests."""

from __future__ import annotations

from edge_app.alerts.spool import Spool


def test_spool_survives_a_torn_last_line(tmp_path):
    spool = Spool(tmp_path)
    spool.put({"a": 1})
    spool.put({"a": 2})
    with open(tmp_path / "outbox.jsonl", "a") as fh:
        fh.write('{"a": 3, "se')  # power cut mid-write
    again = Spool(tmp_path)
    assert [r["a"] for r in again.pending()] == [1, 2]
    again.mark_delivered(1)
    assert [r["a"] for r in Spool(tmp_path).pending()] == [2]
    assert Spool(tmp_path).put({"a": 4})["seq"] == 3


def test_the_default_client_id_is_stable_and_differs_between_cloned_boxes(monkeypatch):
    import socket
    import uuid

    from edge_app.alerts.mqtt import default_client_id

    assert default_client_id() == default_client_id() and socket.gethostname() in default_client_id()
    mine = default_client_id()
    monkeypatch.setattr(uuid, "getnode", lambda: 0x0242AC110099)  # a clone: same image, another network card
    assert default_client_id() != mine
