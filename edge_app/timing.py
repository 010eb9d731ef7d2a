"""Stage timings stamped on each processed frame, and every statistic derived from them in one place
(HUD, periodic log line, --stats, benchmark, and the Prometheus histograms of /metrics). Nothing is timed twice in
different ways: :func:`stage_seconds` and :func:`glass_to_render_seconds` are the only definitions of the stages."""

from __future__ import annotations

import resource
import threading
import time
from collections import deque
from dataclasses import dataclass, field

import numpy as np
from prometheus_client import CollectorRegistry, Histogram

TIMINGS_KEPT = 9000  # per stream: the last 10 minutes at 15 fps, in a ring allocated up front (650 KB)
# "pose" is preprocess + infer + postprocess (detector and landmarks together) plus the engine's own bookkeeping.
STAGES = ("queue", "preprocess", "infer", "postprocess", "pose", "tracking", "analysis", "render")
# Histogram bucket bounds (seconds) for 1 ms..2 s frame stages and end-to-end latencies; +Inf is added by the client.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.04, 0.08, 0.15, 0.3, 0.6, 1.2, 2.5)


@dataclass(slots=True)
class FrameTiming:
    """Monotonic stamps (seconds) of one frame's way through the pipeline."""

    captured: float
    taken: float = 0.0  # the pipeline took it from the capture slot
    pose_done: float = 0.0
    pose_parts: tuple[float, float, float] = (0.0, 0.0, 0.0)  # preprocess, infer, postprocess seconds
    tracked: float = 0.0
    analysed: float = 0.0
    rendered: float = 0.0

    def named(self) -> dict[str, float]:
        """The stamps by name (``STAMPS``), as :func:`stage_seconds` and :func:`glass_to_render_seconds` take them."""
        return dict(zip(STAMPS, self.stamps()))

    def stage_ms(self) -> dict[str, float]:
        return stage_ms(self.named())

    @property
    def glass_to_render_ms(self) -> float:
        return glass_to_render_ms(self.named())

    def stamps(self) -> tuple[float, ...]:
        return (self.captured, self.taken, self.pose_done, *self.pose_parts, self.tracked, self.analysed,
                self.rendered)


STAMPS = ("captured", "taken", "pose_done", "pre", "infer", "post", "tracked", "analysed", "rendered")
_COL = {name: i for i, name in enumerate(STAMPS)}


class TimingRing:
    """The newest ``capacity`` frames' stamps as numbers in one array allocated and touched up front, so the
    memory a long run uses is the memory it starts with (Python objects per frame had grown RSS by 9 MB over the
    first 400 s of a four-stream soak). Not thread-safe: :class:`Metrics` holds the lock."""

    def __init__(self, capacity: int = TIMINGS_KEPT):
        self._data = np.full((capacity, len(STAMPS)), np.nan)  # written, not calloc'd: resident from the start
        self._next = 0
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def append(self, timing: FrameTiming) -> None:
        self._data[self._next] = timing.stamps()
        self._next = (self._next + 1) % len(self._data)
        self._count = min(self._count + 1, len(self._data))

    def newest(self, n: int | None = None) -> np.ndarray:
        """A copy of the newest ``n`` (default all kept) rows, oldest first; columns as in ``STAMPS``."""
        n = self._count if n is None else min(n, self._count)
        idx = (self._next - n + np.arange(n)) % len(self._data)
        return self._data[idx]


def columns(rows: np.ndarray) -> dict[str, np.ndarray]:
    """The named columns (``STAMPS``) of rows from :meth:`TimingRing.newest`."""
    return {name: rows[:, i] for name, i in _COL.items()}


def stage_seconds(c: dict) -> dict:
    """Per-stage seconds from named stamps (one frame's floats, or many frames' :func:`columns`): the one
    definition of the stages, in the order of ``STAGES``."""
    return {"queue": c["taken"] - c["captured"], "preprocess": c["pre"], "infer": c["infer"], "postprocess": c["post"],
            "pose": c["pose_done"] - c["taken"], "tracking": c["tracked"] - c["pose_done"],
            "analysis": c["analysed"] - c["tracked"], "render": c["rendered"] - c["analysed"]}


def stage_ms(c: dict) -> dict:
    """Per-stage milliseconds: :func:`stage_seconds` scaled."""
    return {stage: seconds * 1000 for stage, seconds in stage_seconds(c).items()}


def glass_to_render_seconds(c: dict):
    """From capture to rendered, seconds (floats or arrays, as :func:`stage_seconds`)."""
    return c["rendered"] - c["captured"]


def glass_to_render_ms(c: dict):
    return glass_to_render_seconds(c) * 1000


def latency_percentiles(rows: np.ndarray) -> tuple[dict, dict]:
    """Stage p50/p95 and glass-to-render p50/p95/p99 (ms) over rows from :meth:`TimingRing.newest`."""
    c = columns(rows)
    per_stage = stage_ms(c)
    return {s: percentiles(per_stage[s], (50, 95)) for s in STAGES}, percentiles(glass_to_render_ms(c))


def percentiles(values, ps=(50, 95, 99)) -> dict[str, float]:
    if not len(values):
        return {f"p{p}": 0.0 for p in ps}
    return {f"p{p}": round(float(v), 2) for p, v in zip(ps, np.percentile(np.asarray(values), ps))}


@dataclass
class StreamMetrics:
    frames: int = 0
    # the newest frames' timings, for latency percentiles (counts cover the whole run)
    timings: TimingRing = field(default_factory=TimingRing)
    first: float | None = None
    last: float | None = None
    # this stream's histogram children, looked up once: the stages in the order of STAGES, then glass-to-render
    observers: tuple = ()


class Metrics:
    """Thread-safe collector: the pipeline adds finished frames, anyone reads summaries.

    Besides the ring behind :meth:`summary`, every frame is observed into Prometheus histograms (seconds, over the
    whole run) on :attr:`registry`, a registry of this object's own (never the client's global one, so several
    ``Metrics`` in one process do not clash): ``vigil_stage_latency_seconds{stream, stage}``,
    ``vigil_glass_to_render_seconds{stream}`` and ``vigil_glass_to_alert_seconds``. A negative duration (a stamp
    never set) is observed as 0 so that the histograms' sums only grow."""

    def __init__(self):
        self._lock = threading.Lock()
        self.streams: dict[str, StreamMetrics] = {}
        self.started = time.monotonic()
        self.alert_ms: deque = deque(maxlen=10000)  # glass-to-alert: capture of the raising frame -> dispatched
        self.registry = CollectorRegistry()
        self.stage_latency = Histogram(
            "vigil_stage_latency_seconds", "Per-stage latency of processed frames in seconds.", ("stream", "stage"),
            registry=self.registry, buckets=LATENCY_BUCKETS)
        self.glass_to_render = Histogram(
            "vigil_glass_to_render_seconds", "From capture to rendered, per processed frame, in seconds.",
            ("stream",), registry=self.registry, buckets=LATENCY_BUCKETS)
        self.glass_to_alert = Histogram(
            "vigil_glass_to_alert_seconds", "From capture of the frame that raised an alert to its dispatch, seconds.",
            registry=self.registry, buckets=LATENCY_BUCKETS)

    def add(self, stream: str, timing: FrameTiming) -> None:
        """One finished (rendered) frame of ``stream``: counted, kept in the ring and observed in the histograms."""
        with self._lock:
            m = self.streams.get(stream)
            if m is None:
                m = self.streams[stream] = StreamMetrics()
                m.observers = (*(self.stage_latency.labels(stream, stage) for stage in STAGES),
                               self.glass_to_render.labels(stream))
            m.frames += 1
            m.timings.append(timing)
            m.first = timing.rendered if m.first is None else m.first
            m.last = timing.rendered
            observers = m.observers
        named = timing.named()  # the histograms are thread-safe on their own: observed outside the lock
        per_stage = stage_seconds(named)
        for observer, seconds in zip(observers, (*(per_stage[s] for s in STAGES), glass_to_render_seconds(named))):
            observer.observe(seconds if seconds > 0.0 else 0.0)  # NaN or negative: 0

    def alert(self, ms: float) -> None:
        """An alert was dispatched ``ms`` milliseconds after the frame that raised it was captured."""
        with self._lock:
            self.alert_ms.append(ms)
        self.glass_to_alert.observe(ms / 1000 if ms > 0.0 else 0.0)

    def recent_fps(self, stream: str, window: int = 30) -> float:
        with self._lock:
            m = self.streams.get(stream)
            if not m or len(m.timings) < 2:
                return 0.0
            rendered = m.timings.newest(window)[:, _COL["rendered"]]
        span = rendered[-1] - rendered[0]
        return (len(rendered) - 1) / span if span > 0 else 0.0

    def summary(self, dropped: dict[str, int] | None = None, recent: int | None = None) -> dict:
        """Counts over the whole run; latency percentiles over every kept frame, or the last ``recent`` ones."""
        with self._lock:
            streams = {name: (m.frames, m.timings.newest(recent), m.first, m.last)
                       for name, m in self.streams.items()}
            alert_ms = list(self.alert_ms)
        out: dict = {"seconds": round(time.monotonic() - self.started, 2), "rss_mb": rss_mb(), "streams": {}}
        total = 0
        for name, (frames, timings, first, last) in streams.items():
            total += frames
            span = (last - first) if first is not None and last is not None else 0.0
            stage, glass_to_render = latency_percentiles(timings)
            out["streams"][name] = {
                "frames": frames, "fps": round((frames - 1) / span, 2) if span > 0 else 0.0,
                "dropped": (dropped or {}).get(name, 0), "stage_ms": stage,
                "glass_to_render_ms": glass_to_render,
            }
        out["frames"] = total
        out["fps"] = round(total / out["seconds"], 2) if out["seconds"] > 0 else 0.0
        out["dropped"] = sum((dropped or {}).values())
        out["alerts_raised"] = len(alert_ms)
        out["glass_to_alert_ms"] = percentiles(alert_ms)
        return out


def rss_mb() -> float:
    try:
        with open("/proc/self/statm") as fh:
            pages = int(fh.read().split()[1])
        return round(pages * resource.getpagesize() / 2**20, 1)
    except OSError:
        return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
