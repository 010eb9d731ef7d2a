"""`python -m edge_app evaluate`: the whole pipeline on labelled clips, and what operators care about: were falls
alerted, how fast, and how many false alerts per hour of ordinary activity.

A clip list is JSON, paths relative to the list file::

    [{"path": "../../shared/data/falls/urfd/fall-15-cam0.mp4", "kind": "fall", "crop": [320, 0, 320, 240],
      "label_source": "urfd-csv", "sequence": "fall-15", "name": "urfd-fall-15"},
     {"path": ".../Activity8/Trial2Cam1.mp4", "kind": "adl", "label_source": "upfall-activity"}]

``kind`` is ``fall`` or ``adl`` (daily activity); ``crop`` optional; ``sequence`` names the clip's rows in a
``--labels`` CSV of UR Fall's format (``sequence,frame,label,...``; label -1 not lying, 0 falling, 1 lying; frames
from 1), default the file name without ``-cam0``. A folder instead of a list takes every video in it, a fall clip when
its name holds "fall". The alert delay is measured from the first labelled lying frame, where labels exist.
"""

from __future__ import annotations

import csv
import json
import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from edge_app.errors import VigilError
from edge_app.records import EventState

log = logging.getLogger(__name__)

VIDEO_SUFFIXES = {".mp4", ".avi", ".mkv", ".mov"}


@dataclass(frozen=True)
class Clip:
    name: str
    path: Path
    kind: str  # fall | adl
    label_source: str
    crop: tuple[int, int, int, int] | None = None
    split: str = "test"
    labels: tuple[int, ...] | None = None  # per frame: -1 not lying, 0 falling, 1 lying
    sequence: str | None = None

    def to_json(self) -> dict:
        out = asdict(self)
        out["path"] = str(self.path)
        out.pop("labels")
        out["per_frame_labels"] = self.labels is not None
        return out

    @property
    def first_lying_frame(self) -> int | None:
        if self.labels is None or 1 not in self.labels:
            return None
        return self.labels.index(1)


def urfd_labels(csv_path: Path) -> dict[str, tuple[int, ...]]:
    """Per-frame labels by sequence from a CSV of UR Fall's format (no header: sequence, frame (1-based), label)."""
    rows: dict[str, dict[int, int]] = {}
    try:
        with open(csv_path, newline="") as fh:
            for i, row in enumerate(csv.reader(fh)):
                if len(row) < 3 or not row[1].strip().isdigit():
                    continue
                try:
                    rows.setdefault(row[0], {})[int(row[1])] = int(float(row[2]))
                except ValueError:
                    raise VigilError(f"{csv_path}: line {i + 1}: label {row[2]!r} is not a number") from None
    except OSError as exc:
        raise VigilError(f"{csv_path}: cannot read ({exc.strerror})") from None
    if not rows:
        raise VigilError(f"{csv_path}: no labels (expected rows of sequence,frame,label)")
    return {seq: tuple(frames.get(i, -1) for i in range(1, max(frames) + 1)) for seq, frames in rows.items()}


def load_clips(source: Path, labels: Path | None = None) -> list[Clip]:
    if not source.exists():
        raise VigilError(f"{source}: not found (give a clip list .json or a folder of videos)")
    if source.is_dir():
        videos = sorted(p for p in source.iterdir() if p.suffix.lower() in VIDEO_SUFFIXES)
        if not videos:
            raise VigilError(f"{source}: no videos ({', '.join(sorted(VIDEO_SUFFIXES))})")
        clips = [Clip(p.stem, p, "fall" if "fall" in p.name.lower() else "adl", "file-name") for p in videos]
    else:
        try:
            items = json.loads(source.read_text())
        except (ValueError, UnicodeDecodeError) as exc:
            raise VigilError(f"{source}: not a JSON clip list ({exc.__class__.__name__})") from None
        if not isinstance(items, list) or not items:
            raise VigilError(f"{source}: expected a non-empty list of clips")
        clips = []
        for i, item in enumerate(items):
            if not isinstance(item, dict) or not isinstance(item.get("path"), str) or \
                    item.get("kind") not in ("fall", "adl"):
                raise VigilError(f"{source}: clip {i}: needs \"path\" and \"kind\" (\"fall\" or \"adl\")")
            path = (source.parent / item["path"]).resolve()
            crop = item.get("crop")
            if crop is not None and (not isinstance(crop, list) or len(crop) != 4 or
                                     not all(isinstance(v, int) and v >= 0 for v in crop)):
                raise VigilError(f"{source}: clip {i}: crop must be [x, y, w, h] of whole numbers")
            clips.append(Clip(item.get("name") or path.stem, path, item["kind"], item.get("label_source", "list"),
                              tuple(crop) if crop else None, item.get("split", "test"), None, item.get("sequence")))
    missing = [c for c in clips if not c.path.is_file()]
    if missing:
        raise VigilError(f"{source}: clip {missing[0].name}: {missing[0].path} not found")
    if labels is not None:
        table = urfd_labels(labels)
        clips = [Clip(c.name, c.path, c.kind, c.label_source, c.crop, c.split,
                      table.get(c.sequence or c.path.stem.replace("-cam0", "")), c.sequence) for c in clips]
    return clips


def _clip_result(clip: Clip, events: list[dict], summary: dict, fps: float) -> dict:
    """One clip's alerts (``events``: the event records the run published) against its labels."""
    stream = summary["streams"].get(clip.name, {})
    frames = stream.get("frames", 0)
    seconds = frames / fps if fps > 0 else 0.0
    raised = [e for e in events if e["state"] == EventState.RAISED]
    falls = [e for e in raised if e["type"] == "fall"]
    fatigue = [e for e in raised if e["type"] == "fatigue"]
    out = {"clip": clip.name, "path": str(clip.path), "kind": clip.kind, "label_source": clip.label_source,
           "frames": frames, "seconds": round(seconds, 2), "fall_alerts": len(falls),
           "fall_alert_ts": [e["ts"] for e in falls], "fatigue_alerts": len(fatigue),
           "fatigue_alert_ts": [e["ts"] for e in fatigue]}
    lying = clip.first_lying_frame
    if lying is not None:
        out["first_lying_s"] = round(lying / fps, 3)
        out["alert_delay_s"] = round(falls[0]["ts"] - lying / fps, 3) if falls else None
    return out


def totals(results: list[dict]) -> dict:
    falls = [r for r in results if r["kind"] == "fall"]
    adl = [r for r in results if r["kind"] == "adl"]
    delays = [r["alert_delay_s"] for r in falls if r.get("alert_delay_s") is not None]
    adl_hours = sum(r["seconds"] for r in adl) / 3600
    detected = sum(r["fall_alerts"] > 0 for r in falls)
    return {
        "fall_clips": len(falls), "falls_alerted": detected,
        "fall_recall": round(detected / len(falls), 4) if falls else None,
        "missed": [r["clip"] for r in falls if not r["fall_alerts"]],
        "extra_fall_alerts_in_fall_clips": sum(max(0, r["fall_alerts"] - 1) for r in falls),
        "alert_delay_s": {"clips_with_labels": len(delays),
                          "median": round(float(np.median(delays)), 3) if delays else None,
                          "max": round(float(np.max(delays)), 3) if delays else None},
        "adl_clips": len(adl), "adl_hours": round(adl_hours, 4),
        "false_fall_alerts": sum(r["fall_alerts"] for r in adl),
        "false_fall_alerts_per_hour": round(sum(r["fall_alerts"] for r in adl) / adl_hours, 2) if adl_hours else None,
        "fatigue_alerts_adl": sum(r["fatigue_alerts"] for r in adl),
        "fatigue_alerts_per_hour_adl": round(sum(r["fatigue_alerts"] for r in adl) / adl_hours, 2)
        if adl_hours else None,
        "fatigue_alerts_fall_clips": sum(r["fatigue_alerts"] for r in falls),
    }


def evaluate(cfg, clips: list[Clip]) -> dict:
    """Runs the real pipeline (capture, pose, tracking, analyzers) on every frame of each clip, headless."""
    from edge_app.alerts.bus import MemorySink
    from edge_app.app import build_pose_stack, build_runner
    from edge_app.sources.capture import SourceSpec, open_source

    stack = build_pose_stack(cfg)
    results = []
    started = time.time()
    for i, clip in enumerate(clips, 1):
        spec = SourceSpec(clip.name, str(clip.path), crop=clip.crop, realtime=False, lossless=True)
        reader = open_source(spec)  # the clip's nominal rate, to place its labelled frames in media time
        fps = reader.fps or 30.0
        reader.close()
        events = MemorySink()
        summary = build_runner(cfg, stack, [spec], log_every=1e9, sinks=[events], keep_history=False).run()
        result = _clip_result(clip, events.records, summary, fps)
        results.append(result)
        log.info("[%d/%d] %s (%s): %d fall alert(s)%s, %d fatigue alert(s)", i, len(clips), clip.name, clip.kind,
                 result["fall_alerts"], f", delay {result['alert_delay_s']} s" if result.get("alert_delay_s")
                 is not None else "", result["fatigue_alerts"])
    return {"clips": results, "totals": totals(results), "seconds": round(time.time() - started, 1),
            "models": {"detector": stack.detector.describe(), "landmarks": stack.landmarks.describe(),
                       **{name: chosen.describe() for name, chosen in (stack.sequence_models or {}).items()}},
            "config": str(cfg.path)}
