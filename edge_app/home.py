"""Where Vigil keeps its files: the Vigil home.

Every relative path in a config (``models.dir``, ``inference.cache_dir``, the alert outboxes, the evidence folder)
and every default that names a file is taken from the home, never from where the code is installed, so an installed
``vigil`` command works from any folder:

1. ``$VIGIL_HOME`` when it is set;
2. else, when the code runs from a source checkout (``pyproject.toml`` and ``configs/`` beside ``edge_app/``), the
   checkout, so ``make models`` and ``python -m edge_app`` agree with no setting;
3. else the current folder.
"""

from __future__ import annotations

import os
from pathlib import Path

_CHECKOUT = Path(__file__).resolve().parent.parent


def vigil_home() -> Path:
    """The Vigil home folder (absolute), looked up at each call (see the module's docstring for the order)."""
    env = os.environ.get("VIGIL_HOME")
    if env:
        return Path(env).expanduser().resolve()
    if (_CHECKOUT / "pyproject.toml").is_file() and (_CHECKOUT / "configs").is_dir():
        return _CHECKOUT
    return Path.cwd().resolve()


def in_home(path: Path) -> Path:
    """``path`` itself when absolute, else the same path under the Vigil home."""
    path = Path(path).expanduser()
    return path if path.is_absolute() else vigil_home() / path


def cache_root() -> Path:
    """Downloads and caches (``$VIGIL_CACHE``, else ``.cache/vigil`` in the home)."""
    return Path(os.environ.get("VIGIL_CACHE") or in_home(Path(".cache") / "vigil"))
