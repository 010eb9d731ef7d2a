"""The runtime stays installable on an edge box: edge_app imports neither convert nor the toolchain's packages."""

import subprocess
import sys

from conftest import REPO

BLOCK = """
import importlib, pkgutil, sys
for name in ("torch", "nncf", "onnx", "tqdm", "pycocotools", "tensorboard", "tensorflow", "convert"):
    sys.modules[name] = None  # any import of these now fails
import edge_app
for mod in pkgutil.walk_packages(edge_app.__path__, "edge_app."):
    importlib.import_module(mod.name)
print("ok")
"""


def test_runtime_imports_without_toolchain():
    proc = subprocess.run([sys.executable, "-c", BLOCK], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr


def test_runtime_dependencies_are_minimal():
    import tomllib

    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    names = {d.split("=")[0].split(">")[0].split("<")[0].strip() for d in deps}
    assert names == {"openvino", "opencv-python", "numpy", "pyyaml", "paho-mqtt", "av"}  # paho: MQTT; av: PyAV
