"""The alert board: every alert the analyzers raised, its severity, and what operators did about it.

It is the one place that knows whether an alert is active, acknowledged or cleared. The pipeline thread writes it
(:meth:`AlertBoard.observe` for analyzer events, :meth:`AlertBoard.apply_requests` for operator actions); the
render thread, the on-screen window and the browser console read copies of it.

Operator actions (acknowledge, clear) arrive from other threads (the console's HTTP handlers, the window's
keyboard). They are queued and applied by the pipeline thread, which turns each into an event (state
``acknowledged`` or ``cleared``, with ``details.by``) that goes to every sink like any other: the event log, MQTT,
the webhook. So an acknowledgement is logged and published exactly once, in order with the alerts themselves.
"""

from __future__ import annotations

import dataclasses
import itertools
import queue
import re
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

from edge_app.records import Event

# How urgent each alert type is: the on-screen colour and the console's ordering follow it.
SEVERITY = {"fall": "critical", "fall_long_lie": "critical", "fatigue": "warning"}
SEVERITY_RANK = {"critical": 0, "warning": 1, "info": 2}
ACTIONS = ("ack", "clear")
ALL = "*"  # an alert id that means every alert not yet acknowledged (the window's acknowledge key)


def severity(alert_type: str) -> str:
    return SEVERITY.get(alert_type, "warning")


def clean_name(text: object, limit: int = 40) -> str:
    """An operator's name as given to the console: printable, short, never empty."""
    name = re.sub(r"[^\w .@-]", "", str(text or ""))[:limit].strip()
    return name or "operator"


@dataclass
class Alert:
    id: str
    stream: str
    type: str
    track_id: int
    severity: str
    score: float
    raised_wall: float
    media_time: float
    state: str = "active"  # active | acknowledged | cleared
    acknowledged_by: str | None = None
    acknowledged_wall: float | None = None
    cleared_by: str | None = None  # "analysis" when the analyzer cleared it, else the operator's name
    cleared_wall: float | None = None
    snapshot: str | None = None  # evidence file, when evidence is on

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Request:
    action: str
    alert_id: str
    by: str
    via: str
    done: threading.Event
    result: list  # filled by the pipeline thread: [Alert | None]


class AlertBoard:
    """Alerts of every stream, newest last; keeps the ``keep`` most recent (active ones are never dropped)."""

    def __init__(self, keep: int = 200):
        self.keep = keep
        self._lock = threading.Lock()
        self._alerts: OrderedDict[str, Alert] = OrderedDict()
        self._thumbnails: dict[str, bytes] = {}
        self._requests: queue.Queue[Request] = queue.Queue()
        self._ids = itertools.count(1)
        self._prefix = f"{int(time.time()):x}"  # ids stay unique across restarts of the app

    # --- the pipeline thread -----------------------------------------------------------------------------------
    def observe(self, event: Event) -> None:
        """An analyzer's event: a raised alert joins the board (its id is added to ``event.details``), a cleared
        one leaves the active set. Informational events are ignored."""
        if event.state == "raised":
            alert = Alert(f"{self._prefix}-{next(self._ids)}", event.stream, event.type, event.track_id,
                          severity(event.type), event.score, event.wall_time, event.media_time,
                          snapshot=event.details.get("snapshot"))
            event.details["alert_id"] = alert.id
            with self._lock:
                self._alerts[alert.id] = alert
                self._trim()
        elif event.state == "cleared":
            types = {event.type, "fall_long_lie"} if event.type == "fall" else {event.type}
            with self._lock:
                for alert in self._alerts.values():
                    if (alert.stream, alert.track_id) == (event.stream, event.track_id) and alert.type in types \
                            and alert.state != "cleared":
                        alert.state, alert.cleared_by, alert.cleared_wall = "cleared", "analysis", event.wall_time
                        if alert.type == event.type:
                            event.details.setdefault("alert_id", alert.id)

    def apply_requests(self) -> list[Event]:
        """Apply the operators' queued actions; returns the events they make (one per alert changed)."""
        events = []
        while True:
            try:
                req = self._requests.get_nowait()
            except queue.Empty:
                return events
            changed = []
            with self._lock:
                targets = ([a for a in self._alerts.values() if a.state == "active"] if req.alert_id == ALL
                           else [self._alerts[req.alert_id]] if req.alert_id in self._alerts else [])
                now = time.time()
                for alert in targets:
                    if req.action == "ack" and alert.state == "active":
                        alert.state, alert.acknowledged_by, alert.acknowledged_wall = "acknowledged", req.by, now
                    elif req.action == "clear" and alert.state != "cleared":
                        alert.state, alert.cleared_by, alert.cleared_wall = "cleared", req.by, now
                    else:
                        continue
                    changed.append(dataclasses.replace(alert))
                req.result.append(dataclasses.replace(targets[0]) if targets else None)
            for alert in changed:
                state = "acknowledged" if req.action == "ack" else "cleared"
                events.append(Event(alert.type, alert.stream, alert.track_id, state, alert.score, alert.media_time,
                                    now, {"alert_id": alert.id, "by": req.by, "via": req.via}))
            req.done.set()

    # --- any thread --------------------------------------------------------------------------------------------
    def request(self, action: str, alert_id: str, by: str = "operator", via: str = "console",
                timeout: float | None = 2.0) -> Alert | None:
        """Ask for an action; with a ``timeout``, wait until the pipeline applied it and return the alert's new
        state (None: no such alert). Raises TimeoutError when the pipeline did not answer in time, ValueError for
        an unknown action."""
        if action not in ACTIONS:
            raise ValueError(f"unknown action {action!r} (expected one of {', '.join(ACTIONS)})")
        req = Request(action, alert_id, clean_name(by), via, threading.Event(), [])
        self._requests.put(req)
        if timeout is None:
            return None
        if not req.done.wait(timeout):
            raise TimeoutError("the pipeline did not answer")
        return req.result[0]

    def alerts(self) -> list[Alert]:
        """Copies of every alert on the board, newest first."""
        with self._lock:
            return [dataclasses.replace(a) for a in reversed(self._alerts.values())]

    def get(self, alert_id: str) -> Alert | None:
        with self._lock:
            alert = self._alerts.get(alert_id)
            return dataclasses.replace(alert) if alert else None

    def open_alerts(self, stream: str) -> list[Alert]:
        """A stream's alerts not yet cleared: the active ones before the acknowledged, each most severe first."""
        with self._lock:
            found = [dataclasses.replace(a) for a in self._alerts.values()
                     if a.stream == stream and a.state != "cleared"]
        return sorted(found, key=lambda a: (a.state != "active", SEVERITY_RANK.get(a.severity, 9), a.track_id))

    def set_thumbnail(self, alert_id: str, jpeg: bytes) -> None:
        with self._lock:
            if alert_id in self._alerts:
                self._thumbnails[alert_id] = jpeg

    def thumbnail(self, alert_id: str) -> bytes | None:
        with self._lock:
            return self._thumbnails.get(alert_id)

    def _trim(self) -> None:
        while len(self._alerts) > self.keep:
            oldest = next((k for k, a in self._alerts.items() if a.state == "cleared"), None)
            if oldest is None:
                return
            del self._alerts[oldest]
            self._thumbnails.pop(oldest, None)
