"""The interface of an alert output (MQTT, webhook): what the pipeline calls, and nothing else."""

from __future__ import annotations

from typing import Protocol


class Sink(Protocol):
    """An alert output. Called from the pipeline thread; each must return at once (work goes to its own thread
    through an outbox) and must never raise for a fault of its own (it logs it and goes on)."""

    def __call__(self, record: dict) -> None:
        """Take one event record (the `--events` JSON object) for delivery."""
        ...

    def status(self, stream: str, status: dict) -> None:
        """A stream's status (``status``, ``fps``, ``frozen``, ``wall``), when it changes and periodically; an
        output without a place for it ignores it."""
        ...

    def close(self, flush_timeout: float = 5.0) -> None:
        """Deliver what it can within ``flush_timeout`` seconds, keep the rest for the next start, and stop."""
        ...
