"""Helpers of the bad input tests, shared by their tiers."""

from __future__ import annotations

import shutil
import socket
from pathlib import Path

import cv2
import numpy as np

from support import MODELS_IR


def tiny_video(path: Path, frames: int = 30, size=(320, 240), codec: str = "MJPG") -> Path:
    rng = np.random.default_rng(0)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*codec), 10, size)
    for _ in range(frames):
        writer.write(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8))
    writer.release()
    return path


def config(d: Path, text: str) -> Path:
    path = d / "vigil.yaml"
    path.write_text(text)
    return path


def copy_models(d: Path) -> Path:
    out = d / "models"
    shutil.copytree(MODELS_IR, out, ignore=shutil.ignore_patterns("onnx"))
    return out


def run_with_config(text: str):
    return lambda d: (["run", "--headless", "--config", str(config(d, text.replace("{d}", str(d)))), "--source",
                       str(tiny_video(d / "v.avi")), "--max-frames", "3"], [str(d / "vigil.yaml")])


def zone_config(zone: str, *needles: str):
    """A config whose one source has the zone (or per-source override) ``zone`` (YAML lines); the error must name
    the file and ``needles``."""
    def case(d: Path):
        text = f"sources:\n  - {{name: hall, uri: {tiny_video(d / 'v.avi')}}}\n{zone}"
        return (["run", "--headless", "--config", str(config(d, text)), "--max-frames", "3"],
                [str(d / "vigil.yaml"), *needles])
    return case


def corrupt_ir(d: Path):
    models = copy_models(d)
    for xml in (models / "pose_detector").glob("*/model.xml"):  # every variant: whichever the runtime picks is broken
        xml.write_text(xml.read_text()[:500])  # cut short, as a failed copy leaves it
    cfg = config(d, f"models:\n  dir: {models}\n")
    return (["run", "--headless", "--config", str(cfg), "--source", str(tiny_video(d / "v.avi"))],
            [str(models / "pose_detector"), "model.xml: cannot read model"])


def models_missing_bin(d: Path):
    models = copy_models(d)
    weights = models / "pose_landmark_lite" / "int8" / "model.bin"
    weights.unlink()
    return ["models", "--from", str(models), "--to", str(d / "home" / "models_ir")], [str(weights), "not found"]


def truncated_bin(d: Path):
    models = copy_models(d)
    weights = models / "pose_landmark_full" / "int8" / "model.bin"
    weights.write_bytes(weights.read_bytes()[:1000])
    cfg = config(d, f"models:\n  dir: {models}\n")
    return ["run", "--headless", "--config", str(cfg), "--source", str(tiny_video(d / "v.avi"))], ["pose_landmark_full"]


def wrong_kind(d: Path):
    cfg = config(d, "models:\n  landmarks: pose_detector\n")
    return (["run", "--headless", "--config", str(cfg), "--source", str(tiny_video(d / "v.avi"))],
            ["pose_detector", "not a BlazePose landmark model"])


def broken_manifest(d: Path):
    models = d / "models"
    models.mkdir()
    (models / "manifest.json").write_text("{ not json")
    cfg = config(d, f"models:\n  dir: {models}\n")
    return ["run", "--headless", "--config", str(cfg), "--source", "0"], ["manifest.json", "not a Vigil model manifest"]


def missing_model_file(d: Path):
    models = copy_models(d)
    (models / "pose_detector" / "int8" / "model.xml").unlink()
    (models / "pose_detector" / "fp32" / "model.xml").unlink()
    cfg = config(d, f"models:\n  dir: {models}\n")
    return ["run", "--headless", "--config", str(cfg), "--source", str(tiny_video(d / "v.avi"))], ["model.xml"]


def unwritable(flag: str, name: str):
    def make(d: Path):
        blocker = d / "file"
        blocker.write_text("x")
        return (["run", "--headless", "--source", str(tiny_video(d / "v.avi")), "--max-frames", "3", flag,
                 str(blocker / name)], [flag])
    return make
HELD: list[socket.socket] = []  # ports kept busy during a case


def port_in_use(d: Path):
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    HELD.append(sock)
    port = sock.getsockname()[1]
    return (["run", "--headless", "--source", str(tiny_video(d / "v.avi")), "--http", f"127.0.0.1:{port}"],
            [f"127.0.0.1:{port}", "address in use"])


def file_with(d: Path, name: str, content: bytes) -> str:
    (d / name).write_bytes(content)
    return str(d / name)
CASES = {
    # config
    "malformed YAML": run_with_config("pose: [1, 2\n"),
    "unknown key": run_with_config("inference:\n  devise: GPU\n"),
    "wrong type": run_with_config("pose:\n  max_people: many\n"),
    "value out of range": run_with_config("analysis:\n  fall:\n    threshold: 7\n"),
    "not a mapping": run_with_config("- just\n- a list\n"),
    "config that tries to run code": run_with_config("!!python/object/apply:os.system ['touch {d}/pwned']\n"),
    "unknown device": run_with_config("inference:\n  device: TPU\n"),
    # accounts live in the database, so the file is valid: the run refuses it before the models load (--http: the
    # suite's VIGIL_HTTP would otherwise keep it on loopback)
    "server beyond loopback without a token": lambda d: (
        ["run", "--headless", "--config", str(config(d, "server:\n  host: 0.0.0.0\n")), "--http", "0.0.0.0:0",
         "--source", str(tiny_video(d / "v.avi")), "--max-frames", "3"],
        ["server.host 0.0.0.0", "console accounts", "token"]),
    "bad MQTT port": run_with_config("alerts:\n  mqtt:\n    enabled: true\n    port: 0\n"),
    "zone with 2 corners": zone_config("zones:\n  - {source: hall, name: bed, polygon: [[0.1, 0.1], [0.5, 0.5]]}\n",
                                       "zones[0]", "at least 3 corners"),
    "zone corner outside the picture": zone_config(
        "zones:\n  - {source: hall, name: bed, polygon: [[0.1, 0.1], [1.5, 0.5], [0.2, 0.9]]}\n",
        "polygon[1]", "outside the picture"),
    "unknown zone rule": zone_config(
        "zones:\n  - {source: hall, name: bed, rule: mute, polygon: [[0.1, 0.1], [0.5, 0.5], [0.2, 0.9]]}\n",
        "zones[0].rule", "include"),
    "zone naming an unknown source": zone_config(
        "zones:\n  - {source: ward, name: bed, polygon: [[0.1, 0.1], [0.5, 0.5], [0.2, 0.9]]}\n",
        "zones[0].source", "unknown source 'ward'"),
    "zone on a source given only on the command line, misspelt": lambda d: (
        ["run", "--headless", "--config", str(config(
            d, "zones:\n  - {source: hal, name: bed, polygon: [[0.1, 0.1], [0.5, 0.5], [0.2, 0.9]]}\n")),
         "--source", f"hall={tiny_video(d / 'v.avi')}", "--max-frames", "3"],
        [str(d / "vigil.yaml"), "zones[0].source", "unknown source 'hal'", "hall"]),
    "per-source override out of range": zone_config("per_source:\n  hall:\n    fall:\n      threshold: 3\n",
                                                    "per_source.hall.fall", "threshold"),
    "per-source override of an unknown source": zone_config("per_source:\n  ward:\n    fall: {threshold: 0.9}\n",
                                                            "per_source.ward", "unknown source"),
    "config file missing": lambda d: (["run", "--config", str(d / "none.yaml"), "--source", "0"],
                                      [str(d / "none.yaml"), "not found"]),
    "no source at all": lambda d: (["run", "--headless", "--config", str(config(d, "pose: {}\n"))],
                                   ["no source", "vigil.yaml"]),
    # models
    "models folder without a manifest": lambda d: (["run", "--config", str(config(d, f"models:\n  dir: {d}/m\n")),
                                                    "--source", "0"], ["manifest.json: not found"]),
    "manifest that is not JSON": broken_manifest,
    "unknown model name": lambda d: (["run", "--headless", "--config", str(config(d, "models:\n  detector: yolo\n")),
                                      "--source", str(tiny_video(d / "v.avi"))], ["no model 'yolo'"]),
    "corrupted IR": corrupt_ir,
    "truncated weights": truncated_bin,
    "model of the wrong kind": wrong_kind,
    "missing model file": missing_model_file,
    "models to install without a manifest": lambda d: (["models", "--from", str(d), "--to", str(d / "home" / "m")],
                                                       [str(d / "manifest.json"), "not found"]),
    "models to install with a weights file missing": models_missing_bin,
    # sources
    "source file missing": lambda d: (["run", "--headless", "--source", f"cam={d}/missing.mp4"],
                                      ["source cam", "not found"]),
    "not a video": lambda d: (["run", "--headless", "--source", file_with(d, "a.mp4", b"some text")], ["a.mp4"]),
    "empty video": lambda d: (["run", "--headless", "--source", file_with(d, "e.mp4", b"")], ["e.mp4"]),
    "unreachable RTSP camera": lambda d: (["run", "--headless", "--source", "door=rtsp://127.0.0.1:9/cam"],
                                          ["source door", "rtsp://127.0.0.1:9/cam", "cannot open"]),
    "duplicate source names": lambda d: (["run", "--headless", "--source", f"a={tiny_video(d / 'v.avi')}", "--source",
                                          f"a={d / 'v.avi'}"], ["source names must be unique"]),
    "crop outside the frame": lambda d: (["run", "--headless", "--source", f"a={tiny_video(d / 'v.avi')}", "--crop",
                                          "a=300,0,100,100", "--max-frames", "2"], ["does not fit its 320x240 frames"]),
    # command line and outputs
    "bad --max-frames": lambda d: (["run", "--headless", "--source", str(tiny_video(d / "v.avi")), "--max-frames",
                                    "0"], ["--max-frames"]),
    "bad --http": lambda d: (["run", "--source", "0", "--http", "here"], ["--http 'here'"]),
    "port in use": port_in_use,
    "unwritable --record": unwritable("--record", "out.mp4"),
    "unwritable --events": unwritable("--events", "events.jsonl"),
    "unwritable --stats": unwritable("--stats", "stats.json"),
    "models.detector is not a person finder": run_with_config("models:\n  detector: pose_landmark_full\n"),
    "evaluate: clip list missing": lambda d: (["evaluate", "--clips", str(d / "none.json"), "--json",
                                               str(d / "o.json")], ["none.json"]),
    "benchmark: models folder missing": lambda d: (["benchmark", "--quick", "--models-dir", str(d / "none")],
                                                   ["manifest.json", "not found"]),
}
