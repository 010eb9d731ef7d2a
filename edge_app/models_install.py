"""`vigil models --from DIR`: put a built ``models_ir`` on a box that has no toolchain.

The toolchain (`make models`, on a build machine) writes ``models_ir/`` with its ``manifest.json``; an edge box
installs only the runtime. This copies such a folder into the Vigil home (``models_ir`` there, or ``--to``), after
checking it is whole: the manifest reads, and every IR it names is there with its weights and reads in OpenVINO. The
copy is made beside the target and swapped in at the end, so a failed or interrupted install leaves the models that
were there; those are kept as ``<target>.bak`` (the one backup before it is replaced), never deleted silently.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from edge_app.errors import ModelError, VigilError
from edge_app.inference.manifest import Manifest

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Installed:
    """What an install did: the ``target`` folder, the ``models`` in it (name -> runs within their accuracy bound),
    and where the models that were there before went (``backup``, or None)."""

    target: Path
    models: dict[str, list[str]]
    backup: Path | None


def check_models_dir(source: Path) -> Manifest:
    """The manifest of a built models folder whose every IR is present and readable; ModelError naming the file
    that is missing or broken otherwise."""
    import openvino as ov

    from edge_app.inference.runtime import read_model

    if not source.is_dir():
        raise ModelError(f"--from {source}: not a folder (give the models_ir folder `make models` wrote)")
    manifest = Manifest.read(source / "manifest.json")
    core = ov.Core()
    for name, record in manifest.models.items():
        for variant in record.variants.values():
            path = source / variant.path
            if not path.resolve().is_relative_to(source.resolve()):
                raise ModelError(f"{source / 'manifest.json'}: models.{name} points outside the folder "
                                 f"({variant.path})")
            read_model(core, path)  # ModelError naming the .xml or .bin that is missing or broken
    return manifest


def install_models(source: Path, target: Path) -> Installed:
    """Copy the built models folder ``source`` to ``target`` (checked first, see :func:`check_models_dir`), swapped
    in at the end; the folder that was at ``target`` becomes ``<target>.bak``. Raises ModelError for a folder that
    is not whole, VigilError for a target that cannot be written."""
    source, target = source.expanduser().resolve(), target.expanduser().resolve()
    if source == target:
        raise VigilError(f"--from {source}: is already the models folder of this home")
    manifest = check_models_dir(source)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.new-", dir=target.parent))
    except OSError as exc:
        raise VigilError(f"--to {target}: cannot write ({exc.strerror})") from None
    backup = None
    try:
        files = sorted({source / "manifest.json"} | {
            p for record in manifest.models.values() for v in record.variants.values()
            for p in (source / v.path, (source / v.path).with_suffix(".bin"))})
        for i, path in enumerate(files, 1):
            dest = staging / path.relative_to(source)
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, dest)
            log.info("copied %d/%d %s", i, len(files), path.relative_to(source))
        if target.exists():
            backup = target.with_name(target.name + ".bak")
            if backup.exists():
                shutil.rmtree(backup)
            target.rename(backup)
        staging.rename(target)
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        if backup is not None and not target.exists() and backup.exists():
            backup.rename(target)  # put back what was there
            backup = None
        raise VigilError(f"--to {target}: cannot install ({exc.strerror or exc})") from None
    runs = {name: sorted(run for v in record.variants.values() for run, r in v.runs.items() if r.meets_bound)
            for name, record in manifest.models.items()}
    return Installed(target, runs, backup)
