"""Frame sources: video files, image folders, webcams and RTSP streams, read in order.

This is the simple, single-threaded reader; it reports a missing, unreadable or empty source as one clear error.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import cv2

from edge_app.errors import VigilError
from edge_app.records import Frame

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp"}


def redact(source: str) -> str:
    """A source string safe to log: credentials in URLs are hidden."""
    if "://" in source and "@" in source.split("://", 1)[1].split("/", 1)[0]:
        scheme, rest = source.split("://", 1)
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return source


def read_frames(source: str, name: str = "stream0", max_frames: int | None = None) -> Iterator[Frame]:
    """Frames of ``source`` (path, folder, webcam index, rtsp:// URL) until it ends or ``max_frames``."""
    path = Path(source)
    if source.isdigit():
        yield from _capture(cv2.VideoCapture(int(source)), source, name, max_frames)
    elif source.startswith(("rtsp://", "rtsps://", "http://", "https://")):
        os.environ.setdefault("OPENCV_FFMPEG_CAPTURE_OPTIONS", "rtsp_transport;tcp")
        yield from _capture(cv2.VideoCapture(source, cv2.CAP_FFMPEG), source, name, max_frames)
    elif path.is_dir():
        yield from _folder(path, name, max_frames)
    elif path.is_file():
        yield from _capture(cv2.VideoCapture(str(path), cv2.CAP_FFMPEG), source, name, max_frames)
    else:
        raise VigilError(f"source {redact(source)}: not found (give a video file, image folder, webcam index or "
                         f"rtsp:// URL)")


def _capture(cap: cv2.VideoCapture, source: str, name: str, max_frames: int | None) -> Iterator[Frame]:
    if not cap.isOpened():
        raise VigilError(f"source {redact(source)}: cannot open (not a video, unreachable, or unsupported)")
    fps = cap.get(cv2.CAP_PROP_FPS) or 0.0
    seq, start = 0, time.monotonic()
    try:
        while max_frames is None or seq < max_frames:
            ok, image = cap.read()
            if not ok or image is None:
                break
            media = seq / fps if fps > 0 else time.monotonic() - start
            yield Frame(name, seq, image, time.monotonic(), time.time(), media)
            seq += 1
    finally:
        cap.release()
    if seq == 0:
        raise VigilError(f"source {redact(source)}: no frames could be decoded (empty or not a video)")


def _folder(path: Path, name: str, max_frames: int | None) -> Iterator[Frame]:
    files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise VigilError(f"source {path}: folder has no images")
    for seq, file in enumerate(files[:max_frames]):
        image = cv2.imread(str(file))
        if image is None:
            raise VigilError(f"source {file}: cannot decode image")
        yield Frame(name, seq, image, time.monotonic(), time.time(), float(seq))
