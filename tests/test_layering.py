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


def test_no_package_cycle_between_render_and_web():
    """The render side publishes views; the web side reads them. The render package never imports the web one."""
    import ast

    for path in (REPO / "edge_app" / "render").glob("*.py"):
        tree = ast.parse(path.read_text())
        imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module} | \
            {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        assert not any(m.startswith("edge_app.web") for m in imported), f"{path.name} imports the web package"
