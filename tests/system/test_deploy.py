"""Deployment checked for real: the systemd units (deploy/systemd) pass `systemd-analyze verify` without a warning,
restart on failure, reload with SIGHUP, stop with SIGTERM, log to journald, and run a command line Vigil's own
parser accepts; `vigil health`; the runtime image (deploy/docker) built from this checkout with real Docker, holding
no toolchain, analysing a fall clip over RTSP into a real Mosquitto, healthy, and stopping cleanly."""

from __future__ import annotations

import configparser
import json
import os
import shlex
import shutil
import subprocess
import sys
import time

import pytest

from support import (
    MODELS_IR,
    PYTHON,
    REPO,
    Broker,
    ControlRoom,
    RtspServer,
    free_port,
    need_shared,
    rtsp_available,
    run_cli,
    wait_for,
)

UNITS = sorted((REPO / "deploy" / "systemd").glob("*.service"))
VIGIL = REPO / ".venv" / "bin" / "vigil"


def verify(unit_text: str, tmp_path, name: str) -> subprocess.CompletedProcess:
    """`systemd-analyze verify` on ``unit_text`` with the runtime's path pointed at this checkout's `vigil`."""
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed (Debian: systemd)")
    path = tmp_path / name
    path.write_text(unit_text.replace("/opt/vigil/venv/bin/vigil", str(VIGIL if VIGIL.exists() else sys.executable)))
    return subprocess.run(["systemd-analyze", "verify", "--man=no", str(path)], capture_output=True, text=True,
                          timeout=60)


@pytest.mark.parametrize("unit", UNITS, ids=[u.name for u in UNITS])
def test_the_unit_verifies_without_a_warning_and_runs_a_valid_command(unit, tmp_path):
    proc = verify(unit.read_text(), tmp_path, unit.name)
    assert proc.returncode == 0 and not proc.stderr.strip() and not proc.stdout.strip(), proc.stderr + proc.stdout
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str
    parser.read_string(unit.read_text())
    service = parser["Service"]
    assert service["Restart"] == "on-failure" and service["KillSignal"] == "SIGTERM"
    assert service["ExecReload"] == "/bin/kill -HUP $MAINPID"  # the runner reloads its config on SIGHUP
    assert service["StandardOutput"] == service["StandardError"] == "journal"
    assert "Environment=VIGIL_HOME=/var/lib/vigil" in unit.read_text()  # models, caches, evidence: the home
    from edge_app.__main__ import _parser

    argv = shlex.split(service["ExecStart"])
    assert argv[0] == "/opt/vigil/venv/bin/vigil"
    args = _parser().parse_args(argv[1:])
    assert args.command == "run" and args.config is not None and (args.headless or args.kiosk)


def test_a_unit_with_a_mistake_is_caught(tmp_path):
    """The check above can fail: a misspelt restart policy is a warning, an unknown command a fatal error."""
    text = UNITS[0].read_text()
    assert verify(text.replace("Restart=on-failure", "Restart=sometimes"), tmp_path, "a.service").stderr.strip()
    assert verify(text.replace("ExecStart=/opt/vigil/venv/bin/vigil", "ExecStart=vigil/x"), tmp_path,
                  "b.service").returncode != 0


# --- `vigil health` and the container image ---------------------------------------------------------------------

def test_health_answers_for_a_running_vigil_and_fails_clearly_otherwise(tmp_path):
    clip = need_shared("falls", "upfall_s1", "Activity7", "Trial1Cam1.mp4")
    port = free_port()
    config = tmp_path / "vigil.yaml"
    config.write_text(f"server:\n  host: 127.0.0.1\n  port: {port}\n  token: s3cret-s3cret-s3cret\n")
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text(f"server:\n  host: 127.0.0.1\n  port: {port}\n  token: guess-guess-guess-1\n")
    assert run_cli("edge_app", "health", "--config", str(config)).returncode == 1  # nothing runs yet
    env = {k: v for k, v in os.environ.items() if k != "VIGIL_HTTP"}  # the suite turns the server off elsewhere
    vigil = subprocess.Popen([PYTHON, "-m", "edge_app", "run", "--config", str(config), "--headless", "--source",
                              f"cam={clip}", "--duration", "60"], cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    try:
        proc = wait_for(lambda: (p := run_cli("edge_app", "health", "--config", str(config))).returncode == 0 and p,
                        60, "vigil health to say healthy", every=0.5)
        assert proc.stdout.strip() == "healthy: cam online", proc.stdout
        refused = run_cli("edge_app", "health", "--config", str(wrong))
        assert refused.returncode == 1 and "answered 401" in refused.stdout, refused.stdout
    finally:
        vigil.terminate()
        vigil.wait(30)
    gone = run_cli("edge_app", "health", "--config", str(config))
    assert gone.returncode == 1 and "does not answer" in gone.stdout and "Traceback" not in gone.stderr


TOOLCHAIN = {"torch", "nncf", "tensorflow", "onnx", "onnxruntime", "openvino-dev", "ai-edge-litert", "mediapipe",
             "selenium"}


@pytest.fixture(scope="module")
def docker_image(tmp_path_factory):
    """The runtime image built from this checkout by deploy/docker/build.sh (dockerd started here when it is not
    running and this is root); skipped, with the reason, where Docker cannot run."""
    if shutil.which("docker") is None or shutil.which("dockerd") is None:
        pytest.skip("Docker is not installed (Debian: docker.io; `make test` installs it)")
    started = None
    if subprocess.run(["docker", "info"], capture_output=True, timeout=30).returncode != 0:
        if os.geteuid() != 0:
            pytest.skip("dockerd is not running and only root can start it here")
        log = tmp_path_factory.mktemp("dockerd") / "dockerd.log"
        started = subprocess.Popen(["dockerd"], stdout=log.open("w"), stderr=subprocess.STDOUT,
                                   start_new_session=True)
        deadline = time.monotonic() + 60
        while subprocess.run(["docker", "info"], capture_output=True, timeout=30).returncode != 0:
            if time.monotonic() > deadline or started.poll() is not None:
                started.terminate()
                pytest.skip(f"dockerd does not start here: {log.read_text()[-300:]}")
            time.sleep(1)
    build = subprocess.run([str(REPO / "deploy" / "docker" / "build.sh"), IMAGE], capture_output=True, text=True,
                           timeout=1800)
    assert build.returncode == 0, build.stdout[-2000:] + build.stderr[-2000:]
    yield IMAGE
    if started is not None:
        started.terminate()
        started.wait(30)


IMAGE = "vigil:test"


def test_the_runtime_image_holds_the_runtime_and_no_toolchain(docker_image):
    listed = subprocess.run(["docker", "run", "--rm", "--entrypoint", "/opt/vigil/venv/bin/pip", docker_image,
                             "list", "--format=freeze"], capture_output=True, text=True, timeout=120)
    packages = {line.split("==")[0].lower() for line in listed.stdout.split()}
    assert {"vigil", "openvino", "opencv-python-headless", "av", "numpy", "paho-mqtt"} <= packages, packages
    assert not packages & TOOLCHAIN, packages & TOOLCHAIN
    user = subprocess.run(["docker", "run", "--rm", "--entrypoint", "id", docker_image, "-u"], capture_output=True,
                          text=True, timeout=60)
    assert user.stdout.strip() == "10001"  # not root
    no_browser = subprocess.run(["docker", "run", "--rm", "--entrypoint", "/bin/sh", docker_image, "-c",
                                 "command -v chromium chromedriver torch || echo none"], capture_output=True,
                                text=True, timeout=60)
    assert no_browser.stdout.strip() == "none"


def test_the_container_alerts_on_a_fall_over_rtsp_is_healthy_and_stops_cleanly(docker_image, tmp_path):
    """A fall clip over RTSP into the container (host network, as a box on the cameras' network), alerts to a real
    Mosquitto: the alert reaches the broker, Docker's health check says healthy, `docker stop` ends it within 10 s
    with exit status 0 and the event log written to the mounted home."""
    if not rtsp_available():
        pytest.skip("GStreamer's RTSP server is not available for the system python3")
    clip = need_shared("falls", "upfall_s1", "Activity1", "Trial2Cam1.mp4")
    broker = Broker(tmp_path).start()
    room = ControlRoom(broker.port)
    server = RtspServer({"cam": clip}, fps=18).start().warm()
    home = tmp_path / "home"
    (home / "out").mkdir(parents=True)
    os.chown(home / "out", 10001, 10001)
    port = free_port()
    (home / "vigil.yaml").write_text(
        f"server:\n  host: 127.0.0.1\n  port: {port}\nalerts:\n  mqtt:\n    enabled: true\n    port: {broker.port}\n"
        f"    client_id: box-1\n  evidence:\n    dir: out/evidence\n")
    name = f"vigil-test-{port}"
    started = time.monotonic()
    run = subprocess.run(["docker", "run", "-d", "--name", name, "--network", "host",
                          "-v", f"{MODELS_IR.resolve()}:/var/lib/vigil/models_ir:ro",
                          "-v", f"{home / 'vigil.yaml'}:/etc/vigil/vigil.yaml:ro",
                          "-v", f"{home / 'out'}:/var/lib/vigil/out", docker_image,
                          "run", "--config", "/etc/vigil/vigil.yaml", "--headless", "--source",
                          f"cam={server.url('cam')}", "--events", "/var/lib/vigil/out/events.jsonl"],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr

    def inspect(fmt: str) -> str:
        return subprocess.run(["docker", "inspect", "--format", fmt, name], capture_output=True, text=True,
                              timeout=30).stdout.strip()

    try:
        first = wait_for(lambda: _frames(port) > 0, 120, "the first analysed frame in the container")
        assert first
        startup_s = time.monotonic() - started
        alerts = wait_for(lambda: [e for e in room.events() if e["type"] == "fall" and e["state"] == "raised"], 90,
                          "the fall alert on the broker")
        assert alerts[0]["stream"] == "cam"
        wait_for(lambda: inspect("{{.State.Health.Status}}") == "healthy", 90, "Docker's health check")
        stop_started = time.monotonic()
        subprocess.run(["docker", "stop", "-t", "10", name], capture_output=True, timeout=60)
        stop_s = time.monotonic() - stop_started
        assert stop_s < 10.0 and inspect("{{.State.ExitCode}}") == "0", (stop_s, inspect("{{.State.ExitCode}}"))
        logged = [json.loads(line) for line in (home / "out" / "events.jsonl").read_text().splitlines()]
        assert any(e["type"] == "fall" and e["state"] == "raised" for e in logged)
        print(f"container: first analysed frame {startup_s:.1f} s after `docker run`, stopped in {stop_s:.1f} s")
    finally:
        subprocess.run(["docker", "logs", "--tail", "30", name], timeout=30)
        subprocess.run(["docker", "rm", "-f", name], capture_output=True, timeout=60)
        server.stop()
        room.close()
        broker.stop()


def _frames(port: int) -> int:
    """Frames analysed so far, from the container's /metrics (0 while it does not answer)."""
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
            text = r.read().decode()
    except OSError:
        return 0
    return int(sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                   if line.startswith("vigil_frames_total")))


def test_compose_runs_two_boxes_on_one_broker(docker_image, tmp_path):
    """deploy/compose.yaml for real: the broker from Debian's Mosquitto and two Vigil boxes, each with its own camera
    over RTSP; a control room on the broker sees both boxes' streams online and box 1's fall alert; box 1 is
    healthy, `docker stop` ends it within 10 s with exit status 0 and its event log written; `down` stops the rest."""
    if shutil.which("docker-compose") is None:
        pytest.skip("docker-compose is not installed (Debian: docker-compose; `make test` installs it)")
    if not rtsp_available():
        pytest.skip("GStreamer's RTSP server is not available for the system python3")
    if subprocess.run(["docker", "image", "inspect", "vigil-mosquitto:bookworm"], capture_output=True,
                      timeout=30).returncode != 0:
        built = subprocess.run([str(REPO / "deploy" / "docker" / "build-base.sh"), "mosquitto"], capture_output=True,
                               text=True, timeout=900)
        assert built.returncode == 0, built.stderr[-2000:]
    fall = need_shared("falls", "upfall_s1", "Activity1", "Trial2Cam1.mp4")
    calm = need_shared("falls", "upfall_s1", "Activity7", "Trial1Cam1.mp4")
    server = RtspServer({"fall": fall, "calm": calm}, fps=18).start().warm()
    mqtt_port = free_port()
    (tmp_path / "mosquitto.conf").write_text(f"listener {mqtt_port} 127.0.0.1\nallow_anonymous true\n")
    for i, mount in ((1, "fall"), (2, "calm")):
        (tmp_path / f"box{i}.yaml").write_text(
            f"sources:\n  - name: box{i}-cam\n    uri: {server.url(mount)}\nalerts:\n  mqtt:\n    enabled: true\n"
            f"    port: {mqtt_port}\n    client_id: box-{i}\nserver:\n  port: {free_port()}\n")
    env = {**os.environ, "VIGIL_IMAGE": docker_image, "VIGIL_MODELS": str(MODELS_IR.resolve()),
           "VIGIL_BOX1": str(tmp_path / "box1.yaml"), "VIGIL_BOX2": str(tmp_path / "box2.yaml"),
           "VIGIL_BROKER_CONF": str(tmp_path / "mosquitto.conf")}
    compose = ["docker-compose", "-f", str(REPO / "deploy" / "compose.yaml"), "-p", f"vigiltest{mqtt_port}"]
    up = subprocess.run([*compose, "up", "-d"], env=env, capture_output=True, text=True, timeout=300)
    room = None
    try:
        assert up.returncode == 0, up.stderr[-2000:]
        room = wait_for(lambda: _control_room(mqtt_port), 60, "the broker in compose to take a subscriber")
        wait_for(lambda: {"box1-cam", "box2-cam"} <= {t.split("/")[1] for t, p, _ in room.messages
                                                      if t.endswith("/status") and b"online" in p},
                 120, "both boxes' streams online on the broker")
        alerts = wait_for(lambda: [e for e in room.events() if e["type"] == "fall" and e["state"] == "raised"], 120,
                          "box 1's fall alert on the broker")
        assert {e["stream"] for e in alerts} == {"box1-cam"}
        box1 = subprocess.run([*compose, "ps", "-q", "box1"], env=env, capture_output=True, text=True,
                              timeout=60).stdout.strip()

        def inspect(fmt: str) -> str:
            return subprocess.run(["docker", "inspect", "--format", fmt, box1], capture_output=True, text=True,
                                  timeout=30).stdout.strip()

        wait_for(lambda: inspect("{{.State.Health.Status}}") == "healthy", 90, "box 1's health check")
        stop_started = time.monotonic()
        subprocess.run(["docker", "stop", "-t", "10", box1], capture_output=True, timeout=60)
        assert time.monotonic() - stop_started < 10.0 and inspect("{{.State.ExitCode}}") == "0"
        logged = subprocess.run(["docker", "cp", f"{box1}:/var/lib/vigil/events.jsonl", "-"], capture_output=True,
                                timeout=60).stdout  # a tar stream of the one file, from the stopped container
        assert b'"type": "fall"' in logged and b'"state": "raised"' in logged  # the event log was flushed
    finally:
        if room is not None:
            room.close()
        down = subprocess.run([*compose, "down", "-v"], env=env, capture_output=True, text=True, timeout=300)
        server.stop()
    assert down.returncode == 0, down.stderr[-2000:]


def _control_room(port: int):
    try:
        return ControlRoom(port)
    except (OSError, RuntimeError):
        return None


def test_the_gpu_image_has_intels_opencl_runtime_and_falls_back_to_cpu_without_a_device(docker_image, tmp_path):
    """`build.sh --gpu`: OpenVINO's GPU plugin loads in the image (Intel's OpenCL runtime from Debian is there); on a
    box without a GPU or NPU (this one), `inference.device: GPU` or `NPU` falls back to CPU with a warning and the
    run completes, as on bare metal."""
    built = subprocess.run([str(REPO / "deploy" / "docker" / "build.sh"), "--gpu", f"{IMAGE}-gpu"],
                           capture_output=True, text=True, timeout=1800)
    assert built.returncode == 0, built.stdout[-2000:] + built.stderr[-2000:]
    probe = subprocess.run(["docker", "run", "--rm", "--entrypoint", "/opt/vigil/venv/bin/python", f"{IMAGE}-gpu",
                            "-c", "import openvino as ov; c = ov.Core(); print(sorted(c.get_versions('GPU')), "
                                  "c.available_devices)"], capture_output=True, text=True, timeout=120)
    assert probe.stdout.startswith("['GPU']"), probe.stdout + probe.stderr  # the plugin and its runtime load
    clip = need_shared("falls", "upfall_s1", "Activity7", "Trial1Cam1.mp4")
    present = probe.stdout.split("]", 1)[1]
    for device in ("GPU", "NPU"):  # NPU: OpenVINO's plugin is in the wheel; the device needs Intel's NPU driver
        (tmp_path / "vigil.yaml").write_text(f"inference:\n  device: {device}\nserver:\n  enabled: false\n")
        run = subprocess.run(["docker", "run", "--rm", "-v", f"{MODELS_IR.resolve()}:/var/lib/vigil/models_ir:ro",
                              "-v", f"{tmp_path / 'vigil.yaml'}:/etc/vigil/vigil.yaml:ro",
                              "-v", f"{clip}:/clips/c.mp4:ro", f"{IMAGE}-gpu", "run", "--config",
                              "/etc/vigil/vigil.yaml", "--headless", "--source", "/clips/c.mp4", "--max-frames", "10"],
                             capture_output=True, text=True, timeout=300)
        assert run.returncode == 0, run.stderr[-2000:]
        if device not in present:  # not on this box: the documented fallback
            assert f"device {device} is not available" in run.stderr and "falling back to CPU" in run.stderr, \
                run.stderr
