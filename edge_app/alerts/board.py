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
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from edge_app.records import Event, EventState

# How urgent each alert type is: the on-screen colour and the console's ordering follow it.
SEVERITY = {"fall": "critical", "fall_long_lie": "critical", "fatigue": "warning"}
SEVERITY_RANK = {"critical": 0, "warning": 1, "info": 2}


class AlertState(StrEnum):
    """Where an alert stands on the board."""

    ACTIVE = "active"  # raised, nobody has acted on it yet
    ACKNOWLEDGED = "acknowledged"  # an operator has seen it; it stays open until it is cleared
    CLEARED = "cleared"  # the analyzer (the person got up) or an operator closed it


class OperatorAction(StrEnum):
    """What an operator may do to an alert (the console's /api/alerts/ID/ACTION, the window's key)."""

    ACK = "ack"
    CLEAR = "clear"


ACTIONS = tuple(a.value for a in OperatorAction)
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
    state: AlertState = AlertState.ACTIVE
    acknowledged_by: str | None = None
    acknowledged_wall: float | None = None
    cleared_by: str | None = None  # "analysis" when the analyzer cleared it, else the operator's name
    cleared_wall: float | None = None
    snapshot: str | None = None  # evidence file, when evidence is on
    restored: bool = False  # raised by an earlier run and still open: its track number names nobody on screen now

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Request:
    action: OperatorAction
    alert_id: str
    by: str
    via: str
    done: threading.Event
    result: list  # filled by the pipeline thread: [Alert | None]


class AlertBoard:
    """Alerts of every stream, newest last; keeps the ``keep`` most recent (active ones are never dropped).

    ``on_change(alert)`` is called on the pipeline thread with a copy of every alert raised or changed (the alert
    history keeps them, history/alerts.py); ``restored``: alerts still open from an earlier run, taken back so a
    restart never forgets an alert nobody handled."""

    def __init__(self, keep: int = 200, on_change: Callable[[Alert], None] | None = None,
                 restored: list[Alert] = ()):
        self.keep = keep
        self.on_change = on_change or (lambda alert: None)
        self._lock = threading.Lock()
        self._alerts: OrderedDict[str, Alert] = OrderedDict()
        self._thumbnails: dict[str, bytes] = {}
        self._requests: queue.Queue[Request] = queue.Queue()
        self._ids = itertools.count(1)
        self._prefix = f"{int(time.time()):x}{secrets.token_hex(2)}"  # ids unique across runs, even two a second
        for alert in restored:
            self._alerts[alert.id] = dataclasses.replace(alert, restored=True)

    # --- the pipeline thread -----------------------------------------------------------------------------------
    def observe(self, event: Event) -> Event:
        """An analyzer's event: a raised alert joins the board, a cleared one leaves the active set; returns the
        event to publish, a copy naming the alert's id in ``details.alert_id`` (the event given is not changed).
        Informational events are returned as they are."""
        if event.state == EventState.RAISED:
            alert = Alert(f"{self._prefix}-{next(self._ids)}", event.stream, event.type, event.track_id,
                          severity(event.type), event.score, event.wall_time, event.media_time,
                          snapshot=event.details.get("snapshot"))
            with self._lock:
                self._alerts[alert.id] = alert
                self._trim()
            self.on_change(dataclasses.replace(alert))
            return dataclasses.replace(event, details={**event.details, "alert_id": alert.id})
        if event.state == EventState.CLEARED:
            types = {event.type, "fall_long_lie"} if event.type == "fall" else {event.type}
            named, changed = None, []
            with self._lock:
                for alert in self._alerts.values():
                    if (alert.stream, alert.track_id) == (event.stream, event.track_id) and alert.type in types \
                            and alert.state != AlertState.CLEARED and self._ours(alert):
                        alert.state, alert.cleared_by = AlertState.CLEARED, "analysis"
                        alert.cleared_wall = event.wall_time
                        changed.append(dataclasses.replace(alert))
                        if alert.type == event.type and named is None:
                            named = alert.id
            for alert in changed:
                self.on_change(alert)
            if named is not None and "alert_id" not in event.details:
                return dataclasses.replace(event, details={**event.details, "alert_id": named})
        return event

    def _ours(self, alert: Alert) -> bool:
        """Whether this run raised ``alert`` (a restored one belongs to an earlier run's track of the same number:
        only an operator clears it)."""
        return not alert.restored

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
                targets = ([a for a in self._alerts.values() if a.state == AlertState.ACTIVE] if req.alert_id == ALL
                           else [self._alerts[req.alert_id]] if req.alert_id in self._alerts else [])
                now = time.time()
                for alert in targets:
                    if req.action == OperatorAction.ACK and alert.state == AlertState.ACTIVE:
                        alert.state, alert.acknowledged_by = AlertState.ACKNOWLEDGED, req.by
                        alert.acknowledged_wall = now
                    elif req.action == OperatorAction.CLEAR and alert.state != AlertState.CLEARED:
                        alert.state, alert.cleared_by, alert.cleared_wall = AlertState.CLEARED, req.by, now
                    else:
                        continue
                    changed.append(dataclasses.replace(alert))
                req.result.append(dataclasses.replace(targets[0]) if targets else None)
            for alert in changed:
                self.on_change(alert)
                state = EventState.ACKNOWLEDGED if req.action == OperatorAction.ACK else EventState.CLEARED
                events.append(Event(alert.type, alert.stream, alert.track_id, state, alert.score, alert.media_time,
                                    now, {"alert_id": alert.id, "by": req.by, "via": req.via}))
            req.done.set()

    # --- any thread --------------------------------------------------------------------------------------------
    def request(self, action: OperatorAction | str, alert_id: str, by: str = "operator", via: str = "console",
                timeout: float | None = 2.0) -> Alert | None:
        """Ask for an action; with a ``timeout``, wait until the pipeline applied it and return the alert's new
        state (None: no such alert). Raises TimeoutError when the pipeline did not answer in time, ValueError for
        an unknown action."""
        if action not in ACTIONS:
            raise ValueError(f"unknown action {action!r} (expected one of {', '.join(ACTIONS)})")
        req = Request(OperatorAction(action), alert_id, clean_name(by), via, threading.Event(), [])
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
                     if a.stream == stream and a.state != AlertState.CLEARED]
        return sorted(found, key=lambda a: (a.state != AlertState.ACTIVE, SEVERITY_RANK.get(a.severity, 9), a.track_id))

    def set_thumbnail(self, alert_id: str, jpeg: bytes) -> None:
        with self._lock:
            if alert_id in self._alerts:
                self._thumbnails[alert_id] = jpeg

    def thumbnail(self, alert_id: str) -> bytes | None:
        with self._lock:
            return self._thumbnails.get(alert_id)

    def _trim(self) -> None:
        while len(self._alerts) > self.keep:
            oldest = next((k for k, a in self._alerts.items() if a.state == AlertState.CLEARED), None)
            if oldest is None:
                return
            del self._alerts[oldest]
            self._thumbnails.pop(oldest, None)
