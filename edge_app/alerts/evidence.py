"""Evidence of each alert: an annotated snapshot (JPEG) when it is raised, and a short clip (MP4) from a ring buffer
of the seconds before to the seconds after, in a bounded folder (oldest files removed beyond a size or an age).

The file names are fixed when the alert is raised (:func:`paths_for`). The pipeline writes the snapshot before the
event goes out, so the event that goes to the log, MQTT and the webhook names only files that exist (or says the
evidence was not saved); the render thread, which has the annotated frames, writes the clip. The folder must take a
file at start; a write that fails later (a full disk) is counted and said once (io_faults.py) and never stops the
monitor.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from edge_app.errors import VigilError
from edge_app.io_faults import IO_FAULTS, check_writable
from edge_app.records import Event
from edge_app.schema import option

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EvidenceSettings:
    """The ``alerts.evidence`` config section."""

    enabled: bool = option(True, "save a snapshot and a clip of every raised alert")
    dir: Path = option(Path("evidence"), "folder for the files (relative: from the Vigil home)")
    before_s: float = option(5.0, "seconds of video before the alert in its clip")
    after_s: float = option(5.0, "seconds of video after the alert in its clip")
    max_mb: float = option(2000.0, "the folder is kept under this size: oldest files removed first")
    max_days: float = option(30.0, "files older than this are removed")
    jpeg_quality: int = option(85, "JPEG quality of snapshots and of the frames buffered for clips")

    def validate(self) -> None:
        if self.before_s < 0 or self.after_s < 0 or self.max_mb <= 0 or self.max_days <= 0:
            raise ValueError("before_s and after_s must be >= 0, max_mb and max_days > 0")


def _safe(text: str) -> str:
    """A stream or type name made safe as part of a file name: Unicode letters and digits, ``_`` and ``-`` kept (a
    stream called 走廊 stays 走廊); anything else (separators, dots, spaces) replaced by ``_`` and a short hash of the
    original added, so two names never share a folder; at most 64 characters."""
    safe = re.sub(r"[^\w-]", "_", text)[:64]
    if safe == text and safe:
        return safe
    return f"{safe[:55]}-{hashlib.sha1(text.encode()).hexdigest()[:8]}"


def paths_for(settings: EvidenceSettings, event: Event) -> tuple[Path, Path]:
    """The snapshot (.jpg) and clip (.mp4) paths of a raised alert: ``<dir>/<stream>/<stamp>-<stream>-<type>-track<id>``
    (the stream in the file name too, so a file copied out of its folder still says where it came from)."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(event.wall_time))
    ms = int((event.wall_time % 1) * 1000)
    stream = _safe(event.stream)
    stem = f"{stamp}.{ms:03d}-{stream}-{_safe(event.type)}-track{event.track_id}"
    folder = settings.dir / stream
    return folder / f"{stem}.jpg", folder / f"{stem}.mp4"


@dataclass
class _Clip:
    path: Path
    until: float  # media time
    writer: cv2.VideoWriter | None = None


class EvidenceRecorder:
    """Per stream: a ring buffer of recent annotated frames (as JPEG, so memory stays small) and the clips being
    written. Called from the render thread only."""

    def __init__(self, settings: EvidenceSettings):
        self.s = settings
        try:
            check_writable(settings.dir)
        except OSError as exc:
            raise VigilError(f"alerts.evidence.dir {settings.dir}: cannot write ({exc.strerror})") from None
        self.buffers: dict[str, deque] = {}
        self.clips: dict[str, list[_Clip]] = {}
        self.written: list[Path] = []

    def frame(self, stream: str, media_time: float, image: np.ndarray, raised: list[Event]) -> None:
        ok, jpeg = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, self.s.jpeg_quality])
        buf = self.buffers.setdefault(stream, deque())
        if ok:
            buf.append((media_time, jpeg))
        while buf and buf[0][0] < media_time - self.s.before_s:
            buf.popleft()
        for event in raised:
            self._start(stream, event, image, media_time)
        for clip in list(self.clips.get(stream, [])):
            if clip.writer is not None:
                clip.writer.write(image)
            if media_time >= clip.until:
                self._finish(stream, clip)

    def _start(self, stream: str, event: Event, image: np.ndarray, media_time: float) -> None:
        self.written.append(Path(event.details["snapshot"]))  # written by the pipeline before the event went out
        clip_path = Path(event.details["clip"])
        buf = list(self.buffers.get(stream, []))
        span = buf[-1][0] - buf[0][0] if len(buf) > 1 else 0.0
        fps = (len(buf) - 1) / span if span > 0 else 15.0
        h, w = image.shape[:2]
        try:
            clip_path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            IO_FAULTS.failed("evidence", clip_path.parent, exc, "the alert's clip is not saved")
        writer = cv2.VideoWriter(str(clip_path), cv2.VideoWriter_fourcc(*"mp4v"), max(1.0, min(fps, 60.0)),
                                 (w, h))
        clip = _Clip(clip_path, media_time + self.s.after_s, writer if writer.isOpened() else None)
        if clip.writer is None:
            IO_FAULTS.failed("evidence", clip_path, OSError(0, "the video writer cannot open it"),
                             "the alert's clip is not saved")
        else:
            for _, jpeg in buf[:-1]:  # the buffered seconds before (the current frame is written by frame())
                frame = cv2.imdecode(jpeg, cv2.IMREAD_COLOR)
                if frame is not None and frame.shape[:2] == (h, w):
                    clip.writer.write(frame)
        self.clips.setdefault(stream, []).append(clip)

    def _finish(self, stream: str, clip: _Clip) -> None:
        if clip.writer is not None:
            clip.writer.release()
            try:
                complete = clip.path.stat().st_size > 0
            except OSError:
                complete = False
            if complete:
                self.written.append(clip.path)
                IO_FAULTS.ok("evidence")
                log.info("evidence clip %s", clip.path)
            else:  # OpenCV's writer says nothing when the disk fills
                IO_FAULTS.failed("evidence", clip.path, OSError(0, "the clip is empty (disk full?)"),
                                 "the alert's clip is not saved")
        self.clips[stream].remove(clip)
        try:
            self.prune()
        except OSError as exc:
            IO_FAULTS.failed("evidence", self.s.dir, exc, "old evidence is not removed")

    def close(self) -> None:
        for stream, clips in list(self.clips.items()):
            for clip in list(clips):
                self._finish(stream, clip)

    def prune(self) -> None:
        """Remove files older than max_days, then the oldest until the folder is under max_mb."""
        files = sorted((p for p in self.s.dir.rglob("*") if p.is_file() and p.suffix in (".jpg", ".mp4")),
                       key=lambda p: p.stat().st_mtime)
        now = time.time()
        total = sum(p.stat().st_size for p in files)
        for p in files:
            too_old = now - p.stat().st_mtime > self.s.max_days * 86400
            if too_old or total > self.s.max_mb * 2**20:
                total -= p.stat().st_size
                p.unlink(missing_ok=True)
