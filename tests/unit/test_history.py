"""The box's database (storage/db.py) and the alert history on it (alerts/history.py): kept across restarts,
searchable, bounded, a damaged file moved aside, a full database never stopping the alerts."""

from __future__ import annotations

import logging
import sqlite3

import pytest

from edge_app.alerts.board import AlertBoard, AlertState
from edge_app.alerts.bus import EventBus, MemorySink
from edge_app.alerts.history import AlertHistory, HistoryQuery
from edge_app.alerts.spool import Spool
from edge_app.errors import VigilError
from edge_app.io_faults import IO_FAULTS
from edge_app.records import Event, EventState
from edge_app.storage.db import Database
from edge_app.timing import Metrics


def fall(stream="hall", track=1, wall=1000.0, state=EventState.RAISED, kind="fall"):
    return Event(kind, stream, track, state, 0.9, wall - 900.0, wall, {})


def wired(db: Database, restored=()):
    history = AlertHistory(db)
    board = AlertBoard(on_change=history.save, restored=list(restored))
    memory = MemorySink()
    bus = EventBus(board, Metrics(), sinks=[history, memory])
    return history, board, bus, memory


def test_alerts_and_operator_actions_survive_a_restart(tmp_path):
    db = Database(tmp_path / "vigil.db")
    history, board, bus, _ = wired(db)
    raised = bus.publish(fall(), 1)
    alert_id = raised.details["alert_id"]
    board.request("ack", alert_id, "alice", timeout=None)
    bus.operator_actions()
    bus.publish(fall(stream="yard", track=2, wall=1010.0), 2)
    db.close()  # a restart (a SIGKILL is the system test's)

    db = Database(tmp_path / "vigil.db")
    history = AlertHistory(db)
    rows, total = history.page(HistoryQuery())
    assert total == 2 and [r["stream"] for r in rows] == ["yard", "hall"]  # newest first
    hall = history.get(alert_id)
    assert hall["state"] == "acknowledged" and hall["acknowledged_by"] == "alice"
    assert [e["state"] for e in history.events_of(alert_id)] == ["raised", "acknowledged"]
    # the open ones come back to the board, so nobody's unhandled alert is forgotten
    assert {a.stream for a in history.open_alerts()} == {"hall", "yard"}


def test_a_restored_alert_is_cleared_by_an_operator_not_by_a_new_track_of_the_same_number(tmp_path):
    db = Database(tmp_path / "vigil.db")
    _, _, bus, _ = wired(db)
    old_id = bus.publish(fall(track=1), 1).details["alert_id"]
    _, board, bus, _ = wired(db, AlertHistory(db).open_alerts())  # the next run
    new_id = bus.publish(fall(track=1, wall=2000.0), 1).details["alert_id"]
    bus.publish(fall(track=1, wall=2005.0, state=EventState.CLEARED), 2)  # this run's person 1 got up
    assert board.get(new_id).state == AlertState.CLEARED
    assert board.get(old_id).state == AlertState.ACTIVE  # the earlier run's person 1 is someone else
    board.request("clear", old_id, "bob", timeout=None)
    bus.operator_actions()
    assert AlertHistory(db).get(old_id)["cleared_by"] == "bob"


def test_history_filters_and_pages(tmp_path):
    db = Database(tmp_path / "vigil.db")
    _, board, bus, _ = wired(db)
    for i in range(12):
        bus.publish(fall(stream="hall" if i % 2 else "yard", track=i, wall=1000.0 + i,
                         kind="fatigue" if i % 3 == 0 else "fall"), i)
    history = AlertHistory(db)
    rows, total = history.page(HistoryQuery(stream="hall", limit=2, offset=2))
    assert total == 6 and [r["track_id"] for r in rows] == [7, 5]
    assert history.page(HistoryQuery(type="fatigue"))[1] == 4
    assert history.page(HistoryQuery(since=1005.0, until=1008.0))[1] == 3
    assert history.page(HistoryQuery(state="cleared"))[1] == 0
    assert history.streams() == ["hall", "yard"]


def test_a_damaged_database_is_moved_aside_and_a_new_one_made(tmp_path, caplog):
    path = tmp_path / "vigil.db"
    db = Database(path)
    AlertHistory(db).save(_alert())
    db.close()
    raw = bytearray(path.read_bytes())
    raw[0:100] = b"\x00garbage" * 12 + b"gone"  # the header is gone: "file is not a database"
    path.write_bytes(bytes(raw))
    with caplog.at_level(logging.WARNING):
        db = Database(path)
    assert db.moved_aside is not None and db.moved_aside.is_file()
    assert "damaged" in caplog.text and db.moved_aside.name in caplog.text
    assert AlertHistory(db).page(HistoryQuery())[1] == 0  # a fresh one that works
    AlertHistory(db).save(_alert())
    assert AlertHistory(db).page(HistoryQuery())[1] == 1


def _alert():
    board = AlertBoard()
    board.observe(fall())
    return board.alerts()[0]


def test_a_database_of_a_newer_vigil_is_refused_by_name(tmp_path):
    path = tmp_path / "vigil.db"
    Database(path).close()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    with pytest.raises(VigilError, match=r"storage.path .*vigil.db: made by a newer Vigil"):
        Database(path)


def test_a_full_database_keeps_alerts_flowing_and_saves_them_once_it_has_room(tmp_path):
    db = Database(tmp_path / "vigil.db")
    history, board, bus, memory = wired(db)
    spool = Spool(db, "mqtt")
    bus.add_sink(OutboxOnly(spool))
    pages = db.read("PRAGMA page_count")[0][0]
    db._conn.execute(f"PRAGMA max_page_count = {pages}")  # SQLite's own "database or disk is full"
    for i in range(40):
        bus.publish(fall(track=i, wall=1000.0 + i), i)
    assert len(memory.records) == 40 and len(board.alerts()) == 40  # the screen and the sinks got every alert
    assert len(spool.pending()) == 40  # and the outbox delivers them from memory
    assert IO_FAULTS.snapshot()["failing"].get("history")
    db._conn.execute("PRAGMA max_page_count = 1073741823")  # room again
    bus.publish(fall(track=99, wall=2000.0), 99)
    assert "history" not in IO_FAULTS.snapshot()["failing"]
    assert AlertHistory(db).page(HistoryQuery())[1] == 41  # what waited in memory is saved now
    assert len(Spool(db, "mqtt").pending()) == 41


class OutboxOnly(MemorySink):
    """A sink that only queues into its outbox (what MqttSink.publish does before its worker delivers)."""

    def __init__(self, spool: Spool):
        super().__init__()
        self.spool = spool

    def publish(self, record: dict) -> None:
        self.spool.put(record)


def test_prune_removes_old_and_then_oldest_cleared_alerts(tmp_path):
    db = Database(tmp_path / "vigil.db", max_days=1.0, max_mb=0.2)
    history, board, bus, _ = wired(db)
    now = 10 * 86400.0
    bus.publish(fall(track=1, wall=now - 3 * 86400), 1)  # old but still open: kept
    bus.publish(fall(track=2, wall=now - 2 * 86400), 2)
    bus.publish(fall(track=2, wall=now - 2 * 86400 + 5, state=EventState.CLEARED), 3)  # old and cleared: gone
    for i in range(3, 400):  # recent ones, cleared, enough to pass 0.2 MB with their events
        bus.publish(Event("fall", "hall", i, EventState.RAISED, 0.9, 0.0, now - 100 + i / 10,
                          {"note": "x" * 400}), i)
        bus.publish(fall(track=i, wall=now - 100 + i / 10 + 0.05, state=EventState.CLEARED), i)
    removed = db.prune(now=now)
    assert removed > 0 and db.size_mb() <= 0.2
    assert (tmp_path / "vigil.db").stat().st_size / 2**20 <= 0.25  # free pages given back (incremental vacuum)
    rows = {r["track_id"] for r in history.page(HistoryQuery(limit=500))[0]}
    assert 1 in rows and 2 not in rows and 399 in rows  # the newest kept, the oldest cleared ones gone
