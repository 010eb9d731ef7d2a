"""The one outbox worker every networked alert sink shares (MQTT, the webhook).

An :class:`OutboxSink` takes event records on the pipeline thread (``publish``: durably into its :class:`Spool`,
never blocking on the network) and delivers them from its own worker thread, oldest first (or in the order its
``next_record`` chooses), retrying with capped exponential backoff until its ``deliver`` confirms each one. What
differs between sinks is only how one record is delivered, when the sink is ready to try, and what it does between
tries; those are the methods a subclass gives.

Life cycle: construct (no thread yet), ``start()`` (the worker runs), ``publish``/``status`` from the pipeline
thread, ``close()`` (deliver what it can within a timeout, keep the rest on disk for the next start). It is a context
manager: ``with MqttSink(...) as sink:`` starts and closes it.
"""

from __future__ import annotations

import logging
import threading

from edge_app.alerts.sink import SinkBase
from edge_app.alerts.spool import Spool

log = logging.getLogger(__name__)


class OutboxSink(SinkBase):
    """Base class of the alert sinks that deliver through an on-disk outbox (see the module docstring).

    ``name`` names the sink in logs and thread names; ``spool`` is its outbox; backoff between failed tries starts at
    ``backoff_min_s`` and doubles up to ``backoff_max_s``."""

    name = "outbox"

    def __init__(self, spool: Spool, backoff_max_s: float = 60.0, backoff_min_s: float = 0.5):
        self.spool = spool
        self.backoff_min_s, self.backoff_max_s = backoff_min_s, backoff_max_s
        self._stopping = threading.Event()
        self._worker: threading.Thread | None = None

    # --- what a subclass gives ------------------------------------------------------------------------------------
    def accepts(self, record: dict) -> bool:
        """Whether this sink sends ``record`` at all (default: every record)."""
        return True

    def ready(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds until delivery can be tried (e.g. connected); default: always ready."""
        return True

    def deliver(self, record: dict) -> str | None:
        """Deliver one record; None when the receiver confirmed it, else why not (for the log)."""
        raise NotImplementedError

    def failed(self, record: dict, why: str, backoff: float) -> None:
        """A delivery failed (``why``); the next try waits ``backoff`` seconds. Default: a warning."""
        log.warning("%s: %s %s not delivered: %s; retrying in %.1f s (%d waiting)", self.name,
                    record.get("type", "event"), record.get("state", ""), why, backoff, len(self.spool.pending()))

    def tick(self) -> None:
        """Called by the worker about twice a second, delivering or not (periodic work such as refreshing a
        retained status). Default: nothing."""

    def next_record(self, pending: list[dict]) -> dict | None:
        """Which pending record goes next (default: the oldest)."""
        return pending[0] if pending else None

    # --- the shared worker ----------------------------------------------------------------------------------------
    def publish(self, record: dict) -> None:
        """Queue one event record (the --events JSON object) durably for delivery; returns at once."""
        if self.accepts(record):
            self.spool.put(record)

    def start(self) -> OutboxSink:
        """Start the delivery worker (once); returns the sink."""
        if self._worker is None:
            self._worker = threading.Thread(target=self._run, name=f"{self.name}-outbox", daemon=True)
            self._worker.start()
        return self

    def _run(self) -> None:
        backoff = self.backoff_min_s
        while not self._stopping.is_set():
            self.tick()
            if not self.spool.wait(0.5) or not self.ready(0.5):
                continue
            record = self.next_record(self.spool.pending())
            if record is None or self._stopping.is_set():
                continue
            failure = self.deliver(record)
            if failure is not None:
                self.failed(record, failure, backoff)
                self._stopping.wait(backoff)
                backoff = min(backoff * 2, self.backoff_max_s)
                continue
            backoff = self.backoff_min_s
            self.spool.mark_delivered(record["seq"])

    def flush(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the outbox to empty; True if it did."""
        return self.spool.wait_empty(timeout)

    def stop_worker(self, join_timeout: float = 2.0) -> None:
        """Stop the worker (what is not delivered stays in the outbox)."""
        self._stopping.set()
        if self._worker is not None:
            self._worker.join(join_timeout)

    def close(self, flush_timeout: float = 5.0) -> None:
        """Deliver what it can within ``flush_timeout`` seconds, keep the rest for the next start, and stop."""
        if self.spool.pending() and self.ready(0):
            self.flush(flush_timeout)
        left = len(self.spool.pending())
        if left:
            log.warning("%s: %d event(s) not yet delivered stay in %s and go out at the next start", self.name,
                        left, self.spool.where)
        self.stop_worker()
