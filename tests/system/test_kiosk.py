"""The kiosk window shown for real on a virtual display (Debian's Xvfb): a screenshot of the screen shows the
annotated frame, full screen, with the skeleton drawn where the person is."""

from __future__ import annotations

import os
import shutil
import subprocess
import time

import cv2
import numpy as np
import pytest

from support import PYTHON, REPO, need_shared

SCREEN = (1280, 720)
# one person, COCO ground-truth box (x, y, w, h) in the 640x480 image
IMAGE, PERSON_BOX = "000000085795.jpg", (327.91, 46.38, 247.01, 355.96)
LEFT_RGB, RIGHT_RGB, HUD_RGB = (0, 160, 255), (255, 160, 0), (0, 255, 0)  # render/draw.py's colours (BGR there)


def colour_mask(image: np.ndarray, rgb: tuple[int, int, int], tol: int = 40) -> np.ndarray:
    return np.all(np.abs(image.astype(int) - np.array(rgb)) <= tol, axis=2)


@pytest.fixture
def xvfb():
    if shutil.which("Xvfb") is None:
        pytest.skip("needs Xvfb (Debian package xvfb; `make setup` installs it)")
    for number in range(90, 110):
        display = f":{number}"
        proc = subprocess.Popen(["Xvfb", display, "-screen", "0", f"{SCREEN[0]}x{SCREEN[1]}x24", "-nolisten", "tcp"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1.0)
        if proc.poll() is None:  # a display number in use makes Xvfb exit at once
            yield display
            proc.terminate()
            proc.wait(10)
            return
    pytest.fail("no free X display number for Xvfb")


def test_kiosk_window_shows_the_annotated_frame(xvfb, manifest, tmp_path):
    from PIL import ImageGrab

    image = need_shared("pose", "coco_minitrain", "images", IMAGE)
    frames = tmp_path / "frames"  # a still camera: the same real photo with a camera's noise, 10 frames a second
    frames.mkdir()  # (the very same picture again and again is a frozen camera, which is never analysed)
    photo = cv2.imread(str(image))
    rng = np.random.default_rng(0)
    for i in range(300):
        noisy = np.clip(photo.astype(np.int16) + rng.integers(-2, 3, photo.shape), 0, 255).astype(np.uint8)
        cv2.imwrite(str(frames / f"{i:04d}.jpg"), noisy)
    proc = subprocess.Popen([PYTHON, "-m", "edge_app", "run", "--kiosk", "--source", f"cam={frames}",
                             "--duration", "25"], cwd=REPO, env={**os.environ, "DISPLAY": xvfb},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        shot = None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            time.sleep(1.0)
            grab = np.asarray(ImageGrab.grab(xdisplay=xvfb).convert("RGB"))
            if colour_mask(grab, HUD_RGB, 30).sum() > 50:  # the HUD is up: frames are being shown
                time.sleep(1.0)
                shot = np.asarray(ImageGrab.grab(xdisplay=xvfb).convert("RGB"))
                break
        assert shot is not None, "no annotated frame on screen" + (f": {proc.stderr.read()}" if proc.poll() else "")
    finally:
        proc.terminate()
        proc.wait(30)
    assert shot.shape[:2] == (SCREEN[1], SCREEN[0])
    # full screen, aspect kept: the 640x480 frame is scaled to 960x720 and centred
    scale = SCREEN[1] / 480
    x_off = (SCREEN[0] - 640 * scale) / 2
    picture = shot[:, int(x_off) + 2:int(x_off + 640 * scale) - 2]
    assert picture.std() > 30, "the screen shows no picture"
    skeleton = colour_mask(shot, LEFT_RGB) | colour_mask(shot, RIGHT_RGB)
    ys, xs = np.nonzero(skeleton)
    assert len(xs) > 300, f"only {len(xs)} skeleton-coloured pixels on screen"
    x, y, w, h = PERSON_BOX
    x0, y0, x1, y1 = x_off + (x - 0.1 * w) * scale, (y - 0.1 * h) * scale, x_off + (x + 1.1 * w) * scale, \
        (y + 1.1 * h) * scale
    inside = ((xs >= x0) & (xs <= x1) & (ys >= y0) & (ys <= y1)).mean()
    assert inside > 0.95, f"only {inside:.0%} of the skeleton is on the person"
    # and the raw photo, shown the same way, has next to none of those colours: the skeleton is Vigil's drawing
    raw = cv2.cvtColor(cv2.resize(cv2.imread(str(image)), None, fx=scale, fy=scale), cv2.COLOR_BGR2RGB)
    assert (colour_mask(raw, LEFT_RGB) | colour_mask(raw, RIGHT_RGB)).sum() < len(xs) / 10


def test_the_acknowledge_key_pressed_on_the_window_acknowledges_through_the_render_thread(xvfb, monkeypatch):
    """The whole path of the on-screen key, as an operator at a kiosk uses it: a real key press (XTEST, xdotool)
    on the real OpenCV window, taken by the render thread, queued on the alert board, applied by the pipeline
    thread's side as one `acknowledged` event per active alert, by `on-screen` via `keyboard`."""
    import threading

    from edge_app.alerts.board import AlertBoard
    from edge_app.records import Event, Frame
    from edge_app.render.renderer import Processed, Renderer
    from edge_app.render.window import Window
    from edge_app.timing import FrameTiming, Metrics

    if shutil.which("xdotool") is None:
        pytest.skip("needs xdotool (Debian package; `make setup` installs it)")
    monkeypatch.setenv("DISPLAY", xvfb)
    board = AlertBoard()
    fall = board.observe(Event("fall", "cam", 3, "raised", 0.9, 1.0, time.time(), {}))
    tired = board.observe(Event("fatigue", "cam", 4, "raised", 0.8, 1.0, time.time(), {}))
    renderer = Renderer(["cam"], Metrics(), "CPU", "int8", None, Window(title="VigilKeys", kiosk=True), board=board)
    renderer.start()
    stop = threading.Event()

    def camera():
        seq = 0
        while not stop.is_set():
            now = time.monotonic()
            image = np.full((240, 320, 3), 90, np.uint8)
            renderer.submit(Processed(Frame("cam", seq, image, now, time.time(), seq / 10), [], [],
                                      FrameTiming(captured=now, taken=now)))
            seq += 1
            time.sleep(0.1)

    feeder = threading.Thread(target=camera, daemon=True)
    feeder.start()
    try:
        window = None
        for _ in range(100):
            found = subprocess.run(["xdotool", "search", "--name", "VigilKeys"], capture_output=True, text=True)
            if found.stdout.strip():
                window = found.stdout.split()[0]
                break
            time.sleep(0.1)
        assert window is not None, "the window never opened"
        assert board.apply_requests() == []  # nothing pressed yet, nothing acknowledged
        subprocess.run(["xdotool", "windowfocus", "--sync", window], check=True, timeout=10)
        subprocess.run(["xdotool", "key", "q"], check=True, timeout=10)  # a kiosk ignores the quit keys
        subprocess.run(["xdotool", "key", "a"], check=True, timeout=10)
        deadline, events = time.monotonic() + 10, []
        while time.monotonic() < deadline and len(events) < 2:
            events += board.apply_requests()
            time.sleep(0.1)
    finally:
        stop.set()
        feeder.join(5)
        renderer.close()
    assert sorted((e.type, e.state, e.details["alert_id"], e.details["by"], e.details["via"]) for e in events) == \
        sorted([("fall", "acknowledged", fall.details["alert_id"], "on-screen", "keyboard"),
                ("fatigue", "acknowledged", tired.details["alert_id"], "on-screen", "keyboard")])
    assert not renderer.window.quit_requested
