"""Makers of test videos with PyAV (FFmpeg's libraries): the field-report kinds of input (turned cameras, variable
frame rate, a picture size change, a frozen picture, audio before the first picture, a file cut short), each made
from a real clip so the tests check a variant of the shared case, not the case alone."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np


def decode(path: Path) -> list[tuple[np.ndarray, float]]:
    """Every picture of ``path`` as (BGR image, PTS in seconds)."""
    with av.open(str(path)) as box:
        return [(f.to_ndarray(format="bgr24"), float(f.time)) for f in box.decode(video=0)]


def encode(path: Path, pictures: Iterable[tuple[np.ndarray, float]], fps: float = 18.0, codec: str = "libx264",
           options: dict | None = None, container_options: dict | None = None, audio_lead_s: float = 0.0,
           audio_packet_samples: int = 64) -> Path:
    """Write (BGR image, PTS seconds) pictures to ``path`` with their own timestamps (a variable frame rate stays
    variable). With ``audio_lead_s`` > 0 a silent PCM audio track starts at 0 and the first picture comes
    ``audio_lead_s`` later, in packets of ``audio_packet_samples`` samples at 48 kHz (thousands of audio packets before
    the first video packet, as some recorders write)."""
    time_base = Fraction(1, 90000)
    with av.open(str(path), "w", options=container_options or {}) as box:
        stream = None
        audio = box.add_stream("pcm_s16le", rate=48000, layout="mono") if audio_lead_s > 0 else None
        sent_audio = 0
        for image, pts in pictures:
            if stream is None:
                stream = box.add_stream(codec, rate=Fraction(fps).limit_denominator(1000), options=options or {})
                stream.width, stream.height = image.shape[1], image.shape[0]
                stream.pix_fmt = "yuvj420p" if codec == "mjpeg" else "yuv420p"
                stream.time_base = time_base
                stream.codec_context.time_base = time_base
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="bgr24")
            frame.pts = int(round((pts + audio_lead_s) / time_base))
            frame.time_base = time_base
            if audio is not None:  # audio up to this picture's time, in small packets
                until = int((pts + audio_lead_s) * 48000)
                while sent_audio < until:
                    chunk = av.AudioFrame.from_ndarray(np.zeros((1, audio_packet_samples), np.int16), format="s16",
                                                       layout="mono")
                    chunk.sample_rate, chunk.pts = 48000, sent_audio
                    box.mux(audio.encode(chunk))
                    sent_audio += audio_packet_samples
            box.mux(stream.encode(frame))
        box.mux(stream.encode())
        if audio is not None:
            box.mux(audio.encode())
    return path


def transformed(path: Path, out: Path, change: Callable[[np.ndarray], np.ndarray], **kw) -> Path:
    """``path`` re-encoded with ``change`` applied to each picture, timestamps kept."""
    return encode(out, ((change(img), pts) for img, pts in decode(path)), **kw)


def thinned(path: Path, out: Path, keep: Callable[[int], bool], **kw) -> Path:
    """``path`` with only the pictures whose index passes ``keep``, each at its original timestamp."""
    return encode(out, ((img, pts) for i, (img, pts) in enumerate(decode(path)) if keep(i)), **kw)


def size_change(first: Path, first_seconds: float, first_size: tuple[int, int], second: Path, out: Path) -> Path:
    """``first_seconds`` of ``first`` scaled to ``first_size``, then all of ``second`` at its own size, as two
    MPEG-TS recordings joined byte for byte (one stream whose picture size changes without a reconnect)."""
    a = [(cv2.resize(img, first_size), pts) for img, pts in decode(first) if pts < first_seconds]
    offset = a[-1][1] + (a[-1][1] - a[-2][1])
    b = [(img, pts + offset) for img, pts in decode(second)]
    part_a = encode(out.with_suffix(".a.ts"), a)
    part_b = encode(out.with_suffix(".b.ts"), b)
    out.write_bytes(part_a.read_bytes() + part_b.read_bytes())
    part_a.unlink()
    part_b.unlink()
    return out


def cut_short(path: Path, out: Path, fraction: float) -> Path:
    """The first ``fraction`` of ``path``'s bytes, as a copy interrupted part way leaves it."""
    data = path.read_bytes()
    out.write_bytes(data[: int(len(data) * fraction)])
    return out
