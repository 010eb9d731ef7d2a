"""The alert history on the box's database: every alert (as the board last saw it) and every event record
(alerts raised and cleared, operators' acknowledgements, information), searchable by stream, type, state and time.

Written from the pipeline thread only (the board's changes, :meth:`AlertHistory.save`, and the event bus's records,
:meth:`AlertHistory.publish`, in that order for each event); read from any thread (the console's history view). A
write the disk refuses is kept in memory (bounded) and written with the next one that works.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

from edge_app.alerts.board import Alert, AlertState
from edge_app.alerts.sink import SinkBase
from edge_app.storage.db import Database

log = logging.getLogger(__name__)

ALERT_COLUMNS = ("id", "stream", "type", "severity", "track_id", "score", "raised_wall", "media_time", "state",
                 "acknowledged_by", "acknowledged_wall", "cleared_by", "cleared_wall", "snapshot", "clip")
MAX_UNSAVED = 10_000  # statements kept in memory while the disk refuses them (the oldest dropped beyond)


@dataclass(frozen=True)
class HistoryQuery:
    """A page of the alert history: filters (None: any) and paging. Times are Unix seconds; ``limit`` 1-500."""

    stream: str | None = None
    type: str | None = None
    state: str | None = None
    since: float | None = None
    until: float | None = None
    limit: int = 50
    offset: int = 0

    def where(self) -> tuple[str, tuple]:
        """The SQL condition and its parameters."""
        terms, params = [], []
        for column, value in (("stream", self.stream), ("type", self.type), ("state", self.state)):
            if value is not None:
                terms.append(f"{column} = ?")
                params.append(value)
        if self.since is not None:
            terms.append("raised_wall >= ?")
            params.append(self.since)
        if self.until is not None:
            terms.append("raised_wall < ?")
            params.append(self.until)
        return (" WHERE " + " AND ".join(terms)) if terms else "", tuple(params)


def alert_from_row(row) -> Alert:
    """An :class:`Alert` from an ``alerts`` row."""
    values = {c: row[c] for c in ALERT_COLUMNS if c != "clip"}
    values["state"] = AlertState(values["state"])
    return Alert(**values)


class AlertHistory(SinkBase):
    """The history on ``db`` (see the module docstring). Also an alert sink: every published event record is kept
    (``publish``). ``instance`` names this run (alerts it raised carry it)."""

    name = "history"

    def __init__(self, db: Database, instance: str = ""):
        self.db, self.instance = db, instance
        self._unsaved: list[tuple[str, tuple]] = []

    def _write(self, statement: tuple[str, tuple]) -> None:
        batch = self._unsaved + [statement]
        if self.db.write(batch, "alerts are still shown and sent, but not kept in the history until the disk "
                                "works again"):
            self._unsaved = []
        else:
            self._unsaved = batch[-MAX_UNSAVED:]

    # --- the pipeline thread -----------------------------------------------------------------------------------
    def save(self, alert: Alert) -> None:
        """Insert or update ``alert`` (called by the board on every change); its clip is the snapshot's ``.mp4``."""
        clip = alert.snapshot[:-4] + ".mp4" if alert.snapshot and alert.snapshot.endswith(".jpg") else None
        values = [getattr(alert, c) for c in ALERT_COLUMNS if c != "clip"] + [clip, self.instance]
        values[ALERT_COLUMNS.index("state")] = str(alert.state)
        marks = ",".join("?" * len(values))
        self._write((f"INSERT INTO alerts ({', '.join(ALERT_COLUMNS)}, instance) VALUES ({marks}) "
                     f"ON CONFLICT (id) DO UPDATE SET "
                     + ", ".join(f"{c} = excluded.{c}" for c in ALERT_COLUMNS[1:]), tuple(values)))

    def publish(self, record: dict) -> None:
        """Keep one event record (the `--events` JSON object)."""
        alert_id = record.get("details", {}).get("alert_id")
        self._write(("INSERT INTO events (wall, stream, type, state, alert_id, record) VALUES (?, ?, ?, ?, ?, ?)",
                     (record["wall"], record["stream"], record["type"], str(record["state"]), alert_id,
                      json.dumps(record))))

    # --- any thread --------------------------------------------------------------------------------------------
    def open_alerts(self) -> list[Alert]:
        """Alerts not yet cleared (of any earlier run), oldest first: the board takes them back at start, so an
        alert nobody handled is not forgotten by a restart."""
        rows = self.db.read(f"SELECT {', '.join(ALERT_COLUMNS)} FROM alerts WHERE state != 'cleared' "
                            "ORDER BY raised_wall")
        return [alert_from_row(r) for r in rows]

    def page(self, query: HistoryQuery) -> tuple[list[dict], int]:
        """One page of alerts, newest first, as dicts (with ``clip``), and how many match in all."""
        where, params = query.where()
        total = self.db.read(f"SELECT COUNT(*) AS n FROM alerts{where}", params)
        rows = self.db.read(f"SELECT {', '.join(ALERT_COLUMNS)} FROM alerts{where} ORDER BY raised_wall DESC, id "
                            f"LIMIT ? OFFSET ?", (*params, query.limit, query.offset))
        return [dict(r) for r in rows], (total[0]["n"] if total else 0)

    def get(self, alert_id: str) -> dict | None:
        """One alert as a dict (with ``clip``), or None."""
        rows = self.db.read(f"SELECT {', '.join(ALERT_COLUMNS)} FROM alerts WHERE id = ?", (alert_id,))
        return dict(rows[0]) if rows else None

    def events_of(self, alert_id: str) -> list[dict]:
        """The event records of one alert (raised, acknowledged, cleared), oldest first."""
        rows = self.db.read("SELECT record FROM events WHERE alert_id = ? ORDER BY id", (alert_id,))
        return [json.loads(r["record"]) for r in rows]

    def recent(self, event_type: str, limit: int = 10) -> list[dict]:
        """The newest event records of one type (``exercise_rep``), newest first."""
        rows = self.db.read("SELECT record FROM events WHERE type = ? ORDER BY id DESC LIMIT ?", (event_type, limit))
        return [json.loads(r["record"]) for r in rows]

    def streams(self) -> list[str]:
        """Every stream that has alerts in the history (for the console's filter)."""
        return [r["stream"] for r in self.db.read("SELECT DISTINCT stream FROM alerts ORDER BY stream")]
