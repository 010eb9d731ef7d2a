"""Operating in a control room (issue 21), end to end with real parts: the alert history and the outboxes survive a
SIGKILL, an operator logs in over HTTPS in headless Chromium, finds the previous run's alert, plays its H.264 clip
and acknowledges it under their own name; a viewer cannot; failed logins are limited; a damaged database is moved
aside; a full disk keeps alerts flowing to the screen and the broker."""

from __future__ import annotations

import json
import signal
import sqlite3
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import av
import numpy as np
import pytest

from helpers.console import chromium
from support import MOSQUITTO, PYTHON, REPO, Broker, ControlRoom, free_port, need_shared, wait_for

FALL_CLIP = ("cases", "upside_down_fall.mp4")  # a fall forward 1.4 s in, camera upside down (rotate=180)
CALM_CLIP = ("falls", "upfall_s1", "Activity7", "Trial1Cam1.mp4")  # a person standing


def vigil(*argv: str, db: Path, stderr=subprocess.PIPE) -> subprocess.Popen:
    return subprocess.Popen([PYTHON, "-m", "edge_app", *argv], cwd=REPO, stdout=subprocess.DEVNULL, stderr=stderr,
                            text=True, env=_env(db))


def _env(db: Path) -> dict:
    import os

    return {**os.environ, "VIGIL_DB": str(db)}


def config(tmp_path: Path, mqtt_port: int, extra: str = "") -> Path:
    cfg = tmp_path / "vigil.yaml"
    cfg.write_text(f"alerts:\n  mqtt:\n    enabled: true\n    port: {mqtt_port}\n    client_id: box-cr\n"
                   f"  evidence:\n    dir: {tmp_path / 'evidence'}\n    before_s: 2\n    after_s: 2\n{extra}")
    return cfg


def rows(db: Path, sql: str) -> list[tuple]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def raised(events: Path) -> list[dict]:
    """The raised alerts' details in an event log (complete lines only)."""
    if not events.exists():
        return []
    return [json.loads(line)["details"] for line in events.read_text().splitlines(keepends=True)
            if line.endswith("\n") and '"state": "raised"' in line]


def run_until_a_fall_then_sigkill(tmp_path: Path, cfg: Path, db: Path) -> str:
    """A Vigil on the fall clip, killed with SIGKILL once its fall alert is out and its clip written; the alert's id."""
    events = tmp_path / "run1.jsonl"
    clip = need_shared(*FALL_CLIP)
    proc = vigil("run", "--headless", "--http", "off", "--config", str(cfg), "--events", str(events),
                 "--source", f"hall={clip}#rotate=180", "--duration", "60", db=db, stderr=subprocess.DEVNULL)
    try:
        alerts = wait_for(lambda: raised(events) or (proc.poll() is not None and ["ended"]), 90, "the fall alert")
        assert alerts != ["ended"], "run 1 ended without a fall alert"
        wait_for(lambda: Path(alerts[0]["clip"]).is_file() or proc.poll() is not None, 60, "its clip, finished")
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL, "run 1 ended by itself before the kill: the test proves nothing"
    return alerts[0]["alert_id"]


@pytest.fixture
def need_models(manifest):
    if "fall_detector" not in manifest["models"]:
        pytest.skip("fall_detector not built")


@pytest.mark.skipif(MOSQUITTO is None, reason="needs mosquitto (Debian package; `make setup` installs it)")
def test_history_and_undelivered_events_survive_a_sigkill_and_go_out_after_the_restart(tmp_path, need_models):
    mqtt_port = free_port()  # no broker yet: every event waits in the outbox
    db = tmp_path / "data" / "vigil.db"
    cfg = config(tmp_path, mqtt_port)
    alert_id = run_until_a_fall_then_sigkill(tmp_path, cfg, db)

    # what the killed process committed is on disk: the alert and its events, and the outbox of MQTT
    assert rows(db, f"SELECT type, state FROM alerts WHERE id = '{alert_id}'") == [("fall", "active")]
    assert ("raised",) in rows(db, f"SELECT state FROM events WHERE alert_id = '{alert_id}'")
    waiting = [json.loads(r[0]) for r in rows(db, "SELECT record FROM outbox WHERE sink = 'mqtt' ORDER BY seq")]
    assert any(r["details"].get("alert_id") == alert_id and r["state"] == "raised" for r in waiting)

    # the broker comes up, Vigil restarts on a calm camera: the old alert is back on the board, the waiting
    # events are delivered, in order, the raised fall among them
    broker = Broker(tmp_path, port=mqtt_port).start()
    room = ControlRoom(mqtt_port, "vigil/hall/events")
    port = free_port()
    proc = vigil("run", "--headless", "--http", f"127.0.0.1:{port}", "--config", str(cfg), "--source",
                 f"hall={need_shared(*CALM_CLIP)}", "--duration", "40", db=db)
    try:
        got = wait_for(lambda: [e for e in room.events() if e["details"].get("alert_id") == alert_id], 60,
                       "the first run's fall on MQTT")
        assert got[0]["state"] == "raised" and got[0]["type"] == "fall"
        state = wait_for(lambda: _get(f"http://127.0.0.1:{port}/api/state"), 30, "the console")
        assert [a["state"] for a in state["alerts"] if a["id"] == alert_id] == ["active"]
        history = _get(f"http://127.0.0.1:{port}/api/history?stream=hall&type=fall")
        assert alert_id in [a["id"] for a in history["alerts"]] and history["total"] >= 1
    finally:
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=60)
        room.close()
        broker.stop()
    assert "1 alert(s) of an earlier run still open" in stderr, stderr[-3000:]
    assert rows(db, "SELECT COUNT(*) FROM outbox WHERE sink = 'mqtt'") == [(0,)]  # all delivered and removed


def _get(url: str, headers: dict | None = None, context=None) -> dict | None:
    try:
        request = urllib.request.Request(url, headers=headers or {})
        with urllib.request.urlopen(request, timeout=5, context=context) as resp:
            return json.loads(resp.read())
    except (urllib.error.URLError, OSError, ValueError):
        return None


def _post(url: str, body: dict, headers: dict | None = None, context=None) -> tuple[int, dict, dict]:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=10, context=context) as resp:
            return resp.status, json.loads(resp.read()), dict(resp.headers)
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"{}"), dict(err.headers)


def add_user(name: str, role: str, password: str, db: Path) -> None:
    proc = subprocess.run([PYTHON, "-m", "edge_app", "users", "add", name, "--role", role, "--password-stdin"],
                          input=password + "\n", capture_output=True, text=True, cwd=REPO, env=_env(db), timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert password not in proc.stdout + proc.stderr


def test_an_operator_logs_in_over_https_plays_the_last_runs_clip_and_acknowledges_it(
        tmp_path, need_models, rtsp_server):
    db = tmp_path / "data" / "vigil.db"
    cfg = config(tmp_path, free_port(), f"server:\n  session_hours: 1\n  token: machine-t0ken-0123456\n"
                                        f"  tls:\n    enabled: true\n    self_signed_dir: {tmp_path / 'tls'}\n")
    alert_id = run_until_a_fall_then_sigkill(tmp_path, cfg, db)
    clip = Path(rows(db, f"SELECT clip FROM alerts WHERE id = '{alert_id}'")[0][0])
    with av.open(str(clip)) as container:  # the clip's own length, to compare with what the browser plays
        video = container.streams.video[0]
        duration = float(video.duration * video.time_base)
    add_user("olga", "operator", "olga-pass-1234", db)
    add_user("vic", "viewer", "vic-pass-12345", db)

    camera = rtsp_server({"hall": need_shared(*CALM_CLIP)}).warm()
    port = free_port()
    proc = vigil("run", "--headless", "--http", f"127.0.0.1:{port}", "--config", str(cfg), "--source",
                 f"hall={camera.url('hall')}", "--duration", "150", db=db)
    insecure = ssl.create_default_context()
    insecure.check_hostname, insecure.verify_mode = False, ssl.CERT_NONE
    base = f"https://127.0.0.1:{port}/"
    browser = None
    try:
        wait_for(lambda: _get(base + "api/me", context=insecure) or (proc.poll() is not None and
                                                                      pytest.fail(proc.stderr.read()[-3000:])),
                 90, "the console on HTTPS")
        # HTTPS with the self-signed certificate Vigil made, and nothing on plain HTTP
        served = ssl.get_server_certificate(("127.0.0.1", port))
        made = (tmp_path / "tls" / "vigil-self-signed.crt").read_text()
        assert ssl.PEM_cert_to_DER_cert(served) == ssl.PEM_cert_to_DER_cert(made)
        assert _get(f"http://127.0.0.1:{port}/api/me") is None
        assert _get(base + "api/state", context=insecure) is None  # no session: 401

        browser = chromium(accept_self_signed=True)
        browser.get(base)
        wait_for(lambda: browser.find_element("id", "login").is_displayed(), 15, "the login form")
        browser.find_element("id", "login-name").send_keys("olga")
        browser.find_element("id", "login-password").send_keys("not-her-password")
        browser.find_element("css selector", "#login button").click()
        wait_for(lambda: browser.find_element("id", "login-msg").text == "wrong name or password", 10,
                 "the refusal")
        browser.find_element("id", "login-password").clear()
        browser.find_element("id", "login-password").send_keys("olga-pass-1234")
        browser.find_element("css selector", "#login button").click()
        wait_for(lambda: not browser.find_element("id", "login").is_displayed(), 10, "the login to go through")
        assert browser.find_element("id", "who").text == "olga · operator"
        cookie = browser.get_cookie("vigil_session")
        assert cookie["httpOnly"] and cookie["secure"] and cookie["sameSite"] == "Strict"

        # the previous run's alert in the history, with its snapshot; its clip plays for its whole length
        browser.find_element("id", "show-history").click()
        row = wait_for(lambda: browser.find_elements("css selector", f"#h-rows tr[data-id='{alert_id}']"), 15,
                       "the last run's alert in the history")[0]
        assert "fall" in row.text and "hall" in row.text and "ACTIVE" in row.text
        row.find_element("css selector", "button.play").click()
        meta = wait_for(lambda: browser.execute_script(
            "const v = document.getElementById('player-video');"
            "return v.readyState >= 1 ? {d: v.duration, w: v.videoWidth, e: v.error && v.error.code} : null;"),
            20, "the clip's metadata")
        assert meta["e"] is None and meta["w"] > 0
        assert abs(meta["d"] - duration) < 0.3, (meta, duration)
        browser.execute_script("document.getElementById('player-video').play()")
        wait_for(lambda: browser.execute_script("return document.getElementById('player-video').currentTime") > 0.5,
                 15, "the clip to play")
        assert "raised" in browser.find_element("id", "player-events").text
        browser.save_screenshot(str(tmp_path / "history-player.png"))
        browser.find_element("id", "player-close").click()

        # back on the live view, the unhandled alert of the last run is on the board: olga acknowledges it
        browser.find_element("id", "show-live").click()
        item = wait_for(lambda: browser.find_elements("css selector", f"#alerts li[data-id='{alert_id}']"), 15,
                        "the restored alert on the board")[0]
        assert "earlier run" in item.text  # its person number is no one's on screen now
        item.find_element("css selector", "button.ack").click()
        wait_for(lambda: "acknowledged by olga" in browser.find_element(
            "css selector", f"#alerts li[data-id='{alert_id}']").text, 15, "the acknowledgement")
        browser.save_screenshot(str(tmp_path / "console-live.png"))
        token = {"Authorization": "Bearer machine-t0ken-0123456"}
        state = _get(base + "api/state", token, insecure)
        assert [a["acknowledged_by"] for a in state["alerts"] if a["id"] == alert_id] == ["olga"]
        events = _get(base + f"api/alerts/{alert_id}/events", token, insecure)["events"]
        assert [(e["state"], e["details"].get("by")) for e in events][-1] == ("acknowledged", "olga")

        # a viewer watches but cannot act: the buttons are off, and the server refuses the request itself
        browser.find_element("id", "logout").click()
        wait_for(lambda: browser.find_element("id", "login").is_displayed(), 10, "the login form again")
        browser.find_element("id", "login-name").clear()
        browser.find_element("id", "login-name").send_keys("vic")
        browser.find_element("id", "login-password").send_keys("vic-pass-12345")
        browser.find_element("css selector", "#login button").click()
        wait_for(lambda: browser.find_element("id", "who").text == "vic · viewer", 10, "the viewer's login")
        item = wait_for(lambda: browser.find_elements("css selector", f"#alerts li[data-id='{alert_id}']"), 15,
                        "the alert for the viewer")[0]
        assert not item.find_element("css selector", "button.clear").is_enabled()
        for action in ("ack", "clear"):  # the server refuses it itself, whatever the page shows
            answer = browser.execute_async_script(
                "const done = arguments[arguments.length - 1];"
                f"fetch('api/alerts/{alert_id}/{action}', {{method: 'POST', headers: {{'Content-Type': "
                "'application/json'}, body: '{}'}).then(r => r.json().then(b => done([r.status, b.error])));")
            assert answer[0] == 403 and "viewer" in answer[1], (action, answer)
        assert not browser.find_elements("css selector", ".zones-edit:not([hidden])")  # zones: admins only
    finally:
        if browser is not None:
            browser.quit()
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=60)


def test_wrong_passwords_leak_nothing_are_rate_limited_and_sessions_expire(tmp_path):
    """The server alone (no models): the same refusal for a wrong password and an unknown name, 429 after five
    failures, and a session that ends after its hours."""
    from edge_app.alerts.board import AlertBoard
    from edge_app.storage.db import Database
    from edge_app.web.accounts import Accounts
    from edge_app.web.server import FrameHub, OperatorServer

    accounts = Accounts(Database(tmp_path / "vigil.db"), session_hours=2 / 3600)  # two seconds
    accounts.add("olga", "operator", "olga-pass-1234")
    server = OperatorServer(FrameHub(), lambda: {"sources": {}}, "0.0.0.0", 0, board=AlertBoard(),
                            accounts=accounts).start()
    base = f"http://127.0.0.1:{server.port}/"
    try:
        wrong = _post(base + "api/login", {"name": "olga", "password": "nope-nope-nope"})
        unknown = _post(base + "api/login", {"name": "nobody", "password": "nope-nope-nope"})
        assert wrong[0] == unknown[0] == 401 and wrong[1] == unknown[1] == {"error": "wrong name or password"}
        assert _post(base + "api/login", {"name": "olga"})[0] == 401  # no password: the same answer
        status, body, headers = _post(base + "api/login", {"name": "olga", "password": "olga-pass-1234"})
        assert status == 200 and body == {"user": "olga", "role": "operator"}
        session = headers["Set-Cookie"].split(";")[0]
        assert _get(base + "api/state", {"Cookie": session})["alerts"] == []
        time.sleep(2.2)
        assert _get(base + "api/state", {"Cookie": session}) is None  # expired: 401
        assert _get(base + "api/me", {"Cookie": session})["user"] is None
        for _ in range(5):  # five failures in a row (a login that works starts the count again)
            assert _post(base + "api/login", {"name": "olga", "password": "guess"})[0] == 401
        status, body, headers = _post(base + "api/login", {"name": "olga", "password": "olga-pass-1234"})
        assert status == 429 and int(headers["Retry-After"]) > 0 and "too many failed logins" in body["error"]
    finally:
        server.stop()


def test_a_damaged_database_at_start_is_moved_aside_and_monitoring_starts(tmp_path, need_models):
    db = tmp_path / "vigil.db"
    db.write_bytes(b"this is not a database " * 100)
    proc = subprocess.run([PYTHON, "-m", "edge_app", "run", "--headless", "--http", "off", "--max-frames", "20",
                           "--source", str(need_shared(*CALM_CLIP))], capture_output=True, text=True, cwd=REPO,
                          env=_env(db), timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    aside = list(tmp_path.glob("vigil.db.corrupt-*"))
    assert len(aside) == 1 and aside[0].read_bytes().startswith(b"this is not a database")
    assert f"storage {db} is damaged" in proc.stderr and aside[0].name in proc.stderr
    assert rows(db, "PRAGMA integrity_check") == [("ok",)]


@pytest.mark.skipif(MOSQUITTO is None, reason="needs mosquitto (Debian package; `make setup` installs it)")
def test_a_full_disk_under_the_database_keeps_alerts_on_screen_and_on_the_broker(tmp_path, need_models, broker):
    import os

    from system.test_disk_faults import fill

    if os.geteuid() != 0:
        pytest.skip("needs root to mount a small tmpfs")
    disk = tmp_path / "disk"
    disk.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1024k", "tmpfs", str(disk)]).returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    try:
        db = disk / "vigil.db"
        cfg = config(tmp_path, broker.port)
        room = ControlRoom(broker.port, "vigil/hall/events")
        record, stats = tmp_path / "screen.mp4", tmp_path / "stats.json"
        proc = vigil("run", "--headless", "--http", "off", "--config", str(cfg), "--source",
                     f"hall={need_shared(*FALL_CLIP)}#rotate=180", "--record", str(record), "--stats", str(stats),
                     "--duration", "60", db=db)
        wait_for(lambda: db.exists() or proc.poll() is not None, 60, "the database")
        fill(disk)  # the disk is full before the fall
        _, stderr = proc.communicate(timeout=120)
        assert proc.returncode == 0, stderr[-3000:]
        assert "Traceback" not in stderr
        assert stderr.count("history: cannot write") == 1, stderr[-3000:]
        falls = wait_for(lambda: [e for e in room.events() if e["type"] == "fall" and e["state"] == "raised"], 30,
                         "the fall on the broker")
        assert len(falls) == 1
        summary = json.loads(stats.read_text())
        assert summary["io_faults"]["errors"]["history"] >= 1 and summary["io_faults"]["errors"]["outbox:mqtt"] >= 1
        # and on screen: the recorded view shows the red alert banner after the fall
        with av.open(str(record)) as container:
            frames = [f.to_ndarray(format="bgr24") for f in container.decode(video=0)]
        bands = [np.median(f[:8].reshape(-1, 3), axis=0) for f in frames]
        assert any(b[2] > 150 and b[2] > 2 * b[0] for b in bands)  # a red banner (BGR) across the top
        room.close()
    finally:
        subprocess.run(["umount", "-l", str(disk)], capture_output=True)


def test_hostile_requests_get_one_clear_answer(tmp_path):
    """DNS rebinding against a console without accounts, parallel password guesses, a guessed token, JSON nested
    too deeply, odd ranges and offsets: each a clear refusal, never a request that fails inside Vigil."""
    import threading

    from edge_app.alerts.board import AlertBoard
    from edge_app.storage.db import Database
    from edge_app.web.accounts import Accounts
    from edge_app.web.server import FrameHub, OperatorServer

    local = OperatorServer(FrameHub(), lambda: {"sources": {}}, "127.0.0.1", 0, board=AlertBoard()).start()
    try:
        url = f"http://127.0.0.1:{local.port}/api/state"
        assert _get(url)["alerts"] == []
        request = urllib.request.Request(url, headers={"Host": f"attacker.example:{local.port}"})
        try:
            urllib.request.urlopen(request, timeout=5)
            raise AssertionError("a foreign Host was served")
        except urllib.error.HTTPError as err:
            assert err.code == 403 and "refused" in json.loads(err.read())["error"]
        assert local.failures == 0
    finally:
        local.stop()

    accounts = Accounts(Database(tmp_path / "vigil.db"))
    accounts.add("olga", "operator", "olga-pass-1234")
    server = OperatorServer(FrameHub(), lambda: {"sources": {}}, "127.0.0.1", 0, token="machine-t0ken-0123456",
                            board=AlertBoard(), accounts=accounts).start()
    base = f"http://127.0.0.1:{server.port}/"
    try:
        answers: list[int] = []

        def guess() -> None:
            answers.append(_post(base + "api/login", {"name": "olga", "password": "not-it-at-all"})[0])

        threads = [threading.Thread(target=guess) for _ in range(20)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert answers.count(401) <= 5 and answers.count(429) >= 15, answers  # counted before each check
        for _ in range(5):
            assert _get(base + "api/state", {"Authorization": "Bearer guessed-token-000"}) is None
        status = None
        try:
            urllib.request.urlopen(urllib.request.Request(base + "api/state", headers={
                "Authorization": "Bearer machine-t0ken-0123456"}), timeout=5)
        except urllib.error.HTTPError as err:
            status = err.code
        assert status == 429  # after five wrong tokens from this address, even the right one waits
        deep = b"[" * 3000
        request = urllib.request.Request(base + "api/logout", data=deep[:1000], method="POST",
                                         headers={"Content-Type": "application/json"})
        try:
            urllib.request.urlopen(request, timeout=5)
        except urllib.error.HTTPError as err:
            assert err.code == 400
        assert server.failures == 0
    finally:
        server.stop()
