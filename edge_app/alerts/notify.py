"""Notifications through Apprise (e-mail, ntfy, Telegram, Slack, Signal, a JSON endpoint ...): each alert becomes a
message with a title (``Vigil: fall on stream hall (track 3)``), a short body (severity, time, score, alert id) and
the alert's snapshot attached, sent to every URL in ``alerts.notify.urls``.

It is an outbox sink like the webhook (alerts/outbox.py): a notification is kept on disk until every service has
taken it, retried with capped exponential backoff; a retry goes only to the services that have not yet taken it
(until a restart, after which it goes to all of them again: at least once). After ``ATTACH_TRIES`` failed tries the
snapshot is left out (a service may refuse a large file), so the alert itself still arrives.

Apprise URLs hold passwords and tokens. They are never logged: the sink is named by the URLs' schemes only, Apprise's
own log messages (which may quote a URL) are not passed on, and a failure's reason is scrubbed of every part of the
configured URLs. Apprise is imported only when it is needed (it loads its plugins at import).
"""

from __future__ import annotations

import logging
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

from edge_app.alerts.board import SEVERITY, severity
from edge_app.alerts.outbox import OutboxSink
from edge_app.alerts.spool import Spool
from edge_app.home import in_home
from edge_app.records import EventState
from edge_app.schema import option

log = logging.getLogger(__name__)

ATTACH_TRIES = 3  # failed tries with the snapshot attached before it is left out
EVENT_STATES = tuple(s.value for s in EventState)
EVENT_TYPES = (*SEVERITY, "posture")  # the alert types and the info events' type
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]{0,24}")


def scheme_of(url: str) -> str:
    """The service part of an Apprise URL (``mailto``, ``ntfys``, ``json``), safe to log; ``?`` when there is none
    (the text before it might be a password)."""
    scheme = url.split("://", 1)[0] if "://" in url else ""
    return scheme.lower() if _SCHEME.fullmatch(scheme) else "?"


def url_problem(url: str) -> str | None:
    """Why Apprise cannot use ``url``, without quoting it (it may hold a password); None when it can. Raises
    ImportError when Apprise is not installed."""
    apprise = _apprise()
    from apprise.manager_plugins import NotificationManager

    scheme = scheme_of(url)
    if scheme == "?":
        return "not an Apprise URL (service://...; see https://github.com/caronc/apprise/wiki)"
    if scheme not in NotificationManager():
        return f"{scheme}:// is not a service Apprise knows (see https://github.com/caronc/apprise/wiki)"
    if apprise.Apprise.instantiate(url) is None:
        return f"Apprise cannot read this {scheme}:// URL (a missing host or token, or a malformed port?)"
    return None


@dataclass(frozen=True)
class AppriseSettings:
    """The ``alerts.notify`` config section."""

    enabled: bool = option(False, "send alerts as notifications through Apprise")
    urls: list[str] = option(factory=list, doc="Apprise URLs, one per service (mailto://, ntfys://, tgram://, "
                                               "json:// ...); they hold passwords and tokens: never logged",
                             secret=True)
    states: list[str] = option(factory=lambda: [EventState.RAISED.value],
                               doc="event states that notify: raised, cleared, acknowledged (info: posture)")
    types: list[str] = option(factory=lambda: list(SEVERITY), doc="alert types that notify")
    attach_snapshot: bool = option(True, "attach the alert's snapshot (JPEG) when there is one")
    timeout_s: float = option(10.0, "seconds to wait for a service to connect and to answer")
    backoff_max_s: float = option(60.0, "longest wait between retries")
    spool_dir: Path = option(Path(".cache/vigil/spool/apprise"),
                             "the sink's folder (an earlier version's outbox here is moved into storage.path, where "
                             "undelivered events now wait)")

    def validate(self) -> None:
        if self.enabled and not self.urls:
            raise ValueError("urls: give at least one Apprise URL, or set enabled: false")
        for i, state in enumerate(self.states):
            if state not in EVENT_STATES:
                raise ValueError(f"states[{i}]: {state!r:.30} is not an event state ({', '.join(EVENT_STATES)})")
        for i, kind in enumerate(self.types):
            if kind not in EVENT_TYPES:
                raise ValueError(f"types[{i}]: {kind!r:.30} is not an event type ({', '.join(EVENT_TYPES)})")
        if self.timeout_s <= 0 or self.backoff_max_s <= 0:
            raise ValueError("timeout_s and backoff_max_s must be > 0")
        for i, url in enumerate(self.urls):
            try:
                problem = url_problem(url)
            except ImportError:
                raise ValueError("urls: Apprise is not installed (pip install 'apprise>=1.7,<3')") from None
            if problem:
                raise ValueError(f"urls[{i}]: {problem}; the URL is not shown, it may hold a password")


def message(record: dict, attached: str | None = None, note: str = "") -> tuple[str, str, str]:
    """The notification of one event record: its title, its body and Apprise's notify type (``failure`` for a
    critical alert raised, ``warning`` for another, ``success`` when cleared, else ``info``). ``attached``: the
    snapshot's file name when it goes with it; ``note``: a last line (why the snapshot is not there)."""
    kind = str(record.get("type", "event")).replace("_", " ")
    state = record.get("state", "")
    details = record.get("details") if isinstance(record.get("details"), dict) else {}
    what = kind if state in (EventState.RAISED, EventState.INFO) else f"{kind} {state}"
    title = f"Vigil: {what} on stream {record.get('stream', '?')} (track {record.get('track_id', '?')})"
    wall = record.get("wall")
    when = time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(wall)) if isinstance(wall, (int, float)) else "?"
    lines = [f"Severity: {record.get('severity') or severity(str(record.get('type')))}", f"State: {state}",
             f"Time: {when}"]
    if isinstance(record.get("score"), (int, float)):
        lines.append(f"Score: {record['score']:.2f}")
    if details.get("alert_id"):
        lines.append(f"Alert id: {details['alert_id']}")
    if details.get("by"):
        lines.append(f"By: {details['by']}" + (f" (via {details['via']})" if details.get("via") else ""))
    if details.get("reason"):
        lines.append(f"Reason: {details['reason']}")
    if attached:
        lines.append(f"Snapshot: {attached} (attached)")
    elif details.get("evidence"):
        lines.append(f"Evidence: {details['evidence']}")
    if note:
        lines.append(note)
    if state == EventState.RAISED:
        notify_type = "failure" if severity(str(record.get("type"))) == "critical" else "warning"
    else:
        notify_type = "success" if state == EventState.CLEARED else "info"
    return title, "\n".join(lines), notify_type


def secret_parts(urls: list[str]) -> list[str]:
    """Every piece of ``urls`` (host, user, password, path, token, query value) but the scheme, longest first: what
    a message must not show."""
    parts = set()
    for url in urls:
        for piece in re.split(r"[/:@?&=#,;\s]+", url.split("://", 1)[-1]):
            parts.update(p for p in (piece, unquote(piece)) if len(p) >= 3)
        parts.add(url)
    return sorted(parts, key=len, reverse=True)


def scrub(text: str, parts: list[str]) -> str:
    """``text`` with each of ``parts`` (``secret_parts``) replaced by ``***``."""
    for part in parts:
        text = text.replace(part, "***")
    return text


class _Captured(logging.Handler):
    """Keeps what Apprise logs (warnings and errors) while a notification is sent, for the failure's reason; Apprise's
    logger is cut off from Vigil's log (its messages may quote a URL)."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.lines = [*self.lines[-19:], record.getMessage()]
        except Exception:  # noqa: BLE001 - a malformed log call in a plugin is no reason to fail
            pass


_CAPTURED = _Captured()
_SETUP_LOCK = threading.Lock()
_APPRISE_LOCK = threading.Lock()  # one notification at a time, so the lines captured are its own


def _apprise():
    """The apprise module, its logger quieted first (once): nothing it logs reaches Vigil's log but what the sink
    scrubs. The HTTP library under it (urllib3) logs each request's path and query at debug level, where services
    carry tokens: it is kept to warnings (it serves nothing else in Vigil)."""
    logger = logging.getLogger("apprise")
    with _SETUP_LOCK:
        if _CAPTURED not in logger.handlers:
            logger.propagate = False
            logger.setLevel(logging.WARNING)  # its debug lines show URLs and whole payloads
            logger.addHandler(_CAPTURED)
            logging.getLogger("urllib3").setLevel(logging.WARNING)
    import apprise

    return apprise


class NotifySink(OutboxSink):
    """Alert events as Apprise notifications to ``settings.urls``, with the snapshot attached, through the shared
    outbox worker (alerts/outbox.py); see the module docstring. Only the event states and types the settings name
    are sent; stream status is not."""

    def __init__(self, settings: AppriseSettings, spool: Spool | None = None):
        super().__init__(spool or Spool.in_folder(settings.spool_dir, "apprise"),
                         backoff_max_s=settings.backoff_max_s)
        self.s = settings
        self.services = [scheme_of(u) for u in settings.urls]
        self.name = f"notify ({', '.join(self.services) or 'no URL'})"
        self._parts = secret_parts(settings.urls)
        self._plugins: list | None = None  # one Apprise plugin per URL, made at the first delivery
        self._taken: dict[int, set[int]] = {}  # record seq -> the URLs (indexes) that took it: a retry skips them
        self._tries: dict[int, int] = {}

    def accepts(self, record: dict) -> bool:
        return record.get("state") in self.s.states and record.get("type") in self.s.types

    def _load(self) -> list:
        if self._plugins is None:
            apprise = _apprise()
            plugins = []
            for url in self.s.urls:
                plugin = apprise.Apprise.instantiate(url)
                if plugin is not None:
                    query = url.partition("?")[2].lower()
                    if "cto=" not in query:
                        plugin.socket_connect_timeout = self.s.timeout_s
                    if "rto=" not in query:
                        plugin.socket_read_timeout = self.s.timeout_s
                plugins.append(plugin)
            self._asset = apprise.AppriseAsset(app_id="Vigil", app_desc="Vigil safety monitor")
            self._plugins = plugins
        return self._plugins

    def snapshot(self, record: dict) -> Path | None:
        """The alert's snapshot file when it exists (``details.snapshot``, relative paths in the Vigil home)."""
        details = record.get("details") if isinstance(record.get("details"), dict) else {}
        name = details.get("snapshot")
        if not self.s.attach_snapshot or not isinstance(name, str) or not name:
            return None
        path = Path(name) if Path(name).is_absolute() else in_home(Path(name))
        return path if path.is_file() else None

    def deliver(self, record: dict) -> str | None:
        """Send one notification to every URL that has not yet taken it; None when all have, else why not (the
        services' schemes and Apprise's reasons, scrubbed of the URLs). Never raises."""
        try:
            apprise = _apprise()
            plugins = self._load()
        except Exception as exc:  # noqa: BLE001 - an outbox worker must not die: the record waits
            return f"Apprise cannot start ({exc.__class__.__name__})"
        seq = record.get("seq", 0)
        taken = self._taken.setdefault(seq, set())
        tries = self._tries[seq] = self._tries.get(seq, 0) + 1
        snapshot, note = self.snapshot(record), ""
        if snapshot is not None and tries > ATTACH_TRIES:
            snapshot, note = None, f"(the snapshot is left out: {ATTACH_TRIES} tries with it failed)"
        title, body, notify_type = message(record, snapshot.name if snapshot else None, note)
        failures = []
        for i, plugin in enumerate(plugins):
            if i in taken:
                continue
            if plugin is None:
                failures.append(f"{self.services[i]}: Apprise cannot read this URL")
                continue
            with _APPRISE_LOCK:
                _CAPTURED.lines = []
                try:
                    sender = apprise.Apprise(asset=self._asset)
                    sender.add(plugin)
                    attach = apprise.AppriseAttachment(str(snapshot)) if snapshot is not None else None
                    ok = bool(sender.notify(body=body, title=title, notify_type=notify_type, attach=attach))
                except Exception as exc:  # noqa: BLE001 - a plugin's fault is a failed try, never a dead worker
                    ok = False
                    _CAPTURED.lines.append(f"{exc.__class__.__name__}: {exc}")
                said = [ln for ln in _CAPTURED.lines if ln.strip()]
            if ok:
                taken.add(i)
            else:
                why = scrub(" ".join(said[-2:]), self._parts)[:300] or "Apprise reported a failure"
                failures.append(f"{self.services[i]}: {why}")
        if failures:
            return "; ".join(failures)
        self._taken.pop(seq, None)
        self._tries.pop(seq, None)
        return None

    def stop_worker(self, join_timeout: float = 2.0) -> None:
        # a notification in flight may take its whole timeout, per service
        super().stop_worker(max(join_timeout, self.s.timeout_s * max(1, len(self.s.urls)) + 1))
