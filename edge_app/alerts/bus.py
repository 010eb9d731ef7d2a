"""The event bus: every event, from an analyzer or an operator, goes out through here, in one order.

For each event, on the pipeline thread: the alert's snapshot is written (a raised alert, when evidence is on), the
alert board takes it (and names the alert's id), then every sink gets its record (the console log, the --events
file, MQTT, the webhook, in the order they were added), and the glass-to-alert time is counted. Nothing changes an
event after it is published; each step returns a new one.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from edge_app.alerts.board import AlertBoard, severity
from edge_app.alerts.evidence import EvidenceSettings, paths_for
from edge_app.alerts.sink import Sink, SinkBase
from edge_app.errors import VigilError
from edge_app.io_faults import IO_FAULTS, check_writable
from edge_app.records import Event, EventState, Track
from edge_app.timing import Metrics

log = logging.getLogger(__name__)
Annotate = Callable[[np.ndarray, Event, Track | None], np.ndarray]  # (BGR image, event, track) -> marked copy


def event_record(event: Event, frame_seq: int | None) -> dict:
    """An event as every sink writes it (event log, MQTT payload). Operator actions (acknowledged, or cleared by
    an operator) belong to no frame: their ``frame`` is null."""
    return {"ts": round(event.media_time, 3), "wall": round(event.wall_time, 3), "stream": event.stream,
            "frame": frame_seq, "type": event.type, "track_id": event.track_id, "state": event.state,
            "severity": "info" if event.state == "info" else severity(event.type),
            "score": round(event.score, 4), "details": event.details}


class EventLog(SinkBase):
    """--events: one JSON object per line, flushed per event so nothing is lost on a crash. When the file passes
    ``max_bytes`` it is rotated (FILE -> FILE.1 -> ... -> FILE.<backups>, the oldest dropped). Its folder must take a
    file at start (VigilError otherwise); a write that fails later (a full disk) is counted and said once
    (io_faults.py), and monitoring goes on."""

    NAME = "events"
    name = "events"

    def __init__(self, path: Path | None, max_bytes: int = 50 * 2**20, backups: int = 5):
        self.path, self.max_bytes, self.backups = path, max_bytes, backups
        self._fh = None
        if path is not None:
            try:
                check_writable(path.parent)
                self._fh = open(path, "a", encoding="utf-8")
            except OSError as exc:
                raise VigilError(f"--events {path}: cannot write ({exc.strerror})") from None

    def publish(self, record: dict) -> None:
        """Append one event record as a JSON line (flushed); a failed write is counted and said once."""
        if self.path is None:
            return
        try:
            if self._fh is None:  # closed after a failed write: drop the part-written line, then go on
                self._cut_partial_line()
                self._fh = open(self.path, "a", encoding="utf-8")
            self._fh.write(json.dumps(record) + "\n")
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

    def close(self, flush_timeout: float = 5.0) -> None:
        if self._fh is not None:
            try:
                self._fh.close()
            except OSError as exc:  # the last buffered line could not be written
                IO_FAULTS.failed(self.NAME, self.path, exc, "the last event was not written to this file")
            self._fh = None


class LogSink(SinkBase):
    """Alerts to the console log: a raised alert is a warning, its clearing or acknowledgement an info line."""

    name = "log"

    def publish(self, record: dict) -> None:
        if record["state"] == EventState.RAISED:
            log.warning("ALERT %s stream %s track %d (score %.2f) %s", record["type"], record["stream"],
                        record["track_id"], record["score"], record["details"])
        elif record["state"] in (EventState.CLEARED, EventState.ACKNOWLEDGED):
            log.info("%s %s stream %s track %d %s", record["state"], record["type"], record["stream"],
                     record["track_id"], record["details"])


class MemorySink(SinkBase):
    """Every record published, kept in a list (``records``): for the evaluation of labelled clips and for tests."""

    name = "memory"

    def __init__(self):
        self.records: list[dict] = []
        self.statuses: list[tuple[str, dict]] = []

    def publish(self, record: dict) -> None:
        self.records.append(record)

    def status(self, stream: str, status: dict) -> None:
        self.statuses.append((stream, status))


class EventBus:
    """Publishes events to the alert board and the sinks (see the module docstring).

    ``evidence``: the evidence settings when snapshots are on, else None; ``annotate(image, event, track)`` marks
    a snapshot (the render side's drawing, render/draw.py, given here so alerts never import render); ``metrics``
    counts glass-to-alert times.
    Sinks are started by :meth:`start` (or as they are added after it) and closed by :meth:`close`; a sink that
    fails to close is logged and the others still close."""

    def __init__(self, board: AlertBoard, metrics: Metrics, evidence: EvidenceSettings | None = None,
                 sinks: list[Sink] | None = None, annotate: Annotate | None = None):
        self.board, self.metrics, self.evidence = board, metrics, evidence
        self.annotate = annotate or (lambda image, event, track: image)
        self.sinks: list[Sink] = list(sinks or [])
        self._started = False

    def add_sink(self, sink: Sink) -> Sink:
        """Add a sink (it gets every event published from now on); returns it."""
        self.sinks.append(sink)
        if self._started:
            sink.start()
        return sink

    def start(self) -> None:
        for sink in self.sinks:
            sink.start()
        self._started = True

    def publish(self, event: Event, frame_seq: int | None, image: np.ndarray | None = None,
                track: Track | None = None) -> Event:
        """One event to the board and every sink; returns the event as published (with its alert id, and the
        evidence it names). A raised alert's snapshot is written first (from ``image``, BGR, the person's ``track``
        drawn), so the payloads name only evidence that exists."""
        if event.state == EventState.RAISED and self.evidence is not None and image is not None:
            event = self._snapshot(event, image, track)
        event = self.board.observe(event)
        record = event_record(event, frame_seq)
        for sink in self.sinks:
            sink.publish(record)
        if event.state == EventState.RAISED:
            self.metrics.alert((time.time() - event.wall_time) * 1000)
        return event

    def operator_actions(self) -> list[Event]:
        """Acknowledgements and clears from the console or the window, applied and published in the pipeline
        thread, so they go out in order with the alerts."""
        events = self.board.apply_requests()
        for event in events:
            self.publish(event, None)
        return events

    def status(self, stream: str, status: dict) -> None:
        """A stream's status to every sink that takes it (MQTT, retained)."""
        for sink in self.sinks:
            sink.status(stream, status)

    def close(self, flush_timeout: float = 5.0) -> None:
        for sink in self.sinks:
            try:
                sink.close(flush_timeout)
            except Exception:  # noqa: BLE001 - one sink's fault must not keep the others from closing
                log.exception("closing the %s sink failed", sink.name)

    def _snapshot(self, event: Event, image: np.ndarray, track: Track | None) -> Event:
        """Write the alert's snapshot (the person and the alert's banner drawn); returns the event naming it and
        the clip the render thread will write, or, when the disk refuses, saying so instead of naming files that do
        not exist."""
        settings = self.evidence
        snapshot, clip = paths_for(settings, event)
        marked = self.annotate(image, event, track)
        ok, jpeg = cv2.imencode(".jpg", marked, [cv2.IMWRITE_JPEG_QUALITY, settings.jpeg_quality])
        try:
            snapshot.parent.mkdir(parents=True, exist_ok=True)
            with open(snapshot, "wb") as fh:
                fh.write(jpeg.tobytes() if ok else b"")
            IO_FAULTS.ok("evidence")
        except OSError as exc:
            with contextlib.suppress(OSError):
                snapshot.unlink(missing_ok=True)  # a part-written file names nothing useful
            IO_FAULTS.failed("evidence", snapshot.parent, exc, "alerts are raised and sent without snapshot or clip")
            return dataclasses.replace(event, details={**event.details,
                                                       "evidence": f"not saved ({exc.strerror or exc})"})
        return dataclasses.replace(event, details={**event.details, "snapshot": str(snapshot), "clip": str(clip)})
