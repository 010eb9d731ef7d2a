"""Evidence clips play in a browser: a clip the recorder writes from real footage (with frames dropped, as a live
stream does), served over HTTP (with and without Range requests), loads and plays in headless Chromium (Debian's
chromium and chromedriver) with the right size and length; the old mp4v clip does not play, so the test can tell."""

from __future__ import annotations

import http.server
import os
import re
import shutil
import threading
import time
from functools import partial

import pytest

from edge_app.alerts import clip as clip_module
from edge_app.alerts.evidence import EvidenceRecorder, EvidenceSettings, paths_for
from edge_app.records import Event
from media import decode
from support import need_shared

BEFORE_S, AFTER_S = 2.0, 1.5


class RangeHandler(http.server.SimpleHTTPRequestHandler):
    """The standard library's file handler plus single byte ranges (``Range: bytes=a-b`` -> 206), as a real web
    server answers a video element's requests."""

    def log_message(self, *args):  # quiet
        pass

    def send_head(self):
        match = re.fullmatch(r"bytes=(\d*)-(\d*)", self.headers.get("Range", ""))
        path = self.translate_path(self.path)
        if match is None or not os.path.isfile(path):
            return super().send_head()
        size = os.path.getsize(path)
        first, last = match.groups()
        start = int(first) if first else max(0, size - int(last))
        end = min(int(last), size - 1) if first and last else size - 1
        if start >= size:
            self.send_error(416)
            return None
        fh = open(path, "rb")  # noqa: SIM115 - copyfile reads it, the caller closes it
        fh.seek(start)
        self.send_response(206)
        self.send_header("Content-Type", self.guess_type(path))
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.send_header("Content-Length", str(end - start + 1))
        self.end_headers()
        self._left = end - start + 1
        return fh

    def copyfile(self, source, outputfile):
        left = getattr(self, "_left", None)
        if left is None:
            return super().copyfile(source, outputfile)
        while left > 0 and (chunk := source.read(min(65536, left))):
            outputfile.write(chunk)
            left -= len(chunk)


class PlainHandler(http.server.SimpleHTTPRequestHandler):
    """The standard library's handler as it is: whole files only (no Range)."""

    def log_message(self, *args):
        pass


def chromium():
    if not (shutil.which("chromium") and shutil.which("chromedriver")):
        pytest.skip("needs Debian's chromium and chromium-driver (make setup installs them)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--autoplay-policy=no-user-gesture-required"):
        options.add_argument(arg)
    return webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)


def record_clip(folder, fps=18.0):
    """An alert's clip of real footage (UP-Fall, 640x480 at 18 fps) written by the recorder, with frames dropped
    (every 5th, and a 0.5 s hole after the alert) as a live source or a slow render stage drops them. Returns the
    clip and its expected length (seconds: first to last frame, plus one frame)."""
    footage = decode(need_shared("falls", "upfall_s1", "Activity1", "Trial2Cam1.mp4"))
    settings = EvidenceSettings(dir=folder, before_s=BEFORE_S, after_s=AFTER_S)
    rec = EvidenceRecorder(settings)
    alert = Event("fall", "hall", 1, "raised", 1.0, 0.0, time.time(), {})
    snapshot, clip = paths_for(settings, alert)
    alert.details.update(snapshot=str(snapshot), clip=str(clip))
    at = 53  # the alert at 2.9 s
    times = []
    for i, (image, _) in enumerate(footage[:90]):
        if i % 5 == 4 or at + 2 <= i < at + 11:
            continue
        rec.frame("hall", i / fps, image, [alert] if i == at else [])
        times.append(i / fps)
    rec.close()
    assert clip.exists(), "the clip was not written"
    shown = [t for t in times if at / fps - BEFORE_S - 1e-6 <= t <= at / fps + AFTER_S]
    return clip, shown[-1] - shown[0] + 1 / fps


LOADED = """
const done = arguments[arguments.length - 1];
const v = document.getElementById('v');
const report = () => done({ready: v.readyState, duration: v.duration, width: v.videoWidth, height: v.videoHeight,
                           error: v.error && v.error.code});
if (v.readyState >= 1 || v.error) report();
else { v.addEventListener('loadedmetadata', report); v.addEventListener('error', report); }
"""

PLAYED = """
const done = arguments[arguments.length - 1];
const v = document.getElementById('v');
v.play().then(() => {
    const started = performance.now();
    const poll = () => {
        if (v.currentTime > 0.5 || v.error || performance.now() - started > 8000)
            done({time: v.currentTime, error: v.error && v.error.code, paused: v.paused});
        else setTimeout(poll, 50);
    };
    poll();
}, (e) => done({time: v.currentTime, error: v.error && v.error.code, rejected: String(e)}));
"""


def load_in_chromium(folder, name, handler):
    """Serve ``folder`` over HTTP with ``handler``, open a page with ``<video src=name muted>`` in headless Chromium;
    returns (what the page says once the metadata loaded, what it says after play())."""
    (folder / "index.html").write_text(f'<!doctype html><video id="v" src="{name}" muted preload="auto"></video>')
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(handler, directory=str(folder)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    browser = chromium()
    try:
        browser.set_script_timeout(20)
        browser.get(f"http://127.0.0.1:{server.server_address[1]}/index.html")
        loaded = browser.execute_async_script(LOADED)
        played = browser.execute_async_script(PLAYED) if not loaded["error"] else None
        return loaded, played
    finally:
        browser.quit()
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("handler", [RangeHandler, PlainHandler], ids=["range", "no-range"])
def test_an_evidence_clip_plays_in_chromium(tmp_path, handler):
    clip, length = record_clip(tmp_path / "evidence")
    shutil.copy(clip, tmp_path / "clip.mp4")
    loaded, played = load_in_chromium(tmp_path, "clip.mp4", handler)
    assert loaded["error"] is None and loaded["ready"] >= 1, loaded
    assert abs(loaded["duration"] - length) <= 0.5, (loaded, length)
    assert (loaded["width"], loaded["height"]) == (640, 480), loaded
    assert played["error"] is None and played["time"] > 0.5, played


def test_an_mp4v_clip_does_not_play_in_chromium(tmp_path, monkeypatch):
    """What the recorder wrote before H.264 (and still writes without libx264): Chromium refuses it."""
    monkeypatch.setattr(clip_module, "H264_ENCODER", "no-such-h264-encoder")
    clip, _ = record_clip(tmp_path / "evidence")
    shutil.copy(clip, tmp_path / "clip.mp4")
    loaded, _ = load_in_chromium(tmp_path, "clip.mp4", RangeHandler)
    assert loaded["error"] == 4, loaded  # MEDIA_ERR_SRC_NOT_SUPPORTED
