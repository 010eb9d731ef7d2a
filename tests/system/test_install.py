"""Vigil installed as a user would install it: `pip install <checkout>` into a fresh virtual environment, then the
`vigil` command run from a folder outside the checkout, with its models found through VIGIL_HOME."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

from support import MODELS_IR, REPO, need_shared


def test_pip_install_then_vigil_run_from_any_folder(tmp_path, manifest):
    clip = need_shared("falls", "upfall_s1", "Activity7", "Trial2Cam1.mp4")
    source = tmp_path / "source"  # what `pip install` reads, copied: its build never writes into the checkout
    source.mkdir()
    for part in ("pyproject.toml", "README.md", "edge_app", "convert"):
        copy = shutil.copytree if (REPO / part).is_dir() else shutil.copy2
        copy(REPO / part, source / part, **({"ignore": shutil.ignore_patterns("__pycache__")}
                                            if (REPO / part).is_dir() else {}))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    pip = subprocess.run([str(venv / "bin" / "pip"), "install", "--quiet", str(source)], capture_output=True,
                         text=True, timeout=1200)
    assert pip.returncode == 0, pip.stderr[-3000:]
    home = tmp_path / "home"  # what an edge box keeps: the built models, and nothing of the source tree
    home.mkdir()
    (home / "models_ir").symlink_to(MODELS_IR)
    work = tmp_path / "elsewhere"
    work.mkdir()
    config = work / "site.yaml"
    config.write_text("models:\n  dir: models_ir        # relative: from VIGIL_HOME\npose:\n  max_people: 2\n")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIGIL_HOME", "VIRTUAL_ENV")}
    env.update(VIGIL_HOME=str(home), VIGIL_HTTP="off", PATH=f"{venv / 'bin'}:{env.get('PATH', '')}")
    where = subprocess.run([str(venv / "bin" / "python"), "-c", "import edge_app; print(edge_app.__file__)"],
                           cwd=work, env=env, capture_output=True, text=True, timeout=60)
    assert str(venv) in where.stdout and str(REPO) not in where.stdout, where.stdout + where.stderr
    stats = work / "stats.json"
    run = subprocess.run(["vigil", "run", "--source", str(clip), "--config", str(config), "--headless",
                          "--max-frames", "20", "--stats", str(stats)],
                         cwd=work, env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    summary = json.loads(stats.read_text())
    assert summary["frames"] == 20
    assert summary["models"]["detector"].startswith("pose_detector")  # found only through VIGIL_HOME
    assert (home / ".cache" / "vigil" / "ov_cache").is_dir()  # its caches go to the home too, not beside the code
