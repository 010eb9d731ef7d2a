"""The real-time loop: capture threads -> pipeline thread (pose, tracking, analysis) -> render thread.

One capture thread per source keeps only its newest frame. The pipeline thread takes frames round-robin, runs each
stream's pose engine (OpenVINO's own threads do the inference), tracker and analyzers, writes events, and hands a
snapshot to the render thread (render/renderer.py), which never stalls analysis. Every stage stamps the frame's
timing record; metrics.py derives all statistics from it, for the HUD, the log, --stats and /metrics.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import threading
import time
from collections import deque
from pathlib import Path

import cv2
import numpy as np

from edge_app.alerts.board import AlertBoard, severity
from edge_app.alerts.evidence import EvidenceRecorder, paths_for
from edge_app.alerts.sink import Sink
from edge_app.analysis.posture import posture_of
from edge_app.app import PoseStack, build_analyzers
from edge_app.config import Config, ServerConfig
from edge_app.errors import VigilError
from edge_app.io_faults import IO_FAULTS, check_writable
from edge_app.metrics import FrameTiming, Metrics, rss_mb
from edge_app.records import Event, Frame, Track, TrackView
from edge_app.render.draw import alert_colour, draw_banner, draw_skeleton
from edge_app.render.hub import FrameHub
from edge_app.render.renderer import Processed, Renderer
from edge_app.render.window import Window
from edge_app.sources.capture import CaptureThread, SourceSpec, probe, redact
from edge_app.tracking.tracker import Tracker
from edge_app.web.server import OperatorServer

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


def event_record(event: Event, frame_seq: int | None) -> dict:
    """An event as every sink writes it (event log, MQTT payload). Operator actions (acknowledged, or cleared by
    an operator) belong to no frame: their ``frame`` is null."""
    return {"ts": round(event.media_time, 3), "wall": round(event.wall_time, 3), "stream": event.stream,
            "frame": frame_seq, "type": event.type, "track_id": event.track_id, "state": event.state,
            "severity": "info" if event.state == "info" else severity(event.type),
            "score": round(event.score, 4), "details": event.details}


class EventLog:
    """--events: one JSON object per line, flushed per event so nothing is lost on a crash. When the file passes
    ``max_bytes`` it is rotated (FILE -> FILE.1 -> ... -> FILE.<backups>, the oldest dropped). Its folder must take a
    file at start (VigilError otherwise); a write that fails later (a full disk) is counted and said once
    (io_faults.py), and monitoring goes on."""

    NAME = "events"

    def __init__(self, path: Path | None, max_bytes: int = 50 * 2**20, backups: int = 5):
        self.path, self.max_bytes, self.backups = path, max_bytes, backups
        self._fh = None
        if path is not None:
            try:
                check_writable(path.parent)
                self._fh = open(path, "a", encoding="utf-8")
            except OSError as exc:
                raise VigilError(f"--events {path}: cannot write ({exc.strerror})") from None

    def write(self, event: Event, frame_seq: int | None) -> None:
        if self.path is None:
            return
        try:
            if self._fh is None:  # closed after a failed write: drop the part-written line, then go on
                self._cut_partial_line()
                self._fh = open(self.path, "a", encoding="utf-8")
            self._fh.write(json.dumps(event_record(event, frame_seq)) + "\n")
            self._fh.flush()
            if self._fh.tell() >= self.max_bytes:
                self._rotate()
            IO_FAULTS.ok(self.NAME)
        except OSError as exc:
            IO_FAULTS.failed(self.NAME, self.path, exc, "events are still shown and sent to MQTT and the webhook, "
                             "but not written to this file")
            self._drop_handle()

    def _cut_partial_line(self) -> None:
        """Truncate the file after its last complete line (a write that failed half way leaves a fragment, which
        would otherwise run into the next line)."""
        with open(self.path, "r+b") as fh:
            size = fh.seek(0, os.SEEK_END)
            start = max(0, size - 65536)
            fh.seek(start)
            tail = fh.read()
            end = tail.rfind(b"\n")
            keep = start + end + 1 if end >= 0 else start
            if keep < size:
                fh.truncate(keep)

    def _drop_handle(self) -> None:
        """After a failed write: drop the handle (its buffer still holds the line that failed, and would write it
        later out of order); the next write opens the file afresh."""
        fh, self._fh = self._fh, None
        if fh is not None:
            try:
                fh.close()
            except OSError:
                pass

    def _rotate(self) -> None:
        self._fh.close()
        for i in range(self.backups - 1, 0, -1):
            older = self.path.with_name(f"{self.path.name}.{i}")
            if older.exists():
                older.replace(self.path.with_name(f"{self.path.name}.{i + 1}"))
        if self.backups > 0:
            self.path.replace(self.path.with_name(f"{self.path.name}.1"))
        else:
            self.path.unlink()
        self._fh = open(self.path, "a", encoding="utf-8")

    def close(self) -> None:
        if self._fh is not None:
            try:
                self._fh.close()
            except OSError as exc:  # the last buffered line could not be written
                IO_FAULTS.failed(self.NAME, self.path, exc, "the last event was not written to this file")
            self._fh = None


class Pipeline:
    def __init__(self, cfg: Config, stack: PoseStack, specs: list[SourceSpec], record: Path | None = None,
                 show: bool = False, kiosk: bool = False, events: Path | None = None, max_frames: int | None = None,
                 duration: float | None = None, log_every: float = 10.0, server: ServerConfig | None = None,
                 outputs: list[Sink] | None = None, catch_signals: bool = False):
        if not specs:
            raise VigilError("no sources given")
        names = [s.name for s in specs]
        if len(set(names)) != len(names):
            raise VigilError(f"source names must be unique, got {names}")
        if record is not None:
            try:
                record.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise VigilError(f"--record {record}: cannot create folder ({exc.strerror})") from None
            if record.is_dir():
                raise VigilError(f"--record {record}: is a folder")
        self.cfg, self.stack, self.specs, self.max_frames = cfg, stack, specs, max_frames
        self.duration, self.log_every = duration, log_every
        self.rss_samples: list[tuple[float, float]] = []  # (seconds since start, MB)
        for spec in specs:
            probe(spec)
        self.captures = [CaptureThread(s) for s in specs]
        self.engines = {s.name: stack.engine(cfg) for s in specs}
        self.trackers = {s.name: Tracker(stack.tracker_settings(cfg)) for s in specs}
        self.last_media: dict[str, float] = {}
        self.last_shape: dict[str, tuple[int, ...]] = {}
        self.published_status: dict[str, str] = {}  # the status last sent to the outputs, per stream
        self.last_person: dict[str, float] = {}  # media time a confirmed person was last seen (or the stream began)
        self.hints: dict[tuple[str, str], str] = {}  # (stream, kind) -> operator hint, in /health, console, log
        self.rates = {s.name: RateWatch() for s in specs}  # each stream's analysis rate (frames per second)
        self.paused: set[tuple[str, str]] = set()  # (stream, analyzer) paused: the stream is too slow for it
        self.people: dict[str, list[int]] = {s.name: [0, 0, 0] for s in specs}  # frames, poses found, people tracked
        self.analyzers = build_analyzers(cfg, stack)
        self.event_sinks: list = [self.events_log_sink]
        self.outputs = outputs or []  # alert sinks beyond the log (MQTT): called with each event record
        for output in self.outputs:
            self.event_sinks.append(lambda event, seq, output=output: output(event_record(event, seq)))
        self.events = EventLog(events, int(cfg.alerts.event_log_max_mb * 2**20), cfg.alerts.event_log_backups)
        self.metrics = Metrics()
        self.board = AlertBoard()
        self.hub = FrameHub()
        self.evidence_settings = cfg.alerts.evidence if cfg.alerts.evidence.enabled else None
        self.renderer = Renderer(names, self.metrics, stack.landmarks.compiled.device, stack.landmarks.run.name,
                                 record, Window(kiosk=kiosk) if show else None,
                                 lossless=all(s.lossless for s in specs), hub=self.hub, board=self.board,
                                 evidence=EvidenceRecorder(cfg.alerts.evidence) if self.evidence_settings else None)
        self.stop_event = threading.Event()
        self.stopped_by: str | None = None  # the signal that stopped the run, if one did
        self.catch_signals = catch_signals  # the `run` command: SIGINT and SIGTERM stop it gracefully
        self.processed = 0
        self.server = None
        if server is not None and server.enabled:
            self.server = OperatorServer(self.hub, self.snapshot, server.host, server.port, server.token,
                                         server.mjpeg_fps, server.jpeg_quality, self.board).start()

    def events_log_sink(self, event: Event, frame_seq: int | None) -> None:
        self.events.write(event, frame_seq)
        if event.state == "raised":
            log.warning("ALERT %s stream %s track %d (score %.2f) %s", event.type, event.stream, event.track_id,
                        event.score, event.details)
        elif event.state in ("cleared", "acknowledged"):
            log.info("%s %s stream %s track %d %s", event.state, event.type, event.stream, event.track_id,
                     event.details)

    def emit(self, event: Event, frame_seq: int | None, image: np.ndarray | None = None,
             track: Track | None = None) -> None:
        """One event to the alert board and then to every sink, in this order (the board adds the alert's id). A
        raised alert's snapshot is written first (from ``image``, the person's ``track`` drawn), so the payloads
        name only evidence that exists."""
        if event.state == "raised" and self.evidence_settings is not None and image is not None:
            self._evidence(event, image, track)
        self.board.observe(event)
        for sink in self.event_sinks:
            sink(event, frame_seq)
        if event.state == "raised":
            self.metrics.alert((time.time() - event.wall_time) * 1000)

    def _evidence(self, event: Event, image: np.ndarray, track: Track | None) -> None:
        """Write the alert's snapshot (the person and the alert's banner drawn) and name it, and the clip the render
        thread will write, in the event; when the disk refuses, the event says so instead of naming files that do
        not exist."""
        snapshot, clip = paths_for(self.evidence_settings, event)
        marked = image.copy()
        colour = alert_colour(severity(event.type), False)
        if track is not None:
            draw_skeleton(marked, track.smoothed, track.box, f"#{track.id} {event.type.upper()}", highlight=colour)
        draw_banner(marked, f"{event.type.upper()} #{event.track_id}", colour)
        ok, jpeg = cv2.imencode(".jpg", marked, [cv2.IMWRITE_JPEG_QUALITY, self.evidence_settings.jpeg_quality])
        try:
            snapshot.parent.mkdir(parents=True, exist_ok=True)
            with open(snapshot, "wb") as fh:
                fh.write(jpeg.tobytes() if ok else b"")
            IO_FAULTS.ok("evidence")
        except OSError as exc:
            with contextlib.suppress(OSError):
                snapshot.unlink(missing_ok=True)  # a part-written file names nothing useful
            IO_FAULTS.failed("evidence", snapshot.parent, exc, "alerts are raised and sent without snapshot or clip")
            event.details["evidence"] = f"not saved ({exc.strerror or exc})"
            return
        event.details.update(snapshot=str(snapshot), clip=str(clip))

    def operator_actions(self) -> None:
        """Acknowledgements and clears from the console or the window, applied in the pipeline thread, so they are
        logged and published in order with the alerts."""
        for event in self.board.apply_requests():
            for sink in self.event_sinks:
                sink(event, None)

    def sources_summary(self) -> dict:
        return {c.spec.name: {"status": c.status.value, "captured": c.stats.captured,
                              "backlog_skipped": c.stats.backlog, "blank": c.stats.blank, "corrupt": c.stats.corrupt,
                              "frozen": c.stats.frozen, "size_changes": c.stats.size_changes,
                              "ended_early": c.stats.ended_early, "reconnects": c.stats.reconnects,
                              "orientation": c.spec.orientation}
                for c in self.captures}

    def dropped(self) -> dict[str, int]:
        return {c.spec.name: c.stats.dropped - c.stats.backlog for c in self.captures}

    def snapshot(self, recent: int = 600) -> dict:
        """Live statistics of the last ``recent`` frames per stream (for /metrics and /health)."""
        snap = self.metrics.summary(self.dropped(), recent=recent)
        for name, stream in snap["streams"].items():
            stream["recent_fps"] = round(self.metrics.recent_fps(name), 2)
        snap["sources"] = self.sources_summary()
        snap["hints"] = self.hints_by_stream()
        snap["io_faults"] = IO_FAULTS.snapshot()
        return snap

    def hints_by_stream(self) -> dict[str, list[str]]:
        """The operator hints now in force, per stream."""
        out: dict[str, list[str]] = {}
        for (stream, _), text in sorted(self.hints.items()):
            out.setdefault(stream, []).append(text)
        return out

    def _nobody_check(self, frame: Frame, found: bool) -> None:
        """Say it (once, a warning and a /health hint) when a stream has shown nobody for NOBODY_S of video; the hint
        goes when someone is found."""
        since = self.last_person.setdefault(frame.stream, frame.media_time)
        key = (frame.stream, "nobody")
        if found:
            self.last_person[frame.stream] = frame.media_time
            if self.hints.pop(key, None) is not None:
                log.info("stream %s: a person is found again", frame.stream)
        elif frame.media_time - since >= NOBODY_S and key not in self.hints:
            height, width = frame.image.shape[:2]
            self.hints[key] = nobody_hint(frame.stream, width, height, frame.media_time - since, self.cfg)
            log.warning("%s", self.hints[key])

    def _runs(self, analyzer, stream: str, rate: float | None) -> bool:
        """Whether ``analyzer`` runs on this frame of ``stream``: not while the stream's analysis rate is below the
        rate it needs (it would guess from too few frames). Pausing and resuming are said once each (a warning, a
        hint in /health and the console); resuming needs 10 % above the rate, so a rate at the edge does not flap."""
        need = analyzer.min_rate_hz
        key = (stream, analyzer.name)
        if rate is None or need <= 0:
            return key not in self.paused
        if key not in self.paused and rate < need:
            self.paused.add(key)
            self.hints[(stream, f"rate-{analyzer.name}")] = (
                f"stream {stream}: {rate:.1f} frames per second analysed, below the {need:g} {analyzer.name} "
                f"detection needs: {analyzer.name} alerts are paused (raise the camera's frame rate, or lower the "
                f"load: fewer streams, pose.tiles, a smaller model)")
            log.warning("%s", self.hints[(stream, f"rate-{analyzer.name}")])
        elif key in self.paused and rate >= need * 1.1:
            self.paused.discard(key)
            self.hints.pop((stream, f"rate-{analyzer.name}"), None)
            log.warning("stream %s: %.1f frames per second: %s detection resumed", stream, rate, analyzer.name)
        return key not in self.paused

    def _after_gap(self, frame: Frame) -> None:
        """A stream that sent nothing for GAP_S (a reconnect, a stall) starts its people afresh: nothing is known of
        the gap, and a series bridged across it would read as a person standing perfectly still. So does a stream
        whose picture size changed: positions in the old picture mean nothing in the new one."""
        last = self.last_media.get(frame.stream)
        shape = self.last_shape.get(frame.stream)
        self.last_media[frame.stream] = frame.media_time
        self.last_shape[frame.stream] = frame.image.shape
        if last is not None and frame.media_time - last > GAP_S:
            log.info("stream %s: %.1f s without frames: tracking starts afresh", frame.stream, frame.media_time - last)
        elif shape is not None and shape != frame.image.shape:
            log.info("stream %s: new picture size: tracking starts afresh", frame.stream)
        else:
            return
        self.trackers[frame.stream].reset()
        self.engines[frame.stream].reset()
        self.rates[frame.stream] = RateWatch()  # the rate before the gap says nothing of the rate after it

    def process(self, frame: Frame) -> Processed:
        timing = FrameTiming(captured=frame.capture_mono, taken=time.monotonic())
        self._after_gap(frame)
        engine = self.engines[frame.stream]
        poses = engine.process(frame.image)
        timing.pose_done = time.monotonic()
        timing.pose_parts = (engine.times.preprocess, engine.times.infer, engine.times.postprocess)
        tracks = self.trackers[frame.stream].update(poses, frame.media_time)
        self._nobody_check(frame, bool(tracks))
        counts = self.people[frame.stream]
        counts[0], counts[1], counts[2] = counts[0] + 1, counts[1] + len(poses), counts[2] + len(tracks)
        timing.tracked = time.monotonic()
        events: list[Event] = []
        rate = self.rates[frame.stream].add(frame.media_time)
        for analyzer in self.analyzers:
            if not self._runs(analyzer, frame.stream, rate):
                continue
            for track in tracks:
                events += analyzer.update(track, frame.stream, frame.media_time, frame.capture_wall)
            events += analyzer.end_frame(frame.stream, frame.media_time, frame.capture_wall)
        by_id = {t.id: t for t in tracks}
        for event in events:
            self.emit(event, frame.seq, frame.image, by_id.get(event.track_id))
        timing.analysed = time.monotonic()
        views = [TrackView(t.id, t.smoothed.copy(), t.box, posture_of(t))
                 for t in tracks]
        return Processed(frame, views, events, timing)

    def _periodic(self, started: float, last: float) -> float:
        """Every ``log_every`` seconds: one log line per stream and a memory sample."""
        now = time.monotonic()
        if now - last < self.log_every:
            return last
        self.rss_samples.append((round(now - started, 1), rss_mb()))
        for cap in self.captures:
            name = cap.spec.name
            self._publish_status(cap)
            log.info("stream %s: %s, %.1f fps, dropped %d, rss %.0f MB", name, cap.status.value,
                     self.metrics.recent_fps(name), cap.stats.dropped, self.rss_samples[-1][1])
        return now

    def _publish_status(self, cap: CaptureThread) -> None:
        """A source's status to the outputs that take it (MQTT, retained)."""
        name = cap.spec.name
        self.published_status[name] = cap.status.value
        for output in self.outputs:
            output.status(name, {"status": cap.status.value, "fps": round(self.metrics.recent_fps(name), 2),
                                 "frozen": cap.stats.frozen, "wall": round(time.time(), 3)})

    def _status_changes(self) -> None:
        """Publish a source's status as soon as it changes (frozen, reconnecting, back online), not only every
        ``log_every`` seconds."""
        for cap in self.captures:
            if self.published_status.get(cap.spec.name) != cap.status.value:
                self._publish_status(cap)

    def _check_started(self, started: float, timeout: float = 15.0) -> None:
        """A live source that has sent nothing ``timeout`` seconds after start is a start-up error (a later outage
        is the watchdog's business)."""
        for cap in self.captures:
            if cap.spec.is_live and not cap.stats.captured and cap.unauthorized and cap.open_error:
                raise VigilError(cap.open_error)  # wrong credentials do not fix themselves: say it now
        if time.monotonic() - started < timeout:
            return
        for cap in self.captures:
            if cap.spec.is_live and not cap.stats.captured:
                raise VigilError(cap.open_error or f"source {cap.spec.name} ({redact(cap.spec.uri)}): cannot open "
                                 f"(unreachable, or no frame within {timeout:.0f} s)")

    def _on_signal(self, signum: int, frame) -> None:
        name = signal.Signals(signum).name
        if self.stop_event.is_set():  # asked twice: stop now, without draining
            signal.signal(signum, signal.SIG_DFL)
            raise KeyboardInterrupt
        log.warning("%s: stopping: finishing the frames in flight, closing clips, flushing the event log and the "
                    "alert outboxes (send it again to stop at once)", name)
        self.stopped_by = name
        self.stop_event.set()

    def _catch_signals(self) -> dict:
        """SIGINT and SIGTERM stop the run gracefully (only the main thread can take signals)."""
        if not self.catch_signals or threading.current_thread() is not threading.main_thread():
            return {}
        return {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}

    def run(self) -> dict:
        previous_handlers = self._catch_signals()
        try:
            return self._run()
        finally:
            for sig, handler in previous_handlers.items():
                signal.signal(sig, handler)

    def _run(self) -> dict:
        for engine in self.engines.values():
            engine.warm_up()
        for cap in self.captures:
            cap.start()
        self.renderer.start()
        started = last_log = time.monotonic()
        try:
            while not self.stop_event.is_set():
                if self.max_frames is not None and self.processed >= self.max_frames:
                    break
                if self.duration is not None and time.monotonic() - started >= self.duration:
                    break
                last_log = self._periodic(started, last_log)
                self._status_changes()
                self.operator_actions()
                self._check_started(started)
                for cap in self.captures:
                    if cap.error is not None:
                        raise cap.error
                if all(c.exhausted for c in self.captures):
                    break
                got = False
                for cap in self.captures:
                    frame = cap.get(timeout=0.0 if len(self.captures) > 1 else 0.2)
                    if frame is None:
                        continue
                    got = True
                    self.renderer.submit(self.process(frame))
                    self.processed += 1
                    if self.renderer.error is not None:
                        raise VigilError(f"render: {self.renderer.error}")
                    if self.renderer.window is not None and self.renderer.window.quit_requested:
                        self.stop_event.set()
                if not got and len(self.captures) > 1:
                    time.sleep(0.002)
        finally:
            self.operator_actions()  # an acknowledgement given just before the end is still logged and published
            for cap in self.captures:
                cap.stop()
            self.renderer.close()
            self.events.close()
            for output in self.outputs:
                output.close()
            if self.server is not None:
                self.server.stop()
        summary = self.metrics.summary(self.dropped())
        summary["render_dropped"] = self.renderer.dropped
        summary["rss_mb_samples"] = self.rss_samples
        summary["sources"] = self.sources_summary()
        summary["stopped_by"] = self.stopped_by
        summary["io_faults"] = IO_FAULTS.snapshot()
        summary["hints"] = self.hints_by_stream()
        summary["paused"] = sorted(f"{stream}:{name}" for stream, name in self.paused)
        summary["people"] = {name: {"frames": n, "found_per_frame": round(found / max(n, 1), 3),
                                    "tracked_per_frame": round(tracked / max(n, 1), 3)}
                             for name, (n, found, tracked) in self.people.items()}
        summary["models"] = {"detector": self.stack.detector.describe(), "landmarks": self.stack.landmarks.describe()}
        return summary
