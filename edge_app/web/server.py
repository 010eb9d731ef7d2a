"""The operator's HTTP endpoints on the box: the browser console, the annotated views as MJPEG, a snapshot, the
alert board's JSON API (list, thumbnails, acknowledge, clear), Prometheus metrics and health.

Bound to 127.0.0.1 by default. On any other address a token is required (``Authorization: Bearer <token>`` or
``?token=``), compared in constant time. Actions (POST) also need a JSON body and, when the browser sends an
``Origin``, one that matches the server's own host, so another web page cannot acknowledge alerts behind the
operator's back.

The server never touches the pipeline's threads: the render thread publishes each view to a :class:`FrameHub`
(references, no copy, no encoding) and every client encodes JPEGs in its own thread at the rate it asked for, so a
slow or stalled client cannot slow analysis. Actions go through the alert board's queue to the pipeline thread.
"""

from __future__ import annotations

import errno
import hmac
import json
import logging
import re
import sys
import threading
import time
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Protocol
from urllib.parse import parse_qs, urlsplit

from edge_app.alerts.board import ACTIONS, AlertBoard
from edge_app.errors import VigilError
from edge_app.render.hub import FrameHub, encode_jpeg
from edge_app.web.prometheus import CONTENT_TYPE, CollectorRegistry, generate_latest, serve_registry

log = logging.getLogger(__name__)

LOOPBACK = {"127.0.0.1", "localhost", "::1"}
BOUNDARY = "vigilframe"


CONSOLE = Path(__file__).with_name("console.html")
MAX_BODY = 4096  # an alert action's body is a few bytes
MAX_CONFIG_BODY = 65536  # a source's zones are a few kilobytes


class ConfigControl(Protocol):
    """What the console may do to the running config (the runner implements it). Each returns a JSON-able dict
    with ``ok`` and, when refused, ``error`` (one line naming the file and key)."""

    def zones(self) -> dict:
        """{"path": the config file or None, "sources": {name: [zone, ...]}} with zones as the config has them."""
        ...

    def save_zones(self, source: str, zones: list) -> dict:
        """Replace ``source``'s zones in the config file (validated first, a backup kept) and apply them."""
        ...

    def request_reload(self, via: str = "console") -> dict:
        """Read the config file again and apply it between two frames, or refuse it with the reason."""
        ...


class OperatorServer:
    """Starts with :meth:`start` (a clear error when the port is taken), stops with :meth:`stop`."""

    def __init__(self, hub: FrameHub, snapshot: Callable[[], dict], host: str = "127.0.0.1", port: int = 8090,
                 token: str | None = None, mjpeg_fps: float = 10.0, jpeg_quality: int = 80,
                 board: AlertBoard | None = None, control: ConfigControl | None = None,
                 registry: CollectorRegistry | None = None):
        if host not in LOOPBACK and not token:
            raise VigilError(f"server.host {host}: a token (server.token) is required when serving beyond "
                             f"127.0.0.1")
        self.hub, self.snapshot, self.host, self.port, self.board = hub, snapshot, host, port, board or AlertBoard()
        self.token, self.mjpeg_fps, self.jpeg_quality = token, mjpeg_fps, jpeg_quality
        self.control = control
        self.registry = serve_registry(snapshot, registry)  # /metrics: Metrics.registry's histograms + snapshot
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.stopping = threading.Event()
        self.clients = 0
        self.instance = uuid.uuid4().hex[:12]  # a console that sees it change knows Vigil restarted
        self.failures = 0  # requests that ended in an unexpected error (a client hanging up is not one)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"

    def start(self) -> OperatorServer:
        handler = type("Handler", (_Handler,), {"server_ref": self})
        try:
            self._httpd = _Server((self.host, self.port), handler)
        except OSError as exc:
            why = "address in use" if exc.errno == errno.EADDRINUSE else exc.strerror or str(exc)
            raise VigilError(f"server {self.host}:{self.port}: cannot listen ({why}); set server.port in the "
                             f"config or --http HOST:PORT, or --http off") from None
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.2},
                                        name="http", daemon=True)
        self._thread.start()
        log.info("operator view %s (metrics at %smetrics)", self.url, self.url)
        return self

    def stop(self) -> None:
        self.stopping.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def authorised(self, headers, query: dict) -> bool:
        if not self.token:
            return True
        given = headers.get("Authorization", "")
        given = given[7:] if given.startswith("Bearer ") else (query.get("token") or [""])[0]
        return hmac.compare_digest(given.encode(), self.token.encode())


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, client_address) -> None:
        """One log line instead of socketserver's traceback on stderr: a client that hangs up or stalls is routine
        (debug); anything else is a fault of ours (warning, counted in ``OperatorServer.failures``)."""
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError)):
            log.debug("http client %s went away: %s", client_address[0], type(exc).__name__)
            return
        self.RequestHandlerClass.server_ref.failures += 1
        log.warning("http request from %s failed: %s: %s", client_address[0], type(exc).__name__, exc)

    def __init__(self, address, handler):
        if ":" in address[0]:
            import socket

            self.address_family = socket.AF_INET6
        super().__init__(address, handler)


ALERT_PATH = re.compile(r"^/api/alerts/([A-Za-z0-9-]{1,40})/(thumbnail\.jpg|ack|clear)$")


class _Handler(BaseHTTPRequestHandler):
    server_ref: OperatorServer
    protocol_version = "HTTP/1.1"
    timeout = 10.0  # a client that stalls mid-request or sits idle on a kept-alive connection frees its thread

    def log_message(self, fmt: str, *args) -> None:  # requests are not worth a log line each (token in URLs)
        log.debug("http %s %s", self.command, self.path.split("?")[0])

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self._close_after_post()
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.end_headers()
        self.wfile.write(body)

    def _close_after_post(self) -> None:
        # every POST's connection closes: a refused one's body is left unread and must not be parsed as the next
        # request (the console sends one action at a time, so keep-alive buys nothing here)
        if self.command == "POST":
            self.send_header("Connection", "close")

    def _json(self, status: int, body: dict) -> None:
        self._send(status, json.dumps(body).encode(), "application/json")

    def _authorised(self, query: dict) -> bool:
        if self.server_ref.authorised(self.headers, query):
            return True
        self.send_response(401)
        self._close_after_post()
        self.send_header("WWW-Authenticate", "Bearer")
        self.send_header("Content-Length", "0")
        self.end_headers()
        return False

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        srv = self.server_ref
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        if not self._authorised(query):
            return
        try:
            alert = ALERT_PATH.match(url.path)
            if url.path == "/metrics":
                self._send(200, generate_latest(srv.registry), CONTENT_TYPE)
            elif url.path == "/health":
                snap = srv.snapshot()
                self._json(200, {"streams": {s: v["status"] for s, v in snap.get("sources", {}).items()},
                                 "hints": snap.get("hints", {}), "rss_mb": snap.get("rss_mb"),
                                 "io_faults": snap.get("io_faults", {}).get("failing", {}),
                                 "config": snap.get("config", {})})
            elif url.path == "/api/state":
                self._json(200, self._state())
            elif url.path == "/api/zones":
                if srv.control is None:
                    self._json(404, {"error": "this run has no config to edit"})
                else:
                    self._json(200, srv.control.zones())
            elif alert and alert.group(2) == "thumbnail.jpg":
                jpeg = srv.board.thumbnail(alert.group(1))
                if jpeg is None:
                    self._send(404, b"no thumbnail for this alert\n", "text/plain")
                else:
                    self._send(200, jpeg, "image/jpeg")
            elif url.path == "/snapshot.jpg":
                _, image = srv.hub.newer_than(0, 2.0, (query.get("stream") or [None])[0])
                if image is None:
                    self._send(503, b"no frame rendered yet\n", "text/plain")
                else:
                    self._send(200, encode_jpeg(image, srv.jpeg_quality), "image/jpeg")
            elif url.path == "/stream.mjpg":
                self._stream(query)
            elif url.path in ("/", "/index.html"):
                self._send(200, CONSOLE.read_bytes(), "text/html; charset=utf-8")
            else:
                self._send(404, b"not found\n", "text/plain")
        except (BrokenPipeError, ConnectionResetError):
            pass

    def do_POST(self) -> None:  # noqa: N802
        srv = self.server_ref
        url = urlsplit(self.path)
        if not self._authorised(parse_qs(url.query)):
            return
        alert = ALERT_PATH.match(url.path)
        config_path = url.path in ("/api/zones", "/api/config/reload")
        if not config_path and (not alert or alert.group(2) not in ACTIONS):
            self._json(404, {"error": "not found (POST /api/alerts/<id>/ack or /clear, /api/zones, "
                                      "/api/config/reload)"})
            return
        origin = self.headers.get("Origin")
        if origin and urlsplit(origin).netloc != self.headers.get("Host"):
            self._json(403, {"error": "cross-origin request refused"})
            return
        if not self.headers.get("Content-Type", "").startswith("application/json"):
            self._json(415, {"error": "send a JSON body (Content-Type: application/json)"})
            return
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        limit = MAX_CONFIG_BODY if config_path else MAX_BODY
        if not 0 <= length <= limit:
            self._json(413, {"error": f"body must be 0-{limit} bytes"})
            return
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
        except (UnicodeDecodeError, json.JSONDecodeError):
            self._json(400, {"error": "body is not JSON"})
            return
        if not isinstance(body, dict):
            self._json(400, {"error": "body must be a JSON object"})
            return
        if config_path:
            self._config_post(url.path, body)
            return
        try:
            result = srv.board.request(alert.group(2), alert.group(1), body.get("by", "operator"), "console")
        except TimeoutError:
            self._json(503, {"error": "the pipeline is not running"})
            return
        if result is None:
            self._json(404, {"error": f"no alert {alert.group(1)}"})
        else:
            self._json(200, {"alert": result.to_dict()})

    def _config_post(self, path: str, body: dict) -> None:
        """The zone editor's save and the console's "apply": 200 with the result, 400 with the reason refused."""
        control = self.server_ref.control
        if control is None:
            self._json(404, {"error": "this run has no config to edit"})
            return
        if path == "/api/config/reload":
            result = control.request_reload("console")
        elif not isinstance(body.get("source"), str) or not isinstance(body.get("zones"), list):
            result = {"ok": False, "error": "send {\"source\": NAME, \"zones\": [...]}"}
        else:
            result = control.save_zones(body["source"], body["zones"])
        self._json(200 if result.get("ok") else 400, result)

    def _state(self) -> dict:
        srv = self.server_ref
        snap = srv.snapshot()
        streams = {name: {"status": src.get("status"), "fps": snap.get("streams", {}).get(name, {}).get("recent_fps"),
                          "reconnects": src.get("reconnects", 0), "frozen": src.get("frozen", 0),
                          "orientation": src.get("orientation", ""), "hints": snap.get("hints", {}).get(name, [])}
                   for name, src in snap.get("sources", {}).items()}
        alerts = []
        for a in srv.board.alerts():
            item = a.to_dict()
            item["snapshot"] = bool(item["snapshot"])  # a path on the box: the console needs only whether it exists
            item["thumbnail"] = srv.board.thumbnail(a.id) is not None
            alerts.append(item)
        return {"streams": streams, "alerts": alerts, "time": time.time(), "instance": srv.instance,
                "config": snap.get("config", {})}

    def _stream(self, query: dict) -> None:
        srv = self.server_ref
        stream = (query.get("stream") or [None])[0]
        try:
            fps = min(30.0, max(0.5, float((query.get("fps") or [srv.mjpeg_fps])[0])))
        except ValueError:
            self._send(400, b"fps must be a number\n", "text/plain")
            return
        if stream is not None and stream not in srv.snapshot().get("sources", {}):
            self._send(404, b"no such stream\n", "text/plain")
            return
        self.send_response(200)
        self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY}")
        self.send_header("Cache-Control", "no-store")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        seq, next_due = 0, 0.0
        srv.clients += 1
        try:
            while not srv.stopping.is_set():
                seq, image = srv.hub.newer_than(seq, 1.0, stream)
                if image is None:
                    continue
                wait = next_due - time.monotonic()
                if wait > 0:
                    srv.stopping.wait(wait)
                next_due = time.monotonic() + 1.0 / fps
                jpeg = encode_jpeg(image, srv.jpeg_quality)
                self.wfile.write(f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n\r\n"
                                 .encode() + jpeg + b"\r\n")
                self.wfile.flush()
        finally:
            srv.clients -= 1
