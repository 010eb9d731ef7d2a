"""The runner: threads, signals, start and stop around the per-stream processors and the event bus.

Threads: one capture thread per source keeps only its newest frame; the runner's own loop (the pipeline thread)
takes each idle stream's next frame and starts it through the stream's processor (stream.py: pose, tracking,
analysis) as a task of the AsyncScheduler (inference/scheduler.py): inference of every stream is in flight together in
OpenVINO's threads, the pipeline thread never waits on one inference, and each stream's frames finish in order. A
stream's next frame starts its pose stage as soon as the one before has its poses, so its inference runs while that
one is tracked and analysed. A finished frame's events go through the event bus (alerts/bus.py: board, evidence,
sinks) and the result to the render thread (render/renderer.py), which never stalls analysis; the operator server
(web/server.py) answers from its own threads. Frames in flight when the run ends are finished, not dropped.
Every stage stamps the frame's timing record; timing.py derives all statistics from it, for the HUD, the log,
--stats and /metrics. Nothing runs before :meth:`Runner.run`, and everything it started is stopped when it returns
or raises. The runner is assembled from the config in one place, app.py.

Reload without restart: SIGHUP, or the console's "apply" (``request_reload``), reads the config file again; a valid
one has its ``analysis``, ``per_source`` and ``zones`` swapped in between two frames (nothing else stops), an
invalid one is refused with the reason (logged, in /health and the console) and the running config stays. Other
sections that changed are named in the log: they take effect at the next start.
"""

from __future__ import annotations

import dataclasses
import logging
import signal
import ssl
import threading
import time
from collections.abc import Callable
from pathlib import Path

from edge_app.alerts.board import AlertBoard
from edge_app.alerts.bus import EventBus
from edge_app.alerts.history import AlertHistory
from edge_app.analysis.base import Analyzer
from edge_app.checks import ClipChecker
from edge_app.config import Config, ServerConfig, check_source_names, load_config, zones_for
from edge_app.config_edit import save_zones
from edge_app.errors import ConfigError, VigilError
from edge_app.inference.scheduler import AsyncScheduler
from edge_app.io_faults import IO_FAULTS
from edge_app.render.hub import FrameHub
from edge_app.render.renderer import Processed, Renderer
from edge_app.sources.capture import CaptureThread, redact
from edge_app.storage.db import Database
from edge_app.stream import PoseResult, StreamProcessor, StreamResult
from edge_app.timing import Metrics, rss_mb
from edge_app.web.accounts import Accounts

log = logging.getLogger(__name__)
IDLE_WAIT_S = 0.05  # longest wait for a frame or a result before the loop's own checks (reload, status) run again
DRAIN_S = 10.0  # at the end, how long the frames still in flight may take to finish


class Runner:
    """Runs the streams until they end, a limit is reached, the window is closed or a signal stops it.

    Built by ``app.build_runner`` from the config (that is where the parts are chosen); nothing starts before
    :meth:`run`. ``captures``: one per source; ``processors``: one per stream, by name; ``bus``: where events go;
    ``renderer``: the render thread (not started); ``server``: the operator server's settings, or None;
    ``max_frames``/``duration`` (seconds): limits, or None; ``log_every``: seconds between status lines;
    ``catch_signals``: SIGINT and SIGTERM stop the run gracefully and SIGHUP reloads the config (the `run`
    command); ``retuned(config, stream, running analyzers)``: a stream's analyzers under a reloaded config (None: no
    reload); ``history``: the alert history on the box's database (None: none kept); ``accounts``: console accounts
    (web/accounts.py); ``tls``: the console's TLS context, or None for plain HTTP; ``checker``: the console's upload
    checks (checks.py), run while the server is up."""

    RELOADABLE = ("analysis", "per_source", "zones")  # the sections a reload swaps in; the rest wait for a restart

    def __init__(self, cfg: Config, captures: list[CaptureThread], processors: dict[str, StreamProcessor],
                 bus: EventBus, renderer: Renderer, hub: FrameHub, metrics: Metrics, board: AlertBoard,
                 models: dict, server: ServerConfig | None = None, max_frames: int | None = None,
                 duration: float | None = None, log_every: float = 10.0, catch_signals: bool = False,
                 retuned: Callable[[Config, str, list[Analyzer]], list[Analyzer]] | None = None,
                 history: AlertHistory | None = None, accounts: Accounts | None = None,
                 tls: ssl.SSLContext | None = None, checker: ClipChecker | None = None):
        self.cfg, self.captures, self.processors, self.bus = cfg, captures, processors, bus
        self.renderer, self.hub, self.metrics, self.board, self.models = renderer, hub, metrics, board, models
        self.server_settings = server if server is not None and server.enabled else None
        self.max_frames, self.duration, self.log_every = max_frames, duration, log_every
        self.catch_signals = catch_signals
        self.rss_samples: list[tuple[float, float]] = []  # (seconds since start, MB)
        self.published_status: dict[str, str] = {}  # the status last sent to the sinks, per stream
        self.stop_event = threading.Event()
        self.stopped_by: str | None = None  # the signal that stopped the run, if one did
        self.processed = 0
        self.server = None  # the operator server, while the run is on
        self.retuned = retuned
        self.history, self.accounts, self.tls, self.checker = history, accounts, tls, checker
        self.db: Database | None = history.db if history is not None else None
        self._pruned = 0.0  # monotonic time of the history's last pruning
        self.scheduler = AsyncScheduler()  # every stream's inference in flight together (inference/scheduler.py)
        self._by_name = {c.spec.name: [c] for c in captures}
        self._analysing = 0  # frames past their pose stage, not yet finished
        self.observers: list[Callable[[Processed], None]] = []  # told of each finished frame (benchmark, tests)
        self._reload_lock = threading.Lock()
        self._pending: tuple[Config, list[str]] | None = None  # a validated config (and the sections it leaves for
        # a restart) waiting for the next gap between frames
        self._hup = False  # SIGHUP arrived: read the file between two frames
        self.config_state: dict = {"path": str(cfg.path) if cfg.path else None, "loaded_wall": round(time.time(), 3),
                                   "reloads": 0, "error": None, "restart_needed": []}

    def read_config(self, path: Path | None = None) -> Config:
        """The config file (``path``, by default the run's) read again and, when it names no sources of its own,
        checked against this run's streams; ConfigError naming file and key."""
        path = path or self.cfg.path
        if path is None:
            raise ConfigError("no config file to reload: this run uses the built-in defaults (start with --config)")
        new = load_config(path)
        if not new.sources:
            check_source_names(new, list(self.processors))
        return new

    def request_reload(self, via: str = "console") -> dict:
        """Validate the config file now and, when valid, have it swapped in between the next two frames. Returns
        {"ok": True, "restart_needed": [...]} or {"ok": False, "error": reason} (the reason is also logged and kept
        in the config state /health shows). Thread-safe (the operator server calls it)."""
        if self.retuned is None:
            return self._refused(via, "this run cannot reload its config")
        try:
            new = self.read_config()
        except (ConfigError, VigilError) as exc:
            return self._refused(via, str(exc))
        restart = self._restart_needed(new)
        with self._reload_lock:
            self._pending = (new, restart)
        return {"ok": True, "restart_needed": restart}

    def zones(self) -> dict:
        """The zone editor's view: the config file, and each stream's zones as the running config has them."""
        return {"path": str(self.cfg.path) if self.cfg.path else None,
                "sources": {name: [dataclasses.asdict(z) for z in zones_for(self.cfg, name)]
                            for name in self.processors}}

    def save_zones(self, source: str, zones: list) -> dict:
        """The zone editor's save: ``source``'s zones replaced in the config file (the whole file validated first,
        the previous one kept as FILE.bak, ``config_edit.save_zones``), then applied between two frames. Returns
        {"ok": True, "backup": path, ...} or {"ok": False, "error": reason}; a refused edit changes nothing."""
        if source not in self.processors:
            return {"ok": False, "error": f"unknown source {source!r} (this run: {', '.join(self.processors)})"}
        if self.cfg.path is None:
            return {"ok": False, "error": "no config file to write: this run uses the built-in defaults (start "
                                          "with --config FILE)"}
        try:
            backup = save_zones(self.cfg.path, source, zones, self.read_config)
        except ConfigError as exc:
            log.error("zone editor: edit of %s refused, nothing written: %s", source, exc)
            return {"ok": False, "error": str(exc)}
        log.warning("zone editor: %d zones of %s written to %s (previous file kept as %s)", len(zones), source,
                    self.cfg.path, backup)
        return {**self.request_reload("zone editor"), "backup": str(backup)}

    def _refused(self, via: str, reason: str) -> dict:
        log.error("config reload (%s) refused, the running config stays: %s", via, reason)
        self.config_state["error"] = reason
        return {"ok": False, "error": reason}

    def _restart_needed(self, new: Config) -> list[str]:
        keep = {name: getattr(self.cfg, name) for name in self.RELOADABLE}
        return [f.name for f in dataclasses.fields(Config) if f.name not in (*self.RELOADABLE, "path")
                and getattr(dataclasses.replace(new, **keep), f.name) != getattr(self.cfg, f.name)]

    def _apply_reload(self) -> None:
        """Between two frames: read the file (after SIGHUP) and swap a validated config's analysis and zones in."""
        if self._hup:
            self._hup = False
            self.request_reload("SIGHUP")
        with self._reload_lock:
            pending, self._pending = self._pending, None
        if pending is None:
            return
        new, restart = pending
        began = time.monotonic()
        # what runs now: the reloadable sections of the new file, everything else as started
        self.cfg = dataclasses.replace(self.cfg, **{name: getattr(new, name) for name in self.RELOADABLE})
        for name, processor in self.processors.items():
            processor.reconfigure(self.cfg, self.retuned(self.cfg, name, processor.analyzers),
                                  zones_for(self.cfg, name))
        apply_ms = round(1000 * (time.monotonic() - began), 2)
        self.config_state.update(loaded_wall=round(time.time(), 3), reloads=self.config_state["reloads"] + 1,
                                 error=None, restart_needed=restart, apply_ms=apply_ms)
        log.warning("config %s reloaded in %.1f ms between two frames: analysis, per-source overrides and zones in "
                    "force (%d zones)%s", self.cfg.path, apply_ms, len(self.cfg.zones),
                    f"; changed but not applied until a restart: {', '.join(restart)}" if restart else "")

    def _finished(self, result: StreamResult) -> None:
        """A frame its stream's processor has finished: its events published (in order) through the bus, the
        observers told, the result handed to the render thread."""
        frame = result.frame
        by_id = {t.id: t for t in result.tracks}
        events = [self.bus.publish(event, frame.seq, frame.image, by_id.get(event.track_id))
                  for event in result.events]
        result.timing.analysed = time.monotonic()
        item = Processed(frame, result.views, events, result.timing, result.zones)
        for observer in self.observers:
            observer(item)
        self.renderer.submit(item)
        self.processed += 1
        if self.renderer.error is not None:
            raise VigilError(f"render: {self.renderer.error}")
        if self.renderer.window is not None and self.renderer.window.quit_requested:
            self.stop_event.set()

    def _start_frames(self, captures: list[CaptureThread] | None = None) -> bool:
        """Take each idle stream's next frame (of ``captures``, default all) and start its pose stage (its inference
        goes in flight with the other streams'). Returns whether any frame was taken."""
        taken = False
        for cap in self.captures if captures is None else captures:
            if self.max_frames is not None and \
                    self.processed + self.scheduler.in_flight + self._analysing >= self.max_frames:
                break
            name = cap.spec.name
            if self.scheduler.busy(name):
                continue  # one frame of a stream in its pose stage at a time
            frame = cap.get(timeout=0.0)
            if frame is None:
                continue
            taken = True
            for _, pose in self.scheduler.start(name, self.processors[name].pose_steps(frame)):
                self._analyse(pose)
        return taken

    def _analyse(self, pose: PoseResult, start_next: bool = True) -> None:
        """A frame whose pose stage is done: the stream's next frame starts its pose stage first (its inference then
        runs while this one is tracked and analysed), then this frame is analysed and finished. Each stream's frames
        are analysed in order: a pose stage ends only in a later poll than the one that started it."""
        name = pose.frame.stream
        self._analysing += 1  # counted against max_frames while the next frame starts
        try:
            if start_next:
                self._start_frames(self._by_name[name])
            self._finished(self.processors[name].analyse(pose))
        finally:
            self._analysing -= 1

    def sources_summary(self) -> dict:
        return {c.spec.name: {"status": c.status.value, "captured": c.stats.captured,
                              "backlog_skipped": c.stats.backlog, "blank": c.stats.blank, "corrupt": c.stats.corrupt,
                              "frozen": c.stats.frozen, "late": c.stats.late, "size_changes": c.stats.size_changes,
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
        snap["config"] = dict(self.config_state)
        return snap

    def hints_by_stream(self) -> dict[str, list[str]]:
        """The operator hints now in force, per stream."""
        return {name: [p.hints[k] for k in sorted(p.hints)] for name, p in self.processors.items() if p.hints}

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
        """A source's status to the sinks that take it (MQTT, retained)."""
        name = cap.spec.name
        self.published_status[name] = cap.status.value
        self.bus.status(name, {"status": cap.status.value, "fps": round(self.metrics.recent_fps(name), 2),
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

    def _on_hangup(self, signum: int, frame) -> None:
        self._hup = True  # read between two frames by the pipeline thread, never inside a handler

    def _catch_signals(self) -> dict:
        """SIGINT and SIGTERM stop the run gracefully, SIGHUP reloads the config (only the main thread can take
        signals)."""
        if not self.catch_signals or threading.current_thread() is not threading.main_thread():
            return {}
        handlers = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
        handlers[signal.SIGHUP] = signal.signal(signal.SIGHUP, self._on_hangup)
        return handlers

    def run(self) -> dict:
        """Start everything, run until the end, stop everything; returns the run's summary (the --stats JSON).
        Raises VigilError for a source that cannot be opened at start or a render failure."""
        previous_handlers = self._catch_signals()
        try:
            return self._run()
        finally:
            for sig, handler in previous_handlers.items():
                signal.signal(sig, handler)

    def _start(self) -> None:
        from edge_app.web.server import OperatorServer

        self.bus.start()
        if self.server_settings is not None:
            s = self.server_settings
            self.server = OperatorServer(self.hub, self.snapshot, s.host, s.port, s.token, s.mjpeg_fps,
                                         s.jpeg_quality, self.board,
                                         self if self.retuned is not None else None,
                                         registry=self.metrics.registry, history=self.history,
                                         accounts=self.accounts, tls=self.tls,
                                         evidence_dir=self.cfg.alerts.evidence.dir,
                                         checker=self.checker).start()
            if self.checker is not None:
                self.checker.start()
        for processor in self.processors.values():
            processor.engine.warm_up()
        for cap in self.captures:
            cap.on_frame = self.scheduler.wake  # a new frame wakes the pipeline thread's wait for results
            cap.start()
        self.renderer.start()

    def _stop(self) -> None:
        """Stop what was started, each step even when one before it failed."""
        self.bus.operator_actions()  # an acknowledgement given just before the end is still logged and published
        for cap in self.captures:
            cap.stop()
        self.scheduler.close()
        if self.renderer.is_alive():
            self.renderer.close()
        self.bus.close()
        if self.server is not None:
            self.server.stop()
        if self.checker is not None:
            self.checker.stop()
        if self.db is not None:
            self.db.close()

    def _run(self) -> dict:
        try:
            self._start()
            started = last_log = time.monotonic()
            self._loop(started, last_log)
            for processor in self.processors.values():
                processor.finish()
        finally:
            self._stop()
        return self.summary()

    def _loop(self, started: float, last_log: float) -> None:
        while not self.stop_event.is_set():
            if self.max_frames is not None and self.processed >= self.max_frames:
                break
            if self.duration is not None and time.monotonic() - started >= self.duration:
                break
            last_log = self._periodic(started, last_log)
            self._prune_history()
            self._apply_reload()
            self._status_changes()
            self.bus.operator_actions()
            self._check_started(started)
            for cap in self.captures:
                if cap.error is not None:
                    raise cap.error
            if all(c.exhausted for c in self.captures) and not self.scheduler.in_flight:
                break
            taken = self._start_frames()
            # wait for results; a new frame (CaptureThread.on_frame) or a result wakes the wait early
            for _, pose in self.scheduler.poll(0.0 if taken else IDLE_WAIT_S):
                self._analyse(pose)
        for _, pose in self.scheduler.drain(DRAIN_S):  # frames in flight at the end are finished, not lost
            if pose is not None:
                self._analyse(pose, start_next=False)

    def _prune_history(self, every_s: float = 3600.0) -> None:
        """Keep the history within its age and size bounds: at start, then hourly."""
        now = time.monotonic()
        if self.db is None or (self._pruned and now - self._pruned < every_s):
            return
        self._pruned = now
        removed = self.db.prune()
        if removed:
            log.info("history: %d old alert(s) removed to keep %s under %.0f MB", removed, self.db.path,
                     self.db.max_mb)

    def summary(self) -> dict:
        """The run's summary: per-stream statistics, sources, hints, paused analyzers, people per frame, models."""
        summary = self.metrics.summary(self.dropped())
        summary["render_dropped"] = self.renderer.dropped
        summary["rss_mb_samples"] = self.rss_samples
        summary["sources"] = self.sources_summary()
        summary["stopped_by"] = self.stopped_by
        summary["io_faults"] = IO_FAULTS.snapshot()
        summary["hints"] = self.hints_by_stream()
        summary["paused"] = sorted(f"{name}:{a}" for name, p in self.processors.items() for a in p.paused)
        summary["people"] = {name: {"frames": p.frames, "found_per_frame": round(p.found / max(p.frames, 1), 3),
                                    "tracked_per_frame": round(p.tracked / max(p.frames, 1), 3)}
                             for name, p in self.processors.items()}
        summary["models"] = self.models
        summary["config"] = dict(self.config_state)
        return summary
