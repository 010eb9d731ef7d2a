"""Stage timings stamped on each processed frame, and every statistic derived from them in one place
(HUD, periodic log line, --stats). Nothing is timed twice in different ways."""

from __future__ import annotations

import resource
import threading
import time
from collections import deque
from dataclasses import dataclass, field

import numpy as np

TIMINGS_KEPT = 9000  # per stream: the last 10 minutes at 15 fps, in a ring allocated up front (650 KB)
# "pose" is preprocess + infer + postprocess (detector and landmarks together) plus the engine's own bookkeeping.
STAGES = ("queue", "preprocess", "infer", "postprocess", "pose", "tracking", "analysis", "render")


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

    def stage_ms(self) -> dict[str, float]:
        return stage_ms(dict(zip(STAMPS, self.stamps())))

    @property
    def glass_to_render_ms(self) -> float:
        return glass_to_render_ms(dict(zip(STAMPS, self.stamps())))

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


def stage_ms(c: dict) -> dict:
    """Per-stage milliseconds from named stamps: one frame's floats, or many frames' :func:`columns`."""
    return {"queue": (c["taken"] - c["captured"]) * 1000, "preprocess": c["pre"] * 1000,
            "infer": c["infer"] * 1000, "postprocess": c["post"] * 1000,
            "pose": (c["pose_done"] - c["taken"]) * 1000, "tracking": (c["tracked"] - c["pose_done"]) * 1000,
            "analysis": (c["analysed"] - c["tracked"]) * 1000, "render": (c["rendered"] - c["analysed"]) * 1000}


def glass_to_render_ms(c: dict):
    return (c["rendered"] - c["captured"]) * 1000


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


class Metrics:
    """Thread-safe collector: the pipeline adds finished frames, anyone reads summaries."""

    def __init__(self):
        self._lock = threading.Lock()
        self.streams: dict[str, StreamMetrics] = {}
        self.started = time.monotonic()
        self.alert_ms: deque = deque(maxlen=10000)  # glass-to-alert: capture of the raising frame -> dispatched

    def add(self, stream: str, timing: FrameTiming) -> None:
        with self._lock:
            m = self.streams.setdefault(stream, StreamMetrics())
            m.frames += 1
            m.timings.append(timing)
            m.first = timing.rendered if m.first is None else m.first
            m.last = timing.rendered

    def alert(self, ms: float) -> None:
        """An alert was dispatched ``ms`` after the frame that raised it was captured."""
        with self._lock:
            self.alert_ms.append(ms)

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
