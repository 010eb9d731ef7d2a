"""models_ir/manifest.json: what was built, from what, how, and how accurate and fast it proved."""

from __future__ import annotations

import json
import time
from pathlib import Path

import openvino as ov

from edge_app.inference.manifest import FORMAT, ModelRecord
from edge_app.system import machine


def versions() -> dict:
    out = {"openvino": ov.get_version()}
    try:
        import nncf
        out["nncf"] = nncf.__version__
    except ImportError:
        out["nncf"] = None
    return out


def load(path: Path) -> dict:
    if path.is_file():
        try:
            return json.loads(path.read_text())
        except ValueError:
            backup = path.with_suffix(f".corrupt-{int(time.time())}.json")
            path.replace(backup)
    return {"format": 1, "models": {}}


def update(path: Path, model: str, record: ModelRecord) -> dict:
    """Set one model's record, keeping the others; written atomically."""
    data = load(path)
    data["format"] = FORMAT
    data["updated"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    data["machine"] = machine()
    data["versions"] = versions()
    data.setdefault("models", {})[model] = record.to_json()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n")
    tmp.replace(path)
    return data
