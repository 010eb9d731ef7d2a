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
