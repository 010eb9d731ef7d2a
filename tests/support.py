"""Helpers the tests share (paths, the CLI runner, a real RTSP server, a real Mosquitto broker and a control room).
Tests that need ../shared/data or built models skip with a clear reason when absent; fixtures are in conftest.py."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared" / "data"
MODELS_IR = REPO / "models_ir"
PYTHON = sys.executable


def need_shared(*parts: str) -> Path:
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"needs {path} (the shared real data is not present on this machine)")
    return path


def run_cli(*args: str, env: dict | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
    """Run ``python -m ...`` from the repository root; returns the completed process (text)."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([PYTHON, "-m", *args], cwd=REPO, capture_output=True, text=True, timeout=timeout,
                          env=full_env)


def run_in_process(*argv: str) -> subprocess.CompletedProcess:
    """Run the `vigil` command line in this process (``python -m edge_app ARGV`` without starting one): the exit
    status, stdout and stderr as a subprocess would give them. A traceback would surface as the test's own
    exception."""
    import contextlib
    import io

    from edge_app.__main__ import main
    from edge_app.cli_support import run_main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = run_main(lambda: main(list(argv)), "vigil")
        except SystemExit as exc:  # argparse's own errors
            code = exc.code if isinstance(exc.code, int) else 2
    return subprocess.CompletedProcess(list(argv), code, out.getvalue(), err.getvalue())


def assert_clean_error(proc: subprocess.CompletedProcess, *needles: str) -> str:
    """A user error: exit status 2 (as documented), no traceback, the last stderr line names what was wrong."""
    assert proc.returncode == 2, f"exit {proc.returncode}: " + proc.stdout[-1000:] + proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
    assert lines, "no error message"
    last = lines[-1]
    assert "error:" in last, proc.stderr
    for needle in needles:
        assert needle in last, f"{needle!r} not in {last!r}"
    return last


def wait_for(condition, timeout: float, what: str, every: float = 0.2):
    """Poll ``condition`` until it returns something true (returned), or fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RtspServer:
    """GStreamer's gst-rtsp-server on loopback, run by the system python3 (scripts/rtsp_server.py)."""

    def __init__(self, mounts: dict[str, Path], port: int | None = None, fps: int = 15,
                 size: tuple[int, int] = (640, 480), auth: str | None = None):
        self.mounts, self.port, self.fps, self.size = mounts, port or free_port(), fps, size
        self.auth = auth  # "USER:PASSWORD": the server asks for them (RTSP basic authentication)
        self.proc: subprocess.Popen | None = None

    def url(self, mount: str) -> str:
        return f"rtsp://127.0.0.1:{self.port}/{mount}"

    def start(self, timeout: float = 60.0) -> RtspServer:  # it encodes each clip once before it listens
        args = ["/usr/bin/python3", str(REPO / "scripts" / "rtsp_server.py"), "--port", str(self.port),
                "--fps", str(self.fps), "--width", str(self.size[0]), "--height", str(self.size[1])]
        for name, path in self.mounts.items():
            args += ["--mount", f"{name}={path}"]
        if self.auth is not None:
            args += ["--auth", self.auth]
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + timeout
        line = self.proc.stdout.readline() if self.proc.stdout else ""
        if not line.startswith("READY") or time.monotonic() > deadline:
            err = self.proc.stderr.read() if self.proc.stderr else ""
            self.stop()
            raise RuntimeError(f"RTSP server did not start: {line!r} {err[-300:]}")
        return self

    def warm(self) -> RtspServer:
        """Connect to each mount once so its stream is running, as a camera's would be before Vigil starts."""
        import cv2

        for name in self.mounts:
            cap = cv2.VideoCapture(self.url(name), cv2.CAP_FFMPEG)
            cap.read()
            cap.release()
        return self

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None


def rtsp_available() -> bool:
    probe = ("import gi; gi.require_version('GstRtspServer', '1.0'); "
             "from gi.repository import GstRtspServer, Gst; Gst.init(None); "
             "assert Gst.ElementFactory.find('x264enc')")
    return subprocess.run(["/usr/bin/python3", "-c", probe], capture_output=True).returncode == 0


# --- a real MQTT broker (Debian's Mosquitto) and a control room subscribed to it ---------------------------------

MOSQUITTO = shutil.which("mosquitto") or ("/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None)


class Broker:
    """Mosquitto on loopback with persistence, so a control room's persistent session survives a restart."""

    def __init__(self, folder: Path, secure: str = "", port: int | None = None):
        """``secure``: more configuration lines for the listener (TLS certificate, password file)."""
        self.port, self.folder = port or free_port(), folder
        self.conf = folder / "mosquitto.conf"
        # `user`: started by root, mosquitto would switch to its own user, which cannot write to the test's folder
        user = "root" if os.geteuid() == 0 else os.environ.get("USER", "mosquitto")
        access = secure or "allow_anonymous true\n"
        self.conf.write_text(f"user {user}\nlistener {self.port} 127.0.0.1\n{access}"
                             f"persistence true\npersistence_location {folder}/\nautosave_interval 1\n"
                             f"log_dest file {folder}/broker.log\n")
        self.proc: subprocess.Popen | None = None

    def start(self) -> Broker:
        self.proc = subprocess.Popen([MOSQUITTO, "-c", str(self.conf)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("mosquitto did not start")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None


class ControlRoom:
    """A subscriber with a persistent session (QoS 1), as a control room would run one."""

    def __init__(self, port: int, topic: str = "vigil/#"):
        import paho.mqtt.client as mqtt

        self.messages: list[tuple[str, bytes, bool]] = []
        self.lock = threading.Lock()
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="control-room", clean_session=False)
        subscribed = threading.Event()
        client.on_connect = lambda c, u, f, rc, p: c.subscribe(topic, qos=1)
        client.on_subscribe = lambda c, u, mid, codes, p: subscribed.set()
        client.on_message = self._on_message
        client.reconnect_delay_set(min_delay=1, max_delay=2)
        client.connect("127.0.0.1", port, keepalive=5)
        client.loop_start()
        self.client = client
        # The broker keeps messages for this session only once it holds the subscription: a test that stops the
        # broker right after this returns would otherwise race the SUBSCRIBE (and lose every message, as CI saw).
        if not subscribed.wait(10):
            self.close()
            raise RuntimeError(f"control room: no SUBACK from the broker on port {port} within 10 s")

    def _on_message(self, client, userdata, msg) -> None:
        with self.lock:
            self.messages.append((msg.topic, msg.payload, msg.retain))

    def events(self) -> list[dict]:
        with self.lock:
            return [json.loads(p) for t, p, _ in self.messages if t.endswith("/events")]

    def wait_events(self, n: int, timeout: float) -> list[dict]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and len(self.events()) < n:
            time.sleep(0.1)
        return self.events()

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def outbox(sink: str) -> list[dict]:
    """The records waiting in ``sink``'s outbox (``mqtt``, ``webhook``, ``notify``) in this test's database (the
    ``VIGIL_DB`` every test gets, tests/conftest.py), read as the next start of Vigil would read them."""
    from edge_app.alerts.spool import Spool
    from edge_app.storage.db import Database

    db = Database(Path(os.environ["VIGIL_DB"]))
    try:
        return Spool(db, sink).pending()
    finally:
        db.close()


def database_bytes() -> str:
    """This test's database file and its write-ahead log as text (to look for what must never be stored)."""
    db = Path(os.environ["VIGIL_DB"])
    return "".join(p.read_bytes().decode("latin-1") for p in (db, Path(f"{db}-wal")) if p.is_file())
