"""The interface of an alert sink (the event log, MQTT, the webhook): what the event bus calls, and nothing else."""

from __future__ import annotations

from typing import Protocol


class Sink(Protocol):
    """An alert output. ``publish`` and ``status`` are called from the pipeline thread and must return at once (a
    networked sink hands the work to its own thread through an outbox, alerts/outbox.py); none may raise for a fault
    of its own (it logs it and goes on). Started explicitly by the event bus, and closed by it; every sink is also a
    context manager (``SinkBase``)."""

    name: str  # names the sink in logs

    def start(self) -> Sink:
        """Start whatever the sink runs in the background (a connection, a worker); returns the sink."""
        ...

    def publish(self, record: dict) -> None:
        """Take one event record (the `--events` JSON object, ``event_record``) for delivery."""
        ...

    def status(self, stream: str, status: dict) -> None:
        """A stream's status (``status``, ``fps``, ``frozen``, ``wall``), when it changes and periodically; a sink
        without a place for it ignores it."""
        ...

    def close(self, flush_timeout: float = 5.0) -> None:
        """Deliver what it can within ``flush_timeout`` seconds, keep the rest for the next start, and stop."""
        ...


class SinkBase:
    """What every sink shares: ``start`` and ``close`` that do nothing, ``status`` ignored, and the context manager
    (``with sink:`` starts it and closes it). A sink overrides what it needs."""

    name = "sink"

    def start(self) -> SinkBase:
        return self

    def publish(self, record: dict) -> None:
        raise NotImplementedError

    def status(self, stream: str, status: dict) -> None:
        """Ignored: this sink has no place for a stream's status."""

    def close(self, flush_timeout: float = 5.0) -> None:
        pass

    def __enter__(self) -> SinkBase:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()
