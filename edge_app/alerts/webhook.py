"""Webhook sink: each event POSTed as JSON to a URL through the same kind of on-disk outbox as MQTT; failures are
retried with capped exponential backoff, so an alert raised while the receiver is down arrives later rather than
never.

Only a 2xx answer to the POST itself confirms delivery: a redirect is a failure that names its status and target
(urllib would otherwise follow a 302 with a body-less GET and call that delivered). Alerts (raised, cleared,
acknowledged) go before info events, which are off by default, so nothing waits behind a posture change. A receiver
that answers after the timeout gets a longer one next time (doubling up to ``timeout_max_s``), so a slow but alive
receiver still gets every alert. The URL's credentials never appear in logs."""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin, urlsplit

from edge_app.alerts.outbox import OutboxSink
from edge_app.alerts.spool import Spool
from edge_app.schema import option

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WebhookSettings:
    """The ``alerts.webhook`` config section."""

    enabled: bool = option(False, "POST every event as JSON to url")
    url: str = option("", "http(s):// address that receives the events")
    token: str | None = option(None, "sent as Authorization: Bearer <token> (never logged)", secret=True)
    timeout_s: float = option(5.0, "seconds to wait for an answer (doubled after each timeout, up to timeout_max_s)")
    timeout_max_s: float = option(60.0, "longest wait for an answer from a slow receiver")
    backoff_max_s: float = option(60.0, "longest wait between retries")
    info_events: bool = option(False, "also POST info events (posture changes); alerts always go first")
    spool_dir: Path = option(Path(".cache/vigil/spool/webhook"),
                             "the sink's folder (an earlier version's outbox here is moved into storage.path, where "
                             "undelivered events now wait)")

    def validate(self) -> None:
        if self.enabled and urlsplit(self.url).scheme not in ("http", "https"):
            raise ValueError(f"url must be http:// or https://, got {self.url!r:.60}")
        if self.timeout_s <= 0 or self.backoff_max_s <= 0 or self.timeout_max_s < self.timeout_s:
            raise ValueError("timeout_s and backoff_max_s must be > 0, timeout_max_s >= timeout_s")


def redacted(url: str) -> str:
    """``url`` without its credentials or query (tokens often travel there)."""
    parts = urlsplit(url)
    try:
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:  # a malformed port
        return f"{parts.scheme}://(malformed address)"
    return f"{parts.scheme}://{host}{port}{parts.path}"


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Refuse every redirect: the HTTPError that follows carries the status and ``Location``."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


def is_alert(record: dict) -> bool:
    """An alert's lifecycle (raised, cleared, acknowledged), as opposed to an info event (a posture change)."""
    return record.get("state") != "info"


class WebhookSink(OutboxSink):
    """POSTs event records (dicts) to ``settings.url`` through the shared outbox worker (alerts/outbox.py); see the
    module docstring. Stream status is not posted: a webhook carries events only (MQTT keeps status)."""

    def __init__(self, settings: WebhookSettings, spool: Spool | None = None):
        super().__init__(spool or Spool.in_folder(settings.spool_dir, "webhook"), backoff_max_s=settings.backoff_max_s)
        self.s = settings
        self.where = redacted(settings.url)
        self.name = f"webhook {self.where}"
        self.attempts = 0
        self.timeout = settings.timeout_s

    def accepts(self, record: dict) -> bool:
        return self.s.info_events or is_alert(record)

    def deliver(self, record: dict) -> str | None:
        """POST one record; None when a 2xx answered it, else why it failed (for the warning)."""
        headers = {"Content-Type": "application/json"}
        if self.s.token:
            headers["Authorization"] = f"Bearer {self.s.token}"
        request = urllib.request.Request(self.s.url, data=json.dumps(record).encode(), headers=headers,
                                         method="POST")
        self.attempts += 1
        try:
            with _OPENER.open(request, timeout=self.timeout) as response:
                if 200 <= response.status < 300:
                    return None
                return f"HTTP {response.status}"
        except urllib.error.HTTPError as exc:
            if 300 <= exc.code < 400:
                target = exc.headers.get("Location", "")
                target = redacted(urljoin(self.s.url, target)) if target else "no Location"
                return (f"HTTP {exc.code} redirect to {target} (not followed: a POST is delivered only by a 2xx "
                        f"to it; set alerts.webhook.url to the final address)")
            return f"HTTP {exc.code} {exc.reason}"
        except TimeoutError:
            return self._timed_out()
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, TimeoutError):
                return self._timed_out()
            return str(exc.reason)
        except (OSError, ValueError) as exc:
            return str(exc)

    def _timed_out(self) -> str:
        waited = self.timeout
        self.timeout = min(self.timeout * 2, self.s.timeout_max_s)
        return f"no answer, timed out after {waited:g} s (next try waits up to {self.timeout:g} s)"

    def next_record(self, pending: list[dict]) -> dict | None:
        """The oldest alert, else the oldest info event."""
        alerts = [r for r in pending if is_alert(r)]
        return (alerts or pending or [None])[0]

    def stop_worker(self, join_timeout: float = 2.0) -> None:
        super().stop_worker(max(join_timeout, self.timeout + 1))  # a POST in flight may take its whole timeout
