"""Vigil's configuration: one YAML file validated into a typed model, one section per concern.

``python -m edge_app config --describe`` prints every key with its type, default and description.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from edge_app.alerts.evidence import EvidenceSettings
from edge_app.alerts.mqtt import MqttSettings
from edge_app.alerts.notify import AppriseSettings
from edge_app.alerts.webhook import WebhookSettings
from edge_app.analysis.exercise import ExerciseSettings
from edge_app.analysis.fall import FallSettings
from edge_app.analysis.fatigue import FatigueSettings
from edge_app.analysis.zones import ZoneConfig
from edge_app.checks import UploadSettings
from edge_app.errors import ConfigError
from edge_app.home import in_home, vigil_home
from edge_app.schema import build, load_yaml, option
from edge_app.storage.db import StorageSettings

Precision = Literal["auto", "int8", "bf16", "f16", "f32"]


@dataclass(frozen=True)
class ModelsConfig:
    dir: Path = option(Path("models_ir"), "folder written by `make models` (holds manifest.json; relative: from the "
                                          "Vigil home, edge_app/home.py)")
    detector: str = option("pose_detector", "person finder in the manifest: pose_detector (BlazePose, face-anchored, "
                                            "one person near the camera) or person_finder (MoveNet MultiPose: "
                                            "bodies, several people, far away, lying down)")
    landmarks: str = option("pose_landmark_full", "landmark model: pose_landmark_lite, _full or _heavy")
    precision: Precision = option("auto", "auto = of the runs within their accuracy bound, the most exact unless a "
                                          "less exact one is at least 15 % faster on this device")


@dataclass(frozen=True)
class InferenceConfig:
    device: str = option("CPU", "OpenVINO device: CPU, GPU, NPU or AUTO; a missing device falls back to CPU")
    hint: Literal["LATENCY", "THROUGHPUT"] = option("LATENCY", "OpenVINO performance hint")
    threads: int | None = option(None, "CPU threads per inference (null: the cores shared out among the streams, "
                                       "at least 1: on 2 cores one stream gets 2, two or more get 1 each, their "
                                       "requests in flight together)")
    cache_dir: Path | None = option(Path(".cache/vigil/ov_cache"), "compiled-model cache folder (relative: from the "
                                                                   "Vigil home)")

    def validate(self) -> None:
        if self.threads is not None and self.threads < 1:
            raise ValueError("threads must be >= 1")

    def threads_for(self, streams: int, cores: int | None = None) -> int | None:
        """The threads per inference for a run of ``streams`` streams on ``cores`` cores (default: the cores this
        process may run on): the configured number, else the cores shared out, at least 1. With several streams the
        runner keeps every stream's requests in flight together, so one thread each fills the cores; one stream's
        frames follow each other (the next ROI comes from the last landmarks), so it gets them all: on 2 cores one
        clip every frame ran at 140-158 fps on 173 % CPU with 2 threads, against 111-124 fps on 130 % with 1 (same
        session); in real time at 18 fps, 29 % against 23 % CPU and glass-to-render p99 17 against 21 ms."""
        if self.threads is not None:
            return self.threads
        cores = cores or len(os.sched_getaffinity(0))
        return max(1, cores // max(1, streams))


@dataclass(frozen=True)
class PoseConfig:
    max_people: int = option(4, "most people tracked per stream")
    detect_every: int = option(10, "frames between detector runs while people are tracked")
    min_detection_score: float = option(0.5, "person finder score threshold (person_finder: 0.2 suits CCTV)")
    min_presence: float = option(0.5, "landmark pose-flag below which a person is dropped")
    tiles: tuple[int, int] | None = option(None, "[rows, cols] extra finder tiles for small people (CCTV)")

    def validate(self) -> None:
        if self.max_people < 1:
            raise ValueError("max_people must be >= 1")
        if self.detect_every < 0:
            raise ValueError("detect_every must be >= 0")
        if not 0 < self.min_detection_score < 1 or not 0 < self.min_presence < 1:
            raise ValueError("scores must be between 0 and 1")
        if self.tiles is not None and (self.tiles[0] < 1 or self.tiles[1] < 1):
            raise ValueError("tiles must be at least [1, 1]")



@dataclass(frozen=True)
class TlsSettings:
    """The ``server.tls`` config section."""

    enabled: bool = option(False, "serve the console over HTTPS")
    cert: Path | None = option(None, "PEM certificate (chain) file; null: a self-signed one is made in self_signed_dir")
    key: Path | None = option(None, "PEM private key of cert")
    self_signed_dir: Path = option(Path("data/tls"), "where the self-signed certificate is kept (relative: from the "
                                                     "Vigil home)")

    def validate(self) -> None:
        if (self.cert is None) != (self.key is None):
            raise ValueError("give both cert and key, or neither (a self-signed certificate is made)")


@dataclass(frozen=True)
class ServerConfig:
    enabled: bool = option(True, "serve the operator view (MJPEG), /metrics (Prometheus) and /health over HTTP")
    host: str = option("127.0.0.1", "address to listen on; anything but loopback requires console accounts "
                                    "(vigil users add) or a token")
    port: int = option(8090, "TCP port (0 = any free port, logged at start)")
    token: str | None = option(None, "bearer token of machine clients (Prometheus, scripts: Authorization header "
                                     "or ?token=); browsers log in with console accounts", secret=True)
    mjpeg_fps: float = option(10.0, "default frame rate of /stream.mjpg (clients may ask ?fps=N, up to 30)")
    jpeg_quality: int = option(80, "JPEG quality of the stream and snapshots (10-100)")
    session_hours: float = option(12.0, "a console login lasts this long (hours)")
    tls: TlsSettings = option(factory=TlsSettings, doc="HTTPS: a provided certificate or a self-signed one")
    uploads: UploadSettings = option(factory=UploadSettings, doc="clips and photos checked from the console")

    def validate(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port must be 0-65535, got {self.port}")
        if not 0 < self.session_hours <= 24 * 90:
            raise ValueError("session_hours must be in (0, 2160]")
        if self.token is not None and len(self.token) < 16:
            raise ValueError("token: use at least 16 characters (machine clients send it with every request)")
        if not 0 < self.mjpeg_fps <= 30:
            raise ValueError("mjpeg_fps must be in (0, 30]")
        if not 10 <= self.jpeg_quality <= 100:
            raise ValueError("jpeg_quality must be 10-100")


@dataclass(frozen=True)
class PostureConfig:
    hold_s: float = option(0.4, "a new posture must hold this long before it is reported (seconds)")


@dataclass(frozen=True)
class AnalysisConfig:
    posture: PostureConfig = option(factory=PostureConfig, doc="standing / sitting / lying per person")
    fall: FallSettings = option(factory=FallSettings, doc="fall alerts: sequence model + physical rules")
    fatigue: FatigueSettings = option(factory=FatigueSettings, doc="fatigue alerts: sequence model + hysteresis")
    exercise: ExerciseSettings = option(factory=ExerciseSettings, doc="exercise repetitions and form (off unless a "
                                                                      "kind is set, usually per source)")


@dataclass(frozen=True)
class AlertsConfig:
    mqtt: MqttSettings = option(factory=MqttSettings, doc="events and status to an MQTT broker, spooled on disk")
    webhook: WebhookSettings = option(factory=WebhookSettings, doc="events POSTed to a URL, spooled on disk")
    notify: AppriseSettings = option(factory=AppriseSettings,
                                     doc="notifications through Apprise (e-mail, ntfy, Telegram, ...), spooled on disk")
    evidence: EvidenceSettings = option(factory=EvidenceSettings, doc="snapshot and clip of every raised alert")
    event_log_max_mb: float = option(50.0, "--events file size at which it is rotated (FILE.1 ... FILE.N)")
    event_log_backups: int = option(5, "rotated event logs kept")

    def validate(self) -> None:
        if self.event_log_max_mb <= 0 or self.event_log_backups < 0:
            raise ValueError("event_log_max_mb must be > 0 and event_log_backups >= 0")


@dataclass(frozen=True)
class DisplayConfig:
    window: bool = option(True, "show a window when a display exists (never with --headless)")
    kiosk: bool = option(False, "full-screen window without toolbar; quit keys ignored (also --kiosk)")


@dataclass(frozen=True)
class SourceConfig:
    name: str = option(doc="stream name used in events, metrics and the view (letters, digits, - and _)")
    uri: str = option(doc="video file, image folder, webcam index or rtsp:// URL")
    crop: tuple[int, int, int, int] | None = option(None, "[x, y, w, h] region to analyse, in the turned picture "
                                                          "(null = whole frame)")
    rotate: int = option(0, "turn pictures clockwise by 0, 90, 180 or 270 degrees (a camera mounted upside down: "
                            "180), before any analysis")
    flip: Literal["none", "horizontal", "vertical"] = option("none", "mirror pictures (after rotate)")
    frozen_after_s: float = option(3.0, "identical pictures for this long make the source `frozen` (seconds)")

    def validate(self) -> None:
        if not self.name or not self.name.replace("_", "").replace("-", "").isalnum():
            raise ValueError(f"name {self.name!r}: use letters, digits, - and _ only")
        if not self.uri:
            raise ValueError("uri must not be empty")
        if self.rotate not in (0, 90, 180, 270):
            raise ValueError(f"rotate must be 0, 90, 180 or 270, got {self.rotate}")
        if not self.frozen_after_s > 0:
            raise ValueError("frozen_after_s must be > 0")


@dataclass(frozen=True)
class Config:
    models: ModelsConfig = option(factory=ModelsConfig, doc="which models run, at which precision")
    inference: InferenceConfig = option(factory=InferenceConfig, doc="OpenVINO device and hints")
    pose: PoseConfig = option(factory=PoseConfig, doc="multi-person pose engine")
    analysis: AnalysisConfig = option(factory=AnalysisConfig, doc="what is analysed per person")
    alerts: AlertsConfig = option(factory=AlertsConfig, doc="where events go besides the screen and --events")
    server: ServerConfig = option(factory=ServerConfig, doc="operator HTTP endpoints on the box")
    storage: StorageSettings = option(factory=StorageSettings, doc="the box's database: alert history, outboxes, "
                                                                 "console accounts")
    display: DisplayConfig = option(factory=DisplayConfig, doc="the on-screen operator window")
    sources: list[SourceConfig] = option(factory=list, doc="streams watched when no --source is given")
    zones: list[ZoneConfig] = option(factory=list, doc="named polygons of a source's picture with an alert rule "
                                                       "(analysis/zones.py); the console's zone editor writes them")
    per_source: dict[str, Any] = option(factory=dict, doc="per source name: any `analysis` keys that differ for that "
                                                          "source, e.g. {ward: {fatigue: {enabled: false}}}")
    path: Path | None = option(None, "the file this config came from (set by the loader)")


def default_config() -> Path | None:
    """The config used when none is given: ``configs/default.yaml`` in the Vigil home, or None (built-in
    defaults) when the home has none."""
    path = vigil_home() / "configs" / "default.yaml"
    return path if path.is_file() else None


def load_config(path: str | Path | None = None) -> Config:
    """Read and validate a config file (``path``; None: ``default_config()``, or the built-in defaults when there
    is none). Relative paths in it resolve against the Vigil home (edge_app/home.py). Raises ConfigError naming the
    file and key on bad input."""
    path = Path(path) if path else default_config()
    if path is None:
        return _resolve_paths(Config())
    data = load_yaml(path)
    if isinstance(data, dict):
        data = {k: v for k, v in data.items() if k != "path"}
    cfg = build(Config, data, str(path))
    names = [s.name for s in cfg.sources]
    duplicate = next((n for n in names if names.count(n) > 1), None)
    if duplicate:
        raise ConfigError(f"{path}: sources: name {duplicate!r} is used twice")
    cfg = dataclasses.replace(_resolve_paths(cfg), path=path)
    for name in cfg.per_source:
        analysis_for(cfg, name)  # every override validated now, naming its key
    if cfg.sources:
        check_source_names(cfg, names)
    return cfg


def check_source_names(cfg: Config, names: list[str]) -> None:
    """Raise ConfigError naming the file and key when a zone or a per-source override names a source that is not
    among ``names`` (the config's sources, or the run's --source names)."""
    known = ", ".join(names) or "none"
    for i, zone in enumerate(cfg.zones):
        if zone.source not in names:
            raise ConfigError(f"{cfg.path}: zones[{i}].source: unknown source {zone.source!r} (sources: {known})")
    for name in cfg.per_source:
        if name not in names:
            raise ConfigError(f"{cfg.path}: per_source.{name}: unknown source {name!r} (sources: {known})")


def _merged(base: Any, override: Any) -> Any:
    """``override`` laid over ``base`` (nested mappings merged key by key, anything else replaced)."""
    if isinstance(base, dict) and isinstance(override, dict):
        return {**base, **{k: _merged(base.get(k), v) for k, v in override.items()}}
    return override


def analysis_for(cfg: Config, source: str) -> AnalysisConfig:
    """The ``analysis`` settings for stream ``source``: the config's, with its ``per_source`` overrides laid over
    them and validated as a whole. Raises ConfigError naming ``per_source.SOURCE.KEY``."""
    override = cfg.per_source.get(source)
    if not override:
        return cfg.analysis
    base = dataclasses.asdict(cfg.analysis)
    return build(AnalysisConfig, _merged(base, override), str(cfg.path), f"per_source.{source}")


def zones_for(cfg: Config, source: str) -> list[ZoneConfig]:
    """The zones of stream ``source``, in config order."""
    return [z for z in cfg.zones if z.source == source]


def _resolve_paths(cfg: Config) -> Config:
    """Relative folders (models, compiled-model cache, alert outboxes, evidence) made absolute under the home."""
    mqtt, hook, evidence = cfg.alerts.mqtt, cfg.alerts.webhook, cfg.alerts.evidence
    notify = cfg.alerts.notify
    alerts = dataclasses.replace(cfg.alerts, mqtt=dataclasses.replace(mqtt, spool_dir=in_home(mqtt.spool_dir)),
                                 webhook=dataclasses.replace(hook, spool_dir=in_home(hook.spool_dir)),
                                 notify=dataclasses.replace(notify, spool_dir=in_home(notify.spool_dir)),
                                 evidence=dataclasses.replace(evidence, dir=in_home(evidence.dir)))
    cache = cfg.inference.cache_dir
    inference = dataclasses.replace(cfg.inference, cache_dir=None if cache is None else in_home(cache))
    models = dataclasses.replace(cfg.models, dir=in_home(cfg.models.dir).resolve())
    db = os.environ.get("VIGIL_DB")  # a container or a test run may place the database elsewhere
    storage = dataclasses.replace(cfg.storage, path=Path(db) if db else in_home(cfg.storage.path))
    tls = cfg.server.tls
    tls = dataclasses.replace(tls, self_signed_dir=in_home(tls.self_signed_dir),
                              cert=None if tls.cert is None else in_home(tls.cert),
                              key=None if tls.key is None else in_home(tls.key))
    server = dataclasses.replace(cfg.server, tls=tls, uploads=dataclasses.replace(
        cfg.server.uploads, dir=in_home(cfg.server.uploads.dir)))
    return dataclasses.replace(cfg, alerts=alerts, inference=inference, models=models, storage=storage, server=server)
