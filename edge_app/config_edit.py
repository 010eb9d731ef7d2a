"""Writing the config file from the console (the zone editor), safely.

A change is written only after the whole new file validated (the same loader and checks a start uses), the previous
file is kept as ``FILE.bak``, and the new one replaces it atomically (written beside it, then renamed), so a crash
never leaves half a config. The file is edited as YAML round-trip (ruamel.yaml): the user's comments, order and
layout outside the changed list stay as they were.
"""

from __future__ import annotations

import io
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from edge_app.errors import ConfigError


def _flow(values: list) -> CommentedSeq:
    seq = CommentedSeq(values)
    seq.fa.set_flow_style()
    return seq


def zone_entries(source: str, zones: list[dict[str, Any]]) -> list[CommentedMap]:
    """The config's ``zones`` entries for ``source`` from the editor's zones ({name, rule, alerts, polygon}),
    polygons written compactly ([[x, y], ...], 4 decimals). Raises ConfigError for a zone that is not a mapping
    or lacks a polygon list (the full check is the config loader's)."""
    out = []
    for i, zone in enumerate(zones):
        if not isinstance(zone, dict) or not isinstance(zone.get("polygon"), list):
            raise ConfigError(f"zones[{i}]: expected a mapping with a polygon list")
        entry = CommentedMap()
        entry["source"] = source
        entry["name"] = zone.get("name")
        entry["rule"] = zone.get("rule", "exclude")
        entry["alerts"] = _flow(list(zone.get("alerts", ["fall", "fatigue"])))
        try:
            entry["polygon"] = _flow([_flow([round(float(x), 4), round(float(y), 4)]) for x, y in zone["polygon"]])
        except (TypeError, ValueError):
            raise ConfigError(f"zones[{i}].polygon: expected [[x, y], ...] numbers") from None
        out.append(entry)
    return out


def save_zones(path: Path, source: str, zones: list[dict[str, Any]], check: Callable[[Path], object]) -> Path:
    """Replace ``source``'s zones in the config file ``path`` with ``zones`` (other sources' zones and everything
    else kept). ``check(candidate)`` must raise ConfigError for a file that is not valid as a whole; nothing is
    written then. Returns the backup's path (``path`` + ``.bak``: the file as it was). Raises ConfigError naming
    the file when it cannot be read, parsed or written."""
    yaml = YAML()  # round-trip: comments and layout kept
    yaml.indent(mapping=2, sequence=4, offset=2)
    try:
        doc = yaml.load(path.read_text(encoding="utf-8")) or CommentedMap()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror})") from None
    except Exception as exc:  # ruamel's parser errors have no common public base  # noqa: BLE001
        raise ConfigError(f"{path}: cannot parse ({str(exc).splitlines()[0]})") from None
    if not isinstance(doc, dict):
        raise ConfigError(f"{path}: the file is not a mapping of keys")
    kept = [z for z in (doc.get("zones") or []) if not (isinstance(z, dict) and z.get("source") == source)]
    doc["zones"] = kept + zone_entries(source, zones)
    text = io.StringIO()
    yaml.dump(doc, text)
    folder = path.resolve().parent
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".new", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text.getvalue())
            out.flush()
            os.fsync(out.fileno())
        try:
            check(Path(tmp))
        except ConfigError as exc:  # name the user's file, not the candidate beside it
            raise ConfigError(str(exc).replace(tmp, str(path))) from None
        backup = path.with_name(path.name + ".bak")
        shutil.copy2(path, backup)
        os.replace(tmp, path.resolve())
        return backup
    except OSError as exc:
        raise ConfigError(f"{path}: cannot write ({exc.strerror})") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
