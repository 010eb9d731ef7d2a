"""Checking a clip or a photo from the console (issue 22), end to end: a real Vigil watching a real RTSP camera, an
operator in headless Chromium uploads a shared fall clip and sees its fall and the annotated clip; a file that is
not a video and one over the size limit are refused with a clear message; names that try to be paths are refused and
nothing is written outside the uploads folder."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import av
import cv2

from helpers.console import chromium
from support import PYTHON, REPO, free_port, need_shared, wait_for

FALL = ("falls", "upfall_s1", "Activity1", "Trial2Cam1.mp4")  # a fall at 1.39 s
CALM = ("falls", "upfall_s1", "Activity7", "Trial1Cam1.mp4")


def post(url: str, body: bytes, name: str, length: int | None = None) -> tuple[int, dict]:
    headers = {"X-File-Name": name, "Content-Type": "application/octet-stream"}
    if length is not None:
        headers["Content-Length"] = str(length)
    request = urllib.request.Request(url, data=body, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"{}")


def test_an_operator_uploads_a_fall_clip_and_a_photo_and_bad_uploads_are_refused(tmp_path, rtsp_server, manifest):
    if "fall_detector" not in manifest["models"]:
        import pytest

        pytest.skip("fall_detector not built")
    uploads = tmp_path / "uploads"
    cfg = tmp_path / "vigil.yaml"
    cfg.write_text(f"server:\n  uploads:\n    dir: {uploads}\n    max_mb: 2\n")
    camera = rtsp_server({"hall": need_shared(*CALM)}).warm()
    port = free_port()
    vigil = subprocess.Popen([PYTHON, "-m", "edge_app", "run", "--headless", "--config", str(cfg), "--source",
                              f"hall={camera.url('hall')}", "--http", f"127.0.0.1:{port}", "--duration", "150"],
                             cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}/"
    browser = None
    try:
        def up() -> bool:
            try:
                return urllib.request.urlopen(base + "api/me", timeout=1).status == 200
            except OSError:
                assert vigil.poll() is None, vigil.stderr.read()[-3000:]
                return False

        wait_for(up, 90, "the console")
        # names that try to be paths, straight or URL-encoded: refused before anything is written
        clip = need_shared(*FALL)
        data = clip.read_bytes()
        for name in ("../../etc/cron.d/x.mp4", "..%2F..%2Fx.mp4", "sub%5Cx.mp4"):
            status, body = post(base + "api/uploads", data, name)
            assert status == 400 and "plain file name only" in body["error"], (name, body)
        # over the size limit by its stated length: refused at once, the body unread
        status, body = post(base + "api/uploads", b"\x00" * 16, "big.mp4", length=3 * 2**20)
        assert status == 413 and "over the 2 MB limit" in body["error"]

        browser = chromium()
        browser.get(base)
        browser.find_element("id", "show-history").click()
        picker = wait_for(lambda: browser.find_element("id", "upload-file"), 10, "the upload field")
        wait_for(lambda: browser.execute_script("return uploadLimit") == 2, 10, "the limits")

        # a text file with a video's name: refused with the reason
        notes = tmp_path / "notes.mp4"
        notes.write_text("not a video at all\n" * 10)
        picker.send_keys(str(notes))
        wait_for(lambda: "not a video or a photo" in browser.find_element("id", "upload-msg").text, 15,
                 "the refusal of a text file")
        # a file over 2 MB: refused in the page with the limit (the server would refuse it too, above)
        big = tmp_path / "big.mp4"
        big.write_bytes(data[:64] + os.urandom(3 * 2**20))
        picker.send_keys(str(big))
        wait_for(lambda: "over the 2 MB limit" in browser.find_element("id", "upload-msg").text, 15,
                 "the refusal of a big file")

        # the fall clip: checked by the same pipeline, its fall shown with the annotated clip
        picker.send_keys(str(clip))
        # (the list is drawn again each second while a check runs: find and click in one step)
        wait_for(lambda: browser.execute_script(
            "const r = [...document.querySelectorAll('#u-rows tr')].find(r => r.textContent.includes('Trial2Cam1.mp4')"
            " && r.querySelector('.state').textContent === 'done');"
            "if (r) r.querySelector('button.play').click(); return !!r;"), 120, "the check to finish")
        events = wait_for(lambda: browser.find_element("id", "player-events").text, 15, "the events")
        assert "fall · raised" in events, events
        meta = wait_for(lambda: browser.execute_script(
            "const v = document.getElementById('player-video');"
            "return v.readyState >= 1 ? {d: v.duration, w: v.videoWidth, e: v.error && v.error.code} : null;"),
            20, "the annotated clip's metadata")
        with av.open(str(clip)) as container:
            stream = container.streams.video[0]
            length = float(stream.duration * stream.time_base)
        assert meta["e"] is None and meta["w"] == 640 and abs(meta["d"] - length) < 0.5, (meta, length)
        browser.save_screenshot(str(tmp_path / "upload-checked.png"))

        # a photo: checked too, its annotated picture served
        frame = next(iter(av.open(str(clip)).decode(video=0))).to_ndarray(format="bgr24")
        photo = tmp_path / "still.jpg"
        cv2.imwrite(str(photo), frame)
        status, body = post(base + "api/uploads", photo.read_bytes(), "still.jpg")
        assert status == 202 and body["upload"]["kind"] == "image"
        photo_id = body["upload"]["id"]
        def finished() -> dict | None:
            record = json.loads(urllib.request.urlopen(f"{base}api/uploads/{photo_id}", timeout=5).read())
            return record if record["state"] in ("done", "failed") else None

        done = wait_for(finished, 60, "the photo's check")
        assert done["state"] == "done", done
        with urllib.request.urlopen(f"{base}api/uploads/{photo_id}/result", timeout=5) as resp:
            assert resp.headers["Content-Type"] == "image/jpeg" and resp.read()[:3] == b"\xff\xd8\xff"
        # a squat set checked with the squat counter: its three repetitions, each explained
        squats = need_shared("exercise", "squat_side_barbell.mp4")
        status, body = post(base + "api/uploads?exercise=squat", squats.read_bytes(), "squats.mp4")
        assert status == 202, body
        photo_id = body["upload"]["id"]
        done = wait_for(finished, 120, "the squat clip's check")
        reps = [e for e in done["events"] if e["type"] == "exercise_rep"]
        assert [e["details"]["rep"] for e in reps] == [1, 2, 3] and all(e["details"]["explanation"] for e in reps)
        assert post(base + "api/uploads?exercise=burpee", squats.read_bytes(), "x.mp4")[0] == 400
    finally:
        if browser is not None:
            browser.quit()
        vigil.send_signal(signal.SIGTERM)
        _, stderr = vigil.communicate(timeout=60)
    assert "Traceback" not in stderr, stderr[-3000:]
    # everything Vigil wrote for the uploads is inside the uploads folder: one folder per accepted upload
    folders = sorted(p for p in uploads.iterdir())
    assert len(folders) == 3 and all(len(p.name) == 16 for p in folders)
    assert {q.name for p in folders for q in p.iterdir()} <= {"input.mp4", "input.jpg", "annotated.mp4",
                                                               "annotated.jpg"}
    assert not Path("/etc/cron.d/x.mp4").exists() and not list(tmp_path.glob("**/x.mp4"))
