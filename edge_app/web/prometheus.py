"""Prometheus exposition of the pipeline's statistics through ``prometheus_client``.

Two kinds of families end up on one :class:`~prometheus_client.CollectorRegistry`, the one each
:class:`~edge_app.timing.Metrics` owns:

- latency histograms (seconds), observed per frame by ``Metrics`` itself from the frame's stamps;
- counters and gauges read, at each scrape, from the same stats snapshot as ``/health`` (``Metrics.summary`` plus
  ``sources`` and ``io_faults``) by :class:`SnapshotCollector`.

A source's state is ``vigil_source_status{stream, status}``: one series per possible status, always present (1 for
the current one, 0 for the others), so a status change does not create or drop series; ``vigil_source_up{stream}``
is 1 while it is online.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from edge_app.sources.capture import Status

__all__ = ["CONTENT_TYPE", "SOURCE_STATUSES", "CollectorRegistry", "SnapshotCollector", "families",
           "generate_latest", "serve_registry"]

# What generate_latest writes: the text format 0.0.4. (The client's CONTENT_TYPE_LATEST says version=1.0.0 from
# 0.2x on, while generate_latest still writes 0.0.4 with legacy names; the client's own HTTP handler sends this.)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
SOURCE_STATUSES = tuple(s.value for s in Status)


def families(snapshot: dict) -> list[Metric]:
    """The counter and gauge families of one stats snapshot (:meth:`Metrics.summary` plus ``sources``, and
    optionally ``io_faults``). Every family is present even when it has no sample. Raises ``KeyError`` when a
    stream or source entry lacks a required field (``frames``, ``fps``, ``dropped``; ``status``, ``captured``,
    ``reconnects``)."""
    streams = snapshot.get("streams", {})
    sources = snapshot.get("sources", {})

    def per_series(family, values: Iterable[tuple[str, float]]):  # one label value, one sample
        for label, value in values:
            family.add_metric([label], value)
        return family

    out: list[Metric] = [
        per_series(CounterMetricFamily("vigil_frames", "Frames processed (pose, tracking, analysis, render).",
                                       labels=["stream"]), ((s, v["frames"]) for s, v in streams.items())),
        per_series(GaugeMetricFamily("vigil_fps", "Frames processed per second over the recent window.",
                                     labels=["stream"]),
                   ((s, v.get("recent_fps", v["fps"])) for s, v in streams.items())),
        per_series(CounterMetricFamily("vigil_dropped_frames", "Frames replaced by newer ones before analysis took "
                                       "them.", labels=["stream"]), ((s, v["dropped"]) for s, v in streams.items())),
        per_series(GaugeMetricFamily("vigil_source_up", "1 while the source is online, else 0 "
                                     "(vigil_source_status says which state it is in).", labels=["stream"]),
                   ((s, 1.0 if v["status"] == Status.ONLINE.value else 0.0) for s, v in sources.items())),
    ]
    status = GaugeMetricFamily("vigil_source_status", "1 for the state the source is in, 0 for every other "
                               "possible state.", labels=["stream", "status"])
    for stream, v in sources.items():
        for name in SOURCE_STATUSES if v["status"] in SOURCE_STATUSES else (*SOURCE_STATUSES, v["status"]):
            status.add_metric([stream, name], 1.0 if v["status"] == name else 0.0)
    out += [
        status,
        per_series(CounterMetricFamily("vigil_source_reconnects", "Times the watchdog reconnected the source.",
                                       labels=["stream"]), ((s, v["reconnects"]) for s, v in sources.items())),
        per_series(CounterMetricFamily("vigil_source_frames", "Frames read from the source.", labels=["stream"]),
                   ((s, v["captured"]) for s, v in sources.items())),
        per_series(CounterMetricFamily("vigil_corrupt_frames", "Pictures that could not be decoded (skipped).",
                                       labels=["stream"]), ((s, v.get("corrupt", 0)) for s, v in sources.items())),
        per_series(CounterMetricFamily("vigil_source_frozen_frames", "Pictures identical to the one before "
                                       "(a frozen camera), never analysed.", labels=["stream"]),
                   ((s, v.get("frozen", 0)) for s, v in sources.items())),
        CounterMetricFamily("vigil_alerts_raised", "Alerts raised by the analyzers since start.",
                            value=snapshot.get("alerts_raised", 0)),
        per_series(CounterMetricFamily("vigil_io_errors", "Failed writes per output (event log, evidence, alert "
                                       "outboxes); monitoring goes on.", labels=["output"]),
                   snapshot.get("io_faults", {}).get("errors", {}).items()),
        GaugeMetricFamily("vigil_resident_memory_bytes", "Resident memory of the Vigil process.",
                          value=snapshot.get("rss_mb", 0.0) * 2**20),
    ]
    return out


class SnapshotCollector(Collector):
    """The :func:`families` of ``snapshot()``, taken once per scrape (per :meth:`collect`). Whatever ``snapshot``
    raises propagates to the scraper."""

    def __init__(self, snapshot: Callable[[], dict]):
        self.snapshot = snapshot

    def describe(self) -> list[Metric]:
        """The families without samples, so a registry refuses a second collector of the same names."""
        return families({})

    def collect(self) -> list[Metric]:
        return families(self.snapshot())


def serve_registry(snapshot: Callable[[], dict], registry: CollectorRegistry | None = None) -> CollectorRegistry:
    """``registry`` (a :attr:`Metrics.registry`, or a new empty one when None) with a :class:`SnapshotCollector` of
    ``snapshot`` registered on it; render it with ``generate_latest(registry)`` and serve it as
    :data:`CONTENT_TYPE`. Raises ``ValueError`` when ``registry`` already has a snapshot collector."""
    registry = CollectorRegistry() if registry is None else registry
    registry.register(SnapshotCollector(snapshot))
    return registry
