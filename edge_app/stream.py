"""The stream processor: one stream's frames in, its poses, tracks, events and timing out.

Pure of threads and of delivery: it runs the stream's pose engine (OpenVINO does the inference), its tracker and the
analyzers, and returns what they found; the runner (runner.py) publishes the events through the event bus and hands
the result to the render thread. What it notices about the stream itself (nobody found for a minute, a rate too low
for an analyzer) it keeps as operator hints, logged once when they start and end.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from dataclasses import dataclass

from edge_app.analysis.base import Analyzer
from edge_app.analysis.exercise import exercise_label
from edge_app.analysis.posture import posture_of
from edge_app.analysis.zones import ZoneConfig, ZoneGate
from edge_app.config import Config
from edge_app.inference.scheduler import Steps, run_steps
from edge_app.pose.engine import PoseEngine
from edge_app.records import Event, Frame, Pose, Track, TrackView
from edge_app.timing import FrameTiming
from edge_app.tracking.tracker import Tracker

log = logging.getLogger(__name__)
GAP_S = 1.0  # a stream silent this long (media time) has had a gap: its tracks are not carried across it
NOBODY_S = 60.0  # a stream that has shown no confirmed person for this long (media time) gets a hint


def nobody_hint(stream: str, width: int, height: int, seconds: float, cfg: Config) -> str:
    """The operator's hint for a stream where nobody has been confirmed as a person for ``seconds``: what was
    searched and which settings help (people too small for the finder, or a finder that does not see bodies)."""
    p = cfg.pose
    tips = []
    if cfg.models.detector != "person_finder":
        tips.append("models.detector: person_finder (sees bodies, far away and lying; configs/cctv.yaml)")
    if not p.tiles:
        tips.append("pose.tiles: [2, 2] or [3, 3] for people small in the picture")
    tips.append(f"a lower pose.min_detection_score (now {p.min_detection_score})")
    tips.append("a source crop around the area people use")
    return (f"stream {stream}: no person found in {seconds:.0f} s of video ({width}x{height}, finder "
            f"{cfg.models.detector}, tiles {list(p.tiles) if p.tiles else 'none'}); if people are in view, try "
            + "; ".join(tips))


class RateWatch:
    """A stream's analysis rate: frames per second of media time over the last ``window_s`` seconds, known once
    the frames span at least ``min_span_s`` (None before)."""

    def __init__(self, window_s: float = 5.0, min_span_s: float = 2.0):
        self.window_s, self.min_span_s = window_s, min_span_s
        self.times: deque[float] = deque()

    def add(self, media_time: float) -> float | None:
        """Record a frame; the rate now (frames per second), or None while too little has been seen."""
        if self.times and media_time < self.times[-1]:
            self.times.clear()  # time went back (a new file, a restarted stream)
        self.times.append(media_time)
        while self.times and self.times[0] < media_time - self.window_s:
            self.times.popleft()
        span = self.times[-1] - self.times[0]
        if span < self.min_span_s:
            return None
        return (len(self.times) - 1) / span


@dataclass(frozen=True)
class StreamResult:
    """What one frame of a stream gave: ``poses`` found (image pixels), the confirmed ``tracks`` seen in it (the
    tracker's live objects), ``events`` the analyzers reported that the stream's zones admit (not yet published),
    ``views`` (read-only copies of the tracks for rendering), the frame's ``timing`` (capture to analysis,
    time.monotonic() seconds) and the ``zones`` in force (drawn on the view)."""

    frame: Frame
    poses: list[Pose]
    tracks: list[Track]
    events: list[Event]
    views: list[TrackView]
    timing: FrameTiming
    zones: tuple[ZoneConfig, ...] = ()


@dataclass(frozen=True)
class PoseResult:
    """A frame whose pose stage is done: its ``poses`` (image pixels), its ``timing`` so far, and whether the stream
    starts afresh at it (``gap``: the tracker is reset before this frame is tracked)."""

    frame: Frame
    poses: list[Pose]
    timing: FrameTiming
    gap: bool = False


class StreamProcessor:
    """One stream's pose engine, tracker, rate watch, analyzers (built for this stream's settings: the config's
    ``analysis`` with its ``per_source`` overrides) and zone gate. ``hints``: the operator hints now in force for
    this stream, by kind; ``paused``: the analyzers paused because the stream is too slow for them; ``people``:
    frames, poses found and people tracked, summed."""

    def __init__(self, name: str, cfg: Config, engine: PoseEngine, tracker: Tracker, analyzers: list[Analyzer],
                 zones: ZoneGate | None = None):
        self.name, self.cfg = name, cfg
        self.engine, self.tracker, self.analyzers = engine, tracker, analyzers
        self.zones = zones if zones is not None else ZoneGate([])
        self.rate = RateWatch()
        self.last_media: float | None = None
        self.last_shape: tuple[int, ...] | None = None
        self.last_person: float | None = None  # media time a confirmed person was last seen (or the stream began)
        self.hints: dict[str, str] = {}
        self.paused: set[str] = set()
        self.frames = self.found = self.tracked = 0

    def process(self, frame: Frame) -> StreamResult:
        """Pose, tracking and analysis of one frame (BGR image, media time in seconds) of this stream; synchronous."""
        return run_steps(self.steps(frame))

    def steps(self, frame: Frame) -> Steps[StreamResult]:
        """:meth:`process` as a task (inference/scheduler.py): :meth:`pose_steps`, then :meth:`analyse`."""
        pose = yield from self.pose_steps(frame)
        return self.analyse(pose)

    def pose_steps(self, frame: Frame) -> Steps[PoseResult]:
        """The pose stage of one frame as a task whose inference batches an AsyncScheduler runs with other streams'
        in flight. The stream's next frame may start its pose stage as soon as this one's is done (the ROIs it
        tracks from are known then), before this frame is analysed; :meth:`analyse` must then be called for each
        frame in order."""
        timing = FrameTiming(captured=frame.capture_mono, taken=time.monotonic())
        gap = self._after_gap(frame)
        if gap:
            self.engine.reset()
        poses = yield from self.engine.steps(frame.image)
        timing.pose_done = time.monotonic()
        times = self.engine.times
        timing.pose_parts = (times.preprocess, times.infer, times.postprocess)
        return PoseResult(frame, poses, timing, gap)

    def analyse(self, pose: PoseResult) -> StreamResult:
        """Tracking and analysis of a frame whose pose stage is done; frames of the stream in their order."""
        frame, poses, timing = pose.frame, pose.poses, pose.timing
        if pose.gap:
            self.tracker.reset()
            self.rate = RateWatch()  # the rate before the gap says nothing of the rate after it
        tracks = self.tracker.update(poses, frame.media_time)
        self._nobody_check(frame, bool(tracks))
        self.frames, self.found, self.tracked = self.frames + 1, self.found + len(poses), self.tracked + len(tracks)
        timing.tracked = time.monotonic()
        self.zones.observe(tracks, frame.image.shape[1], frame.image.shape[0])
        events: list[Event] = []
        rate = self.rate.add(frame.media_time)
        for analyzer in self.analyzers:
            if not self._runs(analyzer, rate):
                continue
            for track in tracks:
                events += analyzer.update(track, frame.stream, frame.media_time, frame.capture_wall)
            events += analyzer.end_frame(frame.stream, frame.media_time, frame.capture_wall)
        views = [TrackView(t.id, t.smoothed.copy(), t.box, posture_of(t), exercise_label(t)) for t in tracks]
        return StreamResult(frame, poses, tracks, self.zones.admit(events), views, timing, tuple(self.zones.zones))

    def reconfigure(self, cfg: Config, analyzers: list[Analyzer], zones: list[ZoneConfig]) -> None:
        """Swap in a reloaded config's analyzers and zones, between two frames (the runner's thread calls it). The
        tracks, and what the zone gate knows of them, carry on; analyzers kept from before keep their state."""
        self.cfg, self.analyzers = cfg, analyzers
        self.zones.zones = list(zones)
        self.paused &= {a.name for a in analyzers}
        for kind in [k for k in self.hints if k.startswith("rate-") and k[5:] not in self.paused]:
            del self.hints[kind]

    def _after_gap(self, frame: Frame) -> bool:
        """Whether the stream starts its people afresh at this frame: it sent nothing for GAP_S (a reconnect, a
        stall; nothing is known of the gap, and a series bridged across it would read as a person standing perfectly
        still), or its picture size changed (positions in the old picture mean nothing in the new one)."""
        last, shape = self.last_media, self.last_shape
        self.last_media, self.last_shape = frame.media_time, frame.image.shape
        if last is not None and frame.media_time - last > GAP_S:
            log.info("stream %s: %.1f s without frames: tracking starts afresh", self.name, frame.media_time - last)
        elif shape is not None and shape != frame.image.shape:
            log.info("stream %s: new picture size: tracking starts afresh", self.name)
        else:
            return False
        return True

    def _nobody_check(self, frame: Frame, found: bool) -> None:
        """Say it (once, a warning and a /health hint) when the stream has shown nobody for NOBODY_S of video; the
        hint goes when someone is found."""
        if self.last_person is None:
            self.last_person = frame.media_time
        if found:
            self.last_person = frame.media_time
            if self.hints.pop("nobody", None) is not None:
                log.info("stream %s: a person is found again", self.name)
        elif frame.media_time - self.last_person >= NOBODY_S and "nobody" not in self.hints:
            self._say_nobody(frame.image.shape, frame.media_time - self.last_person)

    def _say_nobody(self, shape: tuple[int, ...], seconds: float) -> None:
        """The nobody hint for a picture of ``shape`` (height, width, ...) empty for ``seconds``: kept for /health
        and said once as a warning."""
        height, width = shape[:2]
        self.hints["nobody"] = nobody_hint(self.name, width, height, seconds, self.cfg)
        log.warning("%s", self.hints["nobody"])

    def finish(self) -> None:
        """At the end of the run: a stream that showed nobody in all its video, too short for the NOBODY_S hint
        (a clip of a few seconds), gets the same hint once, so a run that found no one always says so."""
        if self.frames and not self.tracked and "nobody" not in self.hints and self.last_shape is not None:
            self._say_nobody(self.last_shape, (self.last_media or 0.0) - (self.last_person or 0.0))

    def _runs(self, analyzer: Analyzer, rate: float | None) -> bool:
        """Whether ``analyzer`` runs on this frame: not while the stream's analysis rate is below the rate it needs
        (it would guess from too few frames). Pausing and resuming are said once each (a warning, a hint in /health
        and the console); resuming needs 10 % above the rate, so a rate at the edge does not flap."""
        need, name = analyzer.min_rate_hz, analyzer.name
        if rate is None or need <= 0:
            return name not in self.paused
        if name not in self.paused and rate < need:
            self.paused.add(name)
            self.hints[f"rate-{name}"] = (
                f"stream {self.name}: {rate:.1f} frames per second analysed, below the {need:g} {name} detection "
                f"needs: {name} alerts are paused (raise the camera's frame rate, or lower the load: fewer streams, "
                f"pose.tiles, a smaller model)")
            log.warning("%s", self.hints[f"rate-{name}"])
        elif name in self.paused and rate >= need * 1.1:
            self.paused.discard(name)
            self.hints.pop(f"rate-{name}", None)
            log.warning("stream %s: %.1f frames per second: %s detection resumed", self.name, rate, name)
        return name not in self.paused
