"""The render stage: draws skeletons, track IDs, postures and the HUD on each processed frame, then shows the
(mosaic) view in a window, records it, and publishes it to the operator's HTTP view. It runs in its own thread behind a
queue of two frames per stream that drops the oldest, so a slow window or encoder never stalls analysis."""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from edge_app.alerts.board import ALL, Alert, AlertBoard
from edge_app.alerts.clip import ClipWriter
from edge_app.analysis.zones import ZoneConfig
from edge_app.records import Event, Frame, TrackView
from edge_app.render.draw import alert_colour, draw_banner, draw_hud, draw_skeleton, draw_zones, mosaic
from edge_app.render.hub import FrameHub, encode_jpeg
from edge_app.render.window import Window
from edge_app.system import RENDER_NICE, lower_thread_priority
from edge_app.timing import FrameTiming, Metrics

log = logging.getLogger(__name__)

THUMBNAIL_WIDTH = 320
IDLE_DRAW_S = 0.25  # with no new frame this long, a wanted view of the newest undrawn one is drawn


@dataclass(frozen=True)
class Processed:
    """One frame after pose, tracking and analysis: what the render stage draws."""

    frame: Frame
    tracks: list[TrackView]
    events: list[Event]
    timing: FrameTiming
    zones: tuple[ZoneConfig, ...] = ()  # the stream's zones in force, drawn under everything else


def alert_name(alert: Alert) -> str:
    """How the banner names an alert: its type and person, or its type and "earlier run" for one restored from a
    run before a restart (its person number is no one's now)."""
    return f"{alert.type.upper()} {'(earlier run)' if alert.restored else f'#{alert.track_id}'}"


class Renderer(threading.Thread):
    """Draws skeletons, track IDs, postures and the HUD; shows a window and/or records the (mosaic) video."""

    def __init__(self, streams: list[str], metrics: Metrics, device: str, precision: str,
                 record: Path | None, window: Window | None = None, record_fps: float = 15.0,
                 lossless: bool = False, hub: FrameHub | None = None, evidence=None,
                 board: AlertBoard | None = None):
        super().__init__(name="render", daemon=True)
        self.streams, self.metrics, self.device, self.precision = streams, metrics, device, precision
        self.record, self.window, self.record_fps, self.lossless = record, window, record_fps, lossless
        self.hub = hub
        self.evidence = evidence  # an EvidenceRecorder: snapshots and clips of raised alerts
        self.board = board or AlertBoard()  # the alerts' states (active, acknowledged): read, written only by keys
        # two frames per stream: with one queue of two for all, frames of eight streams finishing together pushed
        # each other out (78 of 2,500 frames in 20 s here, uncounted in fps and latency) while nothing was drawn
        self.inbox: queue.Queue[Processed | None] = queue.Queue(maxsize=2 * max(1, len(streams)))
        self.canvases: dict[str, np.ndarray] = {}
        self.dropped = 0
        self._writer = None
        self._size = (0, 0)
        self.error: Exception | None = None
        self._undrawn: dict[str, Processed] = {}  # each stream's newest frame that went by undrawn

    def submit(self, item: Processed) -> None:
        """Live: the oldest waiting item is dropped when the queue is full. Lossless (--fast on files): wait."""
        if self.lossless:
            self.inbox.put(item)
            return
        while True:
            try:
                self.inbox.put_nowait(item)
                return
            except queue.Full:
                try:
                    old = self.inbox.get_nowait()
                    self.dropped += 1
                except queue.Empty:
                    continue
                if old.events:  # a frame may be skipped, its events never: they go with the newer frame
                    item = Processed(item.frame, item.tracks, old.events + item.events, item.timing)

    def close(self) -> None:
        self.inbox.put(None)
        self.join(10)

    def _record(self, view: np.ndarray, item: Processed) -> None:
        """Add the view to the recording: H.264 (a browser plays it) for .mp4, .m4v and .mov, time stamps from the
        stream's media time (one stream) or the capture clock (a mosaic); other suffixes with OpenCV's mp4v at
        ``record_fps``. Raises OSError when the file cannot be written (surfaced by the pipeline)."""
        h264 = self.record.suffix.lower() in (".mp4", ".m4v", ".mov")
        if self._writer is None:
            self._size = (view.shape[1], view.shape[0])
            self._writer = ClipWriter(self.record, self._size, self.record_fps) if h264 else \
                cv2.VideoWriter(str(self.record), cv2.VideoWriter_fourcc(*"mp4v"), self.record_fps, self._size)
        if (view.shape[1], view.shape[0]) != self._size:  # a stream joined the mosaic later
            view = cv2.resize(view, self._size)
        if isinstance(self._writer, ClipWriter):
            self._writer.write(view, item.frame.media_time if len(self.streams) == 1 else item.timing.captured)
        else:
            self._writer.write(view)

    def _finish_recording(self) -> None:
        writer, self._writer = self._writer, None
        if isinstance(writer, ClipWriter):
            path = writer.finish()
            log.info("recording %s (%s, %d frames, %.1f s)", path, writer.codec, writer.frames, writer.duration)
        else:
            writer.release()

    def run(self) -> None:
        lower_thread_priority(RENDER_NICE)  # drawing drops frames when behind; analysis never waits for it
        try:
            while True:
                try:
                    item = self.inbox.get(timeout=IDLE_DRAW_S)
                except queue.Empty:
                    self._draw_undrawn()  # no new frames (a camera offline, a file ended): a client sees the last
                    continue
                if item is None:
                    break
                self._render(item)
        except Exception as exc:  # surfaced by the pipeline
            self.error = exc
        finally:
            if self._writer is not None:
                try:
                    self._finish_recording()
                except OSError as exc:  # surfaced by the pipeline like any render fault
                    self.error = self.error or exc
            if self.window is not None:
                self.window.close()
            if self.evidence is not None:
                self.evidence.close()

    def _draw_alerts(self, canvas: np.ndarray, item: Processed) -> int:
        """Each person with an open alert boxed in its colour (severity, or slate once acknowledged), and a banner
        led by the most urgent alert of the stream. Returns the banner's height (0: none)."""
        alerts = self.board.open_alerts(item.frame.stream)
        by_track: dict[int, list[Alert]] = {}
        for a in alerts:
            if not a.restored:  # an earlier run's track number names nobody on screen now
                by_track.setdefault(a.track_id, []).append(a)
        for t in item.tracks:
            mine = by_track.get(t.id)
            if mine:
                label = f"#{t.id} {', '.join(a.type for a in mine).upper()}"
                colour = alert_colour(mine[0].severity, mine[0].state != "active")
            else:
                label, colour = f"#{t.id} {t.posture or ''}".strip() + (f" | {t.note}" if t.note else ""), None
            draw_skeleton(canvas, t.landmarks, t.box, label, highlight=colour)
        if alerts:
            lead = alerts[0]
            parts = [alert_name(a) for a in alerts if a.state == "active"]
            acked = [alert_name(a) for a in alerts if a.state != "active"]
            if parts:
                text = "  ".join(parts) + ("   [A] acknowledge" if self.window is not None else "")
            else:
                text = "ACK " + "  ".join(acked) + f" ({lead.acknowledged_by})"
            return draw_banner(canvas, text, alert_colour(lead.severity, lead.state != "active"))
        return 0

    def _thumbnails(self, canvas: np.ndarray, events: list[Event]) -> None:
        for e in events:
            if e.state == "raised" and "alert_id" in e.details:
                h, w = canvas.shape[:2]
                small = cv2.resize(canvas, (THUMBNAIL_WIDTH, max(1, round(h * THUMBNAIL_WIDTH / w))),
                                   interpolation=cv2.INTER_AREA)
                self.board.set_thumbnail(e.details["alert_id"], encode_jpeg(small, 80))

    def _needs_drawing(self, item: Processed) -> bool:
        """Whether anything will show ``item``'s annotated view: a window, a recording, the evidence pre-roll, a
        raised alert's thumbnail, or a console client (:meth:`FrameHub.wanted`). A box nobody watches draws
        nothing."""
        return (self.window is not None or self.record is not None or self.evidence is not None
                or any(e.state == "raised" and "alert_id" in e.details for e in item.events)
                or (self.hub is not None and self.hub.wanted()))

    def _render(self, item: Processed) -> None:
        if self._needs_drawing(item):
            self._undrawn.pop(item.frame.stream, None)
            self._draw(item)
        elif self.hub is not None:
            self._undrawn[item.frame.stream] = item
            self.hub.skipped()
        item.timing.rendered = time.monotonic()
        self.metrics.add(item.frame.stream, item.timing)

    def _draw_undrawn(self) -> None:
        """When no frame has come for IDLE_DRAW_S and a client wants a view: draw each stream's newest frame that
        went by undrawn, so a console opened on a camera gone offline still shows its last picture."""
        if self._undrawn and self.hub is not None and self.hub.wanted():
            items, self._undrawn = list(self._undrawn.values()), {}
            for item in items:
                self._draw(item)

    def _draw(self, item: Processed) -> None:
        canvas = item.frame.image.copy()
        draw_zones(canvas, item.zones)
        banner = self._draw_alerts(canvas, item)
        stage = item.timing.stage_ms()
        draw_hud(canvas, [f"{item.frame.stream}  {self.metrics.recent_fps(item.frame.stream):.1f} fps",
                          f"pre {stage['preprocess']:.1f}  infer {stage['infer']:.1f}  post {stage['postprocess']:.1f}"
                          f"  queue {stage['queue']:.1f} ms",
                          f"{self.device} {self.precision}  people {len(item.tracks)}"], top=banner)
        self.canvases[item.frame.stream] = canvas
        self._thumbnails(canvas, item.events)
        if self.evidence is not None:
            self.evidence.frame(item.frame.stream, item.frame.media_time, canvas,
                                [e for e in item.events if e.state == "raised" and "clip" in e.details])
        shown = {s: self.canvases[s] for s in self.streams if s in self.canvases}
        # the mosaic only for a window or a recording; the console's hub builds its own when a client asks
        view = mosaic(list(shown.values())) if self.record is not None or self.window is not None else None
        if self.record is not None:
            self._record(view, item)
        if self.hub is not None:
            self.hub.publish(view, shown)
        if self.window is not None:
            self.window.show(view)
            if self.window.take_ack():
                self.board.request("ack", ALL, by="on-screen", via="keyboard", timeout=None)
