"""Stage timings stamped on each processed frame, and every statistic derived from them in one place
(HUD, periodic log line, --stats). Nothing is timed twice in different ways."""

from __future__ import annotations

import resource
import threading
import time
from collections import deque
from dataclasses import dataclass, field

import numpy as np

# "pose" is preprocess + infer + postprocess (detector and landmarks together) plus the engine's own bookkeeping.
TIMINGS_KEPT = 6000  # per stream: the last 400 s at 15 fps
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
        pre, infer, post = self.pose_parts
        return {"queue": (self.taken - self.captured) * 1000, "preprocess": pre * 1000, "infer": infer * 1000,
                "postprocess": post * 1000, "pose": (self.pose_done - self.taken) * 1000,
                "tracking": (self.tracked - self.pose_done) * 1000,
                "analysis": (self.analysed - self.tracked) * 1000,
                "render": (self.rendered - self.analysed) * 1000}

    @property
    def glass_to_render_ms(self) -> float:
        return (self.rendered - self.captured) * 1000


def percentiles(values, ps=(50, 95, 99)) -> dict[str, float]:
    if not len(values):
        return {f"p{p}": 0.0 for p in ps}
    return {f"p{p}": round(float(v), 2) for p, v in zip(ps, np.percentile(np.asarray(values), ps))}


@dataclass
class StreamMetrics:
    frames: int = 0
    # the newest frames' timings, for latency percentiles (counts cover the whole run). Bounded: at 425 bytes a
    # frame, 20000 frames of four streams were 34 MB, which the 30-minute soak showed as growth for 22 minutes
    timings: deque = field(default_factory=lambda: deque(maxlen=TIMINGS_KEPT))
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
            recent = list(m.timings)[-window:]
        span = recent[-1].rendered - recent[0].rendered
        return (len(recent) - 1) / span if span > 0 else 0.0

    def summary(self, dropped: dict[str, int] | None = None, recent: int | None = None) -> dict:
        """Counts over the whole run; latency percentiles over every kept frame, or the last ``recent`` ones."""
        with self._lock:
            streams = {name: (m.frames, list(m.timings)[-recent:] if recent else list(m.timings), m.first, m.last)
                       for name, m in self.streams.items()}
            alert_ms = list(self.alert_ms)
        out: dict = {"seconds": round(time.monotonic() - self.started, 2), "rss_mb": rss_mb(), "streams": {}}
        total = 0
        for name, (frames, timings, first, last) in streams.items():
            total += frames
            span = (last - first) if first is not None and last is not None else 0.0
            per_frame = [t.stage_ms() for t in timings]
            stage = {s: percentiles([ms[s] for ms in per_frame], (50, 95)) for s in STAGES}
            out["streams"][name] = {
                "frames": frames, "fps": round((frames - 1) / span, 2) if span > 0 else 0.0,
                "dropped": (dropped or {}).get(name, 0), "stage_ms": stage,
                "glass_to_render_ms": percentiles([t.glass_to_render_ms for t in timings]),
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
