#!/usr/bin/python3
"""A real RTSP server for tests and the demo: GStreamer's gst-rtsp-server, driven by the system python3 (python3-gi).

    /usr/bin/python3 scripts/rtsp_server.py --port 8554 --mount cam1=clip.mp4 --mount cam2=other.mp4 \
        [--width 640 --height 480 --fps 15] [--auth USER:PASSWORD]

Each clip is encoded once at start (H.264, x264 zero-latency, a key frame every second) at the given size and
rate; each mount then plays its encoded frames in a loop, without end, with timestamps that keep rising as a
camera's do. Like a camera, a mount's stream runs from its first client on, with or without clients. Prints
"READY <port>" on stdout once it listens. Needs Debian's gir1.2-gst-rtsp-server-1.0 and GStreamer plugins
(`make setup` installs them).

Encoding once keeps the server light: re-encoding live and chaining a decoder per repetition had cost a core
for four streams and 2.6 GB of memory in a 30-minute soak, on the same two cores as the Vigil under test.
"""

from __future__ import annotations

import argparse
import signal
import sys
from dataclasses import dataclass

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402


@dataclass
class Encoded:
    caps: str
    frames: list[tuple[bytes, bool]]  # (access unit, is a key frame)


def encode(path: str, width: int, height: int, fps: int) -> Encoded:
    """The clip as H.264 access units at ``fps``; raises RuntimeError naming the file when it cannot be read."""
    location = path.replace("\\", "\\\\").replace('"', '\\"')
    pipeline = Gst.parse_launch(
        f'filesrc location="{location}" ! decodebin ! videoconvert ! videoscale ! videorate ! '
        f"video/x-raw,format=I420,width={width},height={height},framerate={fps}/1 ! "
        f"x264enc tune=zerolatency speed-preset=ultrafast key-int-max={fps} bitrate=1500 ! "
        f"video/x-h264,stream-format=byte-stream,alignment=au ! appsink name=sink sync=false")
    sink = pipeline.get_by_name("sink")
    pipeline.set_state(Gst.State.PLAYING)
    bus = pipeline.get_bus()
    frames, caps, error = [], "", None
    while True:
        sample = sink.emit("try-pull-sample", Gst.SECOND // 2)
        if sample is None:
            error = bus.pop_filtered(Gst.MessageType.ERROR)
            if error is not None or sink.get_property("eos"):
                break
            continue
        buf = sample.get_buffer()
        frames.append((buf.extract_dup(0, buf.get_size()), not buf.has_flags(Gst.BufferFlags.DELTA_UNIT)))
        caps = caps or sample.get_caps().to_string()
    pipeline.set_state(Gst.State.NULL)
    if error is not None or not frames:
        reason = error.parse_error()[0].message if error is not None else "no video frames"
        raise RuntimeError(f"{path}: {reason}")
    if not frames[0][1]:
        raise RuntimeError(f"{path}: the encoder's first frame is not a key frame")
    return Encoded(caps, frames)


class LoopingFactory(GstRtspServer.RTSPMediaFactory):
    def __init__(self, clip: Encoded, fps: int):
        super().__init__()
        self.clip, self.frame_ns = clip, Gst.SECOND // fps
        self.set_shared(True)
        self.set_stop_on_disconnect(False)  # like a camera: once started, the stream runs with or without clients
        caps = clip.caps.replace('"', '\\"')
        self.set_launch(f'( appsrc name=src is-live=true format=time caps="{caps}" ! h264parse ! '
                        f"rtph264pay name=pay0 pt=96 config-interval=1 )")
        self.connect("media-configure", self._configure)

    def _configure(self, _factory, media) -> None:
        src = media.get_element().get_child_by_name("src")
        src.connect("need-data", self._need_data, {"n": 0})

    def _need_data(self, src, _length, state) -> None:
        n = state["n"]
        data, key = self.clip.frames[n % len(self.clip.frames)]
        buf = Gst.Buffer.new_wrapped(data)
        buf.pts = buf.dts = n * self.frame_ns
        buf.duration = self.frame_ns
        if not key:
            buf.set_flags(Gst.BufferFlags.DELTA_UNIT)
        state["n"] = n + 1
        src.emit("push-buffer", buf)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--port", type=int, default=8554)
    p.add_argument("--mount", action="append", required=True, help="NAME=FILE (repeatable)")
    p.add_argument("--width", type=int, default=640)
    p.add_argument("--height", type=int, default=480)
    p.add_argument("--fps", type=int, default=15)
    p.add_argument("--auth", default=None, metavar="USER:PASSWORD",
                   help="require this user and password (RTSP basic authentication) on every mount")
    args = p.parse_args()
    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(args.port))
    mounts = server.get_mount_points()
    if args.auth is not None:  # a camera with a password: basic authentication, one role allowed to play
        user, _, password = args.auth.partition(":")
        auth = GstRtspServer.RTSPAuth()
        token = GstRtspServer.RTSPToken()
        token.set_string("media.factory.role", "viewer")
        auth.add_basic(GstRtspServer.RTSPAuth.make_basic(user, password), token)
        server.set_auth(auth)
    encoded: dict[str, Encoded] = {}
    for spec in args.mount:
        name, _, path = spec.partition("=")
        if not name or not path:
            print(f"rtsp_server: error: --mount {spec!r} is not NAME=FILE", file=sys.stderr)
            return 2
        try:
            if path not in encoded:
                encoded[path] = encode(path, args.width, args.height, args.fps)
        except (RuntimeError, GLib.Error) as exc:
            print(f"rtsp_server: error: {exc}", file=sys.stderr)
            return 2
        factory = LoopingFactory(encoded[path], args.fps)
        if args.auth is not None:
            factory.add_role_from_structure(Gst.Structure.new_from_string(
                "viewer, media.factory.access=(boolean)true, media.factory.construct=(boolean)true"))
        mounts.add_factory(f"/{name}", factory)
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
