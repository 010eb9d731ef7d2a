"""The runtime stays installable on an edge box: edge_app imports neither convert nor the toolchain's packages."""

import subprocess
import sys

from support import REPO

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
