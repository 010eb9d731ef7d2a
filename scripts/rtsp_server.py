#!/usr/bin/python3
"""A real RTSP server for tests and the demo: GStreamer's gst-rtsp-server, driven by the system python3 (python3-gi).

    /usr/bin/python3 scripts/rtsp_server.py --port 8554 --mount cam1=clip.mp4 --mount cam2=other.mp4 \
        [--width 640 --height 480 --fps 15]

Each mount re-encodes its file to H.264 (x264, zero-latency) at the given size and rate and plays it REPEATS
times back to back. Prints "READY <port>" on stdout once it listens. Needs Debian's gir1.2-gst-rtsp-server-1.0 and
GStreamer plugins (`make setup` installs them).
"""

from __future__ import annotations

import argparse
import signal
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402

REPEATS = 40  # default: a 40 s clip plays for about 27 minutes (--repeats for longer runs)


class LoopingFactory(GstRtspServer.RTSPMediaFactory):
    def __init__(self, path: str, width: int, height: int, fps: int, repeats: int = REPEATS):
        super().__init__()
        self.path, self.width, self.height, self.fps, self.repeats = path, width, height, fps, repeats
        self.set_shared(True)
        self.set_stop_on_disconnect(False)  # like a camera: once started, the stream runs with or without clients

    def do_create_element(self, url):
        # the clip is decoded `repeats` times back to back through `concat` (multifilesrc cannot loop a container)
        sources = " ".join(f"filesrc location=\"{self.path}\" ! decodebin ! videoconvert ! c."
                           for _ in range(self.repeats))
        pipeline = (
            f"concat name=c ! videoconvert ! videoscale ! "
            f"videorate ! video/x-raw,format=I420,width={self.width},height={self.height},framerate={self.fps}/1 ! "
            f"x264enc tune=zerolatency speed-preset=ultrafast key-int-max={self.fps} bitrate=1500 ! "
            f"rtph264pay name=pay0 pt=96 config-interval=1"
        )
        return Gst.parse_launch(f"( {pipeline} {sources} )")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--port", type=int, default=8554)
    p.add_argument("--mount", action="append", required=True, help="NAME=FILE (repeatable)")
    p.add_argument("--width", type=int, default=640)
    p.add_argument("--height", type=int, default=480)
    p.add_argument("--fps", type=int, default=15)
    p.add_argument("--repeats", type=int, default=REPEATS, help="times each clip is played back to back")
    args = p.parse_args()
    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(args.port))
    mounts = server.get_mount_points()
    for spec in args.mount:
        name, _, path = spec.partition("=")
        if not name or not path:
            print(f"rtsp_server: error: --mount {spec!r} is not NAME=FILE", file=sys.stderr)
            return 2
        mounts.add_factory(f"/{name}", LoopingFactory(path, args.width, args.height, args.fps, args.repeats))
    if server.attach(None) == 0:
        print(f"rtsp_server: error: cannot listen on 127.0.0.1:{args.port}", file=sys.stderr)
        return 2
    loop = GLib.MainLoop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, sig, loop.quit)
    print(f"READY {args.port}", flush=True)
    loop.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
