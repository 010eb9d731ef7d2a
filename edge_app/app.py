"""The one place the runtime is wired from a config: the OpenVINO runtime, the chosen models, the pose engine, the
analyzers, the alert sinks, and the runner that holds them (``build_runner``)."""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path

import cv2

from edge_app.alerts.board import AlertBoard
from edge_app.alerts.bus import EventBus, EventLog, LogSink, MemorySink
from edge_app.alerts.evidence import EvidenceRecorder
from edge_app.alerts.history import AlertHistory
from edge_app.alerts.sink import Sink
from edge_app.analysis.base import Analyzer
from edge_app.analysis.exercise import ExerciseAnalyzer
from edge_app.analysis.fall import FallAnalyzer
from edge_app.analysis.fatigue import FatigueAnalyzer
from edge_app.analysis.posture import PostureAnalyzer
from edge_app.analysis.sequence_model import SequenceModel
from edge_app.analysis.zones import ZoneGate
from edge_app.checks import ClipChecker, RunCheck
from edge_app.config import AnalysisConfig, Config, ServerConfig, analysis_for, check_source_names, zones_for
from edge_app.errors import VigilError
from edge_app.inference.model_store import Chosen, ModelStore
from edge_app.inference.runtime import Runtime
from edge_app.pose.detector import PoseDetector
from edge_app.pose.engine import EngineSettings, PersonFinder, PoseEngine
from edge_app.pose.finder import MoveNetFinder
from edge_app.pose.landmarks import LandmarkModel
from edge_app.render.draw import annotate_alert
from edge_app.render.hub import FrameHub
from edge_app.render.renderer import Renderer
from edge_app.render.window import Window
from edge_app.runner import Runner
from edge_app.sources.capture import CaptureThread, SourceSpec, probe
from edge_app.storage.db import Database
from edge_app.stream import StreamProcessor
from edge_app.timing import Metrics
from edge_app.tracking.tracker import Tracker, TrackerSettings

log = logging.getLogger(__name__)


FINDER_CLASSES: dict[str, type[PoseDetector] | type[MoveNetFinder]] = {
    "blazepose_detector": PoseDetector, "movenet_multipose": MoveNetFinder}
FINDER_KINDS = tuple(FINDER_CLASSES)


@dataclass
class PoseStack:
    runtime: Runtime
    detector: Chosen
    landmarks: Chosen
    store: ModelStore | None = None
    sequence_models: dict[str, Chosen] | None = None
    detector_kind: str = "blazepose_detector"  # the person finder's family, from the manifest

    def finder(self, cfg: Config) -> PersonFinder:
        """A person finder of the configured model's family (one per stream: it owns an infer request)."""
        p = cfg.pose
        return FINDER_CLASSES[self.detector_kind](self.detector.compiled, min_score=p.min_detection_score,
                                                  tiles=p.tiles)

    def tracker_settings(self, cfg: Config) -> TrackerSettings:
        """What counts as person evidence for this finder: its own score (a body finder), else the landmark model's
        pose flag; from the score the config asks of a detection."""
        if self.detector_kind == "movenet_multipose":
            return TrackerSettings(evidence="finder", min_person_score=cfg.pose.min_detection_score)
        return TrackerSettings(evidence="landmarks", min_person_score=cfg.pose.min_presence)

    def engine(self, cfg: Config) -> PoseEngine:
        p = cfg.pose
        return PoseEngine(self.finder(cfg), LandmarkModel(self.landmarks.compiled),
                          EngineSettings(max_people=p.max_people, detect_every=p.detect_every,
                                         min_presence=p.min_presence))


def build_pose_stack(cfg: Config, streams: int = 1) -> PoseStack:
    """The pose models compiled once for a run of ``streams`` streams (which sets the threads per inference when the
    config leaves them to Vigil)."""
    cores = len(os.sched_getaffinity(0))
    threads = cfg.inference.threads_for(streams, cores)
    try:
        runtime = Runtime(cfg.inference.device, cfg.inference.hint, threads, cfg.inference.cache_dir)
    except VigilError as exc:
        raise VigilError(f"{cfg.path}: inference.device: {exc}") from None
    if cfg.inference.threads is None and threads is not None:
        log.info("inference: %d thread%s per inference for %d stream%s on %d cores, every stream's requests in "
                 "flight together (inference.threads overrides)", threads, "s" if threads > 1 else "", streams,
                 "s" if streams > 1 else "", cores)
    store = ModelStore(cfg.models.dir)
    kind = store.kind(cfg.models.detector)
    if kind not in FINDER_KINDS:
        raise VigilError(f"{cfg.path}: models.detector: {cfg.models.detector} is a {kind or 'model of no kind'}, not "
                         f"a person finder ({' or '.join(FINDER_KINDS)})")
    # each compiled with its input conversion inside (PrePostProcessor): the host passes uint8 patches
    detector = store.choose(cfg.models.detector, runtime, cfg.models.precision, FINDER_CLASSES[kind].prepare)
    landmarks = store.choose(cfg.models.landmarks, runtime, cfg.models.precision, LandmarkModel.prepare)
    for chosen in (detector, landmarks):
        log.info("model %s", chosen.describe())
    return PoseStack(runtime, detector, landmarks, store, {}, kind)


def sequence_model(stack: PoseStack, name: str, precision: str) -> SequenceModel | None:
    """A sequence model from the manifest, compiled once per process; None (with a warning) when it was not built."""
    if stack.store is None:
        return None
    if name not in stack.sequence_models:
        if name not in stack.store.models:
            log.warning("model %s is not in %s: its analysis is off (build it with `make models`, which needs "
                        "../shared/data to train it)", name, stack.store.root / "manifest.json")
            return None
        chosen = stack.store.choose(name, stack.runtime, precision)
        log.info("model %s", chosen.describe())
        stack.sequence_models[name] = chosen
    return SequenceModel(stack.sequence_models[name].compiled)


def build_analyzers(analysis: AnalysisConfig, stack: PoseStack, precision: str) -> list[Analyzer]:
    """The analyzers ``analysis`` asks for (one stream's settings), on the compiled models every stream shares."""
    analyzers: list[Analyzer] = [PostureAnalyzer(analysis.posture.hold_s)]
    if analysis.fall.enabled:
        model = sequence_model(stack, analysis.fall.model, precision)
        if model is not None:
            analyzers.append(FallAnalyzer(model, analysis.fall))
    if analysis.fatigue.enabled:
        model = sequence_model(stack, analysis.fatigue.model, precision)
        if model is not None:
            analyzers.append(FatigueAnalyzer(model, analysis.fatigue))
    if analysis.exercise.kind != "off":
        analyzers.append(ExerciseAnalyzer(analysis.exercise))
    return analyzers


def stream_analyzers(cfg: Config, stack: PoseStack, stream: str, old: list[Analyzer] = ()) -> list[Analyzer]:
    """Stream ``stream``'s analyzers under ``cfg`` (its ``analysis`` with the stream's ``per_source`` overrides).
    After a reload (``old``: the analyzers running now) an analyzer of the same kind is kept with the new settings
    (``Analyzer.retune``), so the people it watches are not started afresh; one switched off goes, one switched on
    starts."""
    wanted = build_analyzers(analysis_for(cfg, stream), stack, cfg.models.precision)
    running = {a.name: a for a in old}
    return [running[a.name] if a.name in running and running[a.name].retune(a) else a for a in wanted]


def open_storage(cfg: Config) -> Database:
    """The box's database (``storage`` in the config); VigilError naming the file when it cannot be opened."""
    return Database(cfg.storage.path, cfg.storage.max_days, cfg.storage.max_mb)


def check_server_access(server: ServerConfig | None, db: Database) -> None:
    """Refuse, before anything starts, a console served beyond loopback that nobody would have to log in to: it
    needs console accounts or a token (VigilError naming the address)."""
    from edge_app.web.accounts import Accounts
    from edge_app.web.server import LOOPBACK

    if server is None or not server.enabled or server.host in LOOPBACK or server.token or Accounts(db).any():
        return
    raise VigilError(f"server.host {server.host} (config or --http): serving beyond 127.0.0.1 needs console accounts "
                     f"(vigil users add NAME --role operator) or a token (server.token)")


def build_sinks(cfg: Config, db: Database) -> list[Sink]:
    """Networked alert sinks from ``alerts`` in the config (MQTT, the webhook), their outboxes on ``db`` (an earlier
    version's outbox in a sink's ``spool_dir`` is imported); built, not started."""
    from edge_app.alerts.spool import Spool

    sinks: list[Sink] = []
    if cfg.alerts.mqtt.enabled:
        from edge_app.alerts.mqtt import MqttSink

        sinks.append(MqttSink(cfg.alerts.mqtt, Spool(db, "mqtt", legacy=cfg.alerts.mqtt.spool_dir)))
    if cfg.alerts.webhook.enabled:
        from edge_app.alerts.webhook import WebhookSink

        sinks.append(WebhookSink(cfg.alerts.webhook, Spool(db, "webhook", legacy=cfg.alerts.webhook.spool_dir)))
    if cfg.alerts.notify.enabled:
        from edge_app.alerts.notify import NotifySink

        sinks.append(NotifySink(cfg.alerts.notify, Spool(db, "apprise", legacy=cfg.alerts.notify.spool_dir)))
    return sinks


def build_runner(cfg: Config, stack: PoseStack, specs: list[SourceSpec], record: Path | None = None,
                 show: bool = False, kiosk: bool = False, events: Path | None = None, max_frames: int | None = None,
                 duration: float | None = None, log_every: float = 10.0, server: ServerConfig | None = None,
                 sinks: list[Sink] | None = None, catch_signals: bool = False, db: Database | None = None,
                 keep_history: bool = True) -> Runner:
    """Everything a run needs, from the config and the command line, nothing started: file sources are probed
    (one decoded frame), the event log and evidence folders checked, the database opened (``db``, by default the
    config's ``storage``), the console's TLS certificate loaded or made. ``sinks``: the networked alert sinks
    (``build_sinks``); ``server``: the operator server's settings (None or disabled: no server); ``keep_history``:
    False for a run that must leave the box's history alone (a console upload's check). Raises VigilError naming
    the source, file or folder that is wrong."""
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
    if not cfg.sources:
        check_source_names(cfg, names)  # zones and overrides can only name this run's sources
    else:
        for name in sorted(({z.source for z in cfg.zones} | set(cfg.per_source)) - set(names)):
            log.warning("%s: source %s is not in this run (--source): its zones and overrides wait for it", cfg.path,
                        name)
    for spec in specs:
        probe(spec)
    for name in names:
        zones = zones_for(cfg, name)
        if zones:
            log.info("stream %s: zones %s", name, ", ".join(f"{z.name} ({z.rule} {'+'.join(z.alerts)})" for z in zones))
        if cfg.per_source.get(name):
            log.info("stream %s: analysis settings of its own (per_source): %s", name, cfg.per_source[name])
    processors = {s.name: StreamProcessor(s.name, cfg, stack.engine(cfg), Tracker(stack.tracker_settings(cfg)),
                                          stream_analyzers(cfg, stack, s.name), ZoneGate(zones_for(cfg, s.name)))
                  for s in specs}
    history, accounts, tls, checker, restored = None, None, None, None, []
    if keep_history:
        db = db if db is not None else open_storage(cfg)
        check_server_access(server, db)
        history = AlertHistory(db)
        restored = history.open_alerts()
        if restored:
            log.warning("%d alert(s) of an earlier run still open (not cleared): on the board until an operator "
                        "clears them", len(restored))
        from edge_app.web.accounts import Accounts

        accounts = Accounts(db, server.session_hours if server is not None else 12.0)
    metrics, hub = Metrics(), FrameHub()
    board = AlertBoard(on_change=history.save, restored=restored) if history is not None else AlertBoard()
    if server is not None and server.enabled and server.tls.enabled:
        from edge_app.web.tls import server_context

        tls = server_context(server.tls, server.host)
    if server is not None and server.enabled and server.uploads.enabled and history is not None:
        checker = ClipChecker(server.uploads, server.uploads.dir, history.db, upload_check(cfg, stack))
    evidence = cfg.alerts.evidence if cfg.alerts.evidence.enabled else None
    event_log = EventLog(events, int(cfg.alerts.event_log_max_mb * 2**20), cfg.alerts.event_log_backups)
    # a check of an upload logs its own summary: its alerts are not the box's (no "ALERT" lines for them)
    kept = [LogSink(), history] if history is not None else []
    bus = EventBus(board, metrics, evidence, [event_log, *kept, *(sinks or [])], annotate=annotate_alert)
    renderer = Renderer(names, metrics, stack.landmarks.compiled.device, stack.landmarks.run.name, record,
                        Window(kiosk=kiosk) if show else None, lossless=all(s.lossless for s in specs), hub=hub,
                        board=board, evidence=EvidenceRecorder(evidence) if evidence else None)
    models = {"detector": stack.detector.describe(), "landmarks": stack.landmarks.describe()}
    def retuned(new: Config, stream: str, old: list[Analyzer]) -> list[Analyzer]:
        return stream_analyzers(new, stack, stream, old)

    return Runner(cfg, [CaptureThread(s) for s in specs], processors, bus, renderer, hub, metrics, board, models,
                  server=server, max_frames=max_frames, duration=duration, log_every=log_every,
                  catch_signals=catch_signals, retuned=retuned, history=history, accounts=accounts, tls=tls,
                  checker=checker)


def upload_check(cfg: Config, stack: PoseStack) -> RunCheck:
    """How a console upload is checked (checks.py): the same pipeline as the live streams (this config's models,
    analyzers and drawing; the compiled models shared), every frame, in the calling thread, writing nothing but the
    annotated result in the upload's folder: no evidence, no event log, no sinks, no history, no server."""
    alerts = dataclasses.replace(cfg.alerts, evidence=dataclasses.replace(cfg.alerts.evidence, enabled=False))
    check_cfg = dataclasses.replace(cfg, alerts=alerts, sources=[], zones=[], per_source={})
    limit = cfg.server.uploads.max_seconds

    def run(path: Path, folder: Path, kind: str, exercise: str, stop: threading.Event) -> dict:
        spec = SourceSpec("upload", str(path), realtime=False, lossless=True)
        analysis = dataclasses.replace(check_cfg.analysis, exercise=dataclasses.replace(
            check_cfg.analysis.exercise, kind=exercise))
        output = folder / ("annotated.mp4" if kind == "video" else "annotated.jpg")
        memory = MemorySink()
        runner = build_runner(dataclasses.replace(check_cfg, analysis=analysis), stack, [spec],
                              record=output if kind == "video" else None, log_every=3600.0, sinks=[memory],
                              keep_history=False)
        def stop_at_limit(item) -> None:
            if item.frame.media_time > limit or stop.is_set():
                runner.stop_event.set()

        runner.observers.append(stop_at_limit)
        if kind == "image":
            runner.hub.keep_drawn()  # the annotated photo is the hub's last view (a video is drawn for its recording)
        summary = runner.run()
        if kind == "image":
            _, view = runner.hub.newer_than(0, 0.0, "upload")
            if view is None or not cv2.imwrite(str(output), view):
                raise VigilError(f"{path.name}: the annotated photo could not be written")
        return {"events": memory.records, "frames": summary["frames"], "output": output.name}

    return run
