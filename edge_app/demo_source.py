"""The demo's default source: a webcam if one is present, otherwise the multi-person clip vtest.avi from Debian's
opencv-doc package (fetched with `apt-get download`, unpacked with `dpkg -x` into the cache)."""

from __future__ import annotations

import glob
import shutil
import subprocess
import tempfile
from pathlib import Path

from edge_app.errors import VigilError
from edge_app.home import cache_root, vigil_home

VTEST_MEMBER = "usr/share/doc/opencv-doc/examples/data/vtest.avi"


def cache_dir() -> Path:
    return cache_root() / "media"


def webcam_present() -> bool:
    return any(Path(p).exists() for p in glob.glob("/dev/video*"))


def vtest_clip() -> Path:
    target = cache_dir() / "vtest.avi"
    if target.is_file():
        return target
    if shutil.which("apt-get") is None or shutil.which("dpkg") is None:
        raise VigilError("demo source: no webcam and no apt-get/dpkg to fetch vtest.avi; pass --source FILE")
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="vigil-opencv-doc-") as tmp:
        proc = subprocess.run(["apt-get", "download", "opencv-doc"], cwd=tmp, capture_output=True, text=True)
        if proc.returncode != 0:
            subprocess.run(["apt-get", "update", "-qq"], capture_output=True)
            proc = subprocess.run(["apt-get", "download", "opencv-doc"], cwd=tmp, capture_output=True, text=True)
        debs = sorted(Path(tmp).glob("opencv-doc_*.deb"))
        if proc.returncode != 0 or not debs:
            last = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no package"]
            raise VigilError(f"demo source: `apt-get download opencv-doc` failed ({last[0]}); pass --source FILE")
        subprocess.run(["dpkg", "-x", str(debs[0]), str(Path(tmp) / "x")], check=True, capture_output=True)
        clip = Path(tmp) / "x" / VTEST_MEMBER
        if not clip.is_file():
            raise VigilError(f"demo source: {debs[0].name} has no {VTEST_MEMBER}")
        shutil.copyfile(clip, target)
    return target


def default_source() -> str:
    return "0" if webcam_present() else str(vtest_clip())


class RtspRelay:
    """Serves a clip through a local RTSP server (scripts/rtsp_server.py, GStreamer via the system python3), so the
    demo takes the same RTSP path as a camera. ``url`` is None when GStreamer's RTSP server is not available."""

    def __init__(self, clip: Path, width: int, height: int, fps: int, port: int | None = None):
        """``port``: the port to serve on (None: a free one, chosen at start)."""
        self.clip, self.width, self.height, self.fps, self.port = clip, width, height, fps, port
        self.proc: subprocess.Popen | None = None
        self.url: str | None = None

    def __enter__(self) -> RtspRelay:
        import socket

        script = vigil_home() / "scripts" / "rtsp_server.py"
        if not Path("/usr/bin/python3").exists() or not script.is_file():
            return self
        port = self.port
        if port is None:
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                port = self.port = s.getsockname()[1]
        self.proc = subprocess.Popen(
            ["/usr/bin/python3", str(script), "--port", str(port), "--mount", f"vtest={self.clip}",
             "--width", str(self.width), "--height", str(self.height), "--fps", str(self.fps)],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        line = self.proc.stdout.readline() if self.proc.stdout else ""
        if line.startswith("READY"):
            self.url = f"rtsp://127.0.0.1:{port}/vtest"
        else:
            self.__exit__()
        return self

    def __exit__(self, *exc) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.proc = None
