"""Webhook sink: each event POSTed as JSON to a URL, in order, through the same kind of on-disk outbox as MQTT;
failures are retried with capped exponential backoff, so an alert raised while the receiver is down arrives later
rather than never. Any 2xx answer confirms delivery. The URL's credentials never appear in logs."""

from __future__ import annotations

import json
import logging
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from edge_app.alerts.spool import Spool
from edge_app.schema import option

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WebhookSettings:
    """The ``alerts.webhook`` config section."""

    enabled: bool = option(False, "POST every event as JSON to url")
    url: str = option("", "http(s):// address that receives the events")
    token: str | None = option(None, "sent as Authorization: Bearer <token> (never logged)", secret=True)
    timeout_s: float = option(5.0, "seconds to wait for an answer")
    backoff_max_s: float = option(60.0, "longest wait between retries")
    spool_dir: Path = option(Path(".cache/vigil/spool/webhook"), "on-disk outbox for events not yet delivered")

    def validate(self) -> None:
        if self.enabled and urlsplit(self.url).scheme not in ("http", "https"):
            raise ValueError(f"url must be http:// or https://, got {self.url!r:.60}")
        if self.timeout_s <= 0 or self.backoff_max_s <= 0:
            raise ValueError("timeout_s and backoff_max_s must be > 0")


def redacted(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


class WebhookSink:
    def __init__(self, settings: WebhookSettings, spool: Spool | None = None):
        self.s = settings
        self.spool = spool or Spool(settings.spool_dir)
        self.where = redacted(settings.url)
        self._stopping = threading.Event()
        self.attempts = 0
        self._worker = threading.Thread(target=self._deliver, name="webhook-outbox", daemon=True)
        self._worker.start()

    def __call__(self, record: dict) -> None:
        self.spool.put(record)

    def _post(self, record: dict) -> bool:
        headers = {"Content-Type": "application/json"}
        if self.s.token:
            headers["Authorization"] = f"Bearer {self.s.token}"
        request = urllib.request.Request(self.s.url, data=json.dumps(record).encode(), headers=headers,
                                         method="POST")
        self.attempts += 1
        try:
            with urllib.request.urlopen(request, timeout=self.s.timeout_s) as response:
                return 200 <= response.status < 300
        except (urllib.error.URLError, OSError, ValueError) as exc:
            log.debug("webhook %s: %s", self.where, getattr(exc, "reason", exc))
            return False

    def _deliver(self) -> None:
        backoff = 0.5
        while not self._stopping.is_set():
            if not self.spool.wait(0.5):
                continue
            for record in self.spool.pending():
                if self._stopping.is_set():
                    return
                if not self._post(record):
                    log.warning("webhook %s: delivery failed; retrying in %.1f s (%d waiting)", self.where, backoff,
                                len(self.spool.pending()))
                    self._stopping.wait(backoff)
                    backoff = min(backoff * 2, self.s.backoff_max_s)
                    break
                backoff = 0.5
                self.spool.mark_delivered(record["seq"])

    def flush(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the outbox to empty; True if it did."""
        return self.spool.wait_empty(timeout)

    def close(self, flush_timeout: float = 5.0) -> None:
        self.flush(flush_timeout)
        if self.spool.pending():
            log.warning("webhook: %d event(s) not yet delivered stay in %s and go out at the next start",
                        len(self.spool.pending()), self.spool.folder)
        self._stopping.set()
        self._worker.join(self.s.timeout_s + 1)
