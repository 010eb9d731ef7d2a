"""The operator's HTTP endpoints on the box: the browser console, the annotated views as MJPEG, a snapshot, the
alert board's JSON API (list, thumbnails, acknowledge, clear), the alert history (filters, paging, snapshots and
H.264 clips with HTTP range requests), Prometheus metrics and health.

Who may do what (web/accounts.py):
- once console accounts exist (``vigil users add``), every browser logs in (``POST /api/login``: a session cookie,
  HttpOnly, SameSite=Strict, Secure over HTTPS) and its role decides: a viewer watches, an operator acknowledges and
  clears (recorded under the logged-in name), an admin edits zones and reloads the config; failed logins are
  rate-limited per address and per name and never say which part was wrong;
- machine clients (Prometheus, scripts) send the token (``Authorization: Bearer <token>`` or ``?token=``, compared
  in constant time), which acts as ``api`` with every right;
- a box with neither serves only 127.0.0.1 (its local console acts as ``local``).
Actions (POST) also need a JSON body and, when the browser sends an ``Origin``, one that matches the server's own
host, so another web page cannot act behind the operator's back. With ``server.tls`` the console is HTTPS only.

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
import ssl
import sys
import threading
import time
import uuid
from collections.abc import Callable
from http.cookies import CookieError, SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Protocol
from urllib.parse import parse_qs, unquote, urlsplit

from edge_app.alerts.board import ACTIONS, AlertBoard
from edge_app.alerts.history import AlertHistory, HistoryQuery
from edge_app.checks import ACCEPTED, ClipChecker, UploadRefused
from edge_app.errors import VigilError
from edge_app.render.hub import FrameHub, encode_jpeg
from edge_app.web.accounts import Accounts, LoginLimiter, Role, User
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
                 registry: CollectorRegistry | None = None, *, history: AlertHistory | None = None,
                 accounts: Accounts | None = None, tls: ssl.SSLContext | None = None,
                 evidence_dir: Path | None = None, checker: ClipChecker | None = None):
        if host not in LOOPBACK and not token and not (accounts is not None and accounts.any()):
            raise VigilError(f"server.host {host}: serving beyond 127.0.0.1 needs console accounts (vigil users add "
                             f"NAME --role operator) or a token (server.token)")
        if host not in LOOPBACK and tls is None and accounts is not None and accounts.any():
            log.warning("server.host %s: console passwords and sessions cross the network unencrypted; turn on "
                        "server.tls", host)
        self.hub, self.snapshot, self.host, self.port, self.board = hub, snapshot, host, port, board or AlertBoard()
        self.token, self.mjpeg_fps, self.jpeg_quality = token, mjpeg_fps, jpeg_quality
        self.control = control
        self.history, self.accounts, self.tls, self.checker = history, accounts, tls, checker
        self.evidence_dir = evidence_dir.resolve() if evidence_dir is not None else None
        self.limiter = LoginLimiter()
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
        return f"{'https' if self.tls else 'http'}://{host}:{self.port}/"

    def start(self) -> OperatorServer:
        handler = type("Handler", (_Handler,), {"server_ref": self})
        try:
            self._httpd = _Server((self.host, self.port), handler, self.tls)
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

    def login_required(self) -> bool:
        """Whether browsers must log in (console accounts exist; asked at each request, so an account added with
        ``vigil users add`` while Vigil runs counts at once)."""
        return self.accounts is not None and self.accounts.any()

    def user(self, headers, query: dict) -> User | None:
        """Who a request comes from (see the module docstring), or None when it must authenticate first."""
        if self.token:
            given = headers.get("Authorization", "")
            given = given[7:] if given.startswith("Bearer ") else (query.get("token") or [""])[0]
            if given and hmac.compare_digest(given.encode(), self.token.encode()):
                return User("api", Role.ADMIN, "token")
        if self.login_required():
            session = session_cookie(headers)
            return self.accounts.session(session) if session else None
        if self.token:
            return None
        return User("local", Role.ADMIN, "local")  # no accounts, no token: only served on loopback (see __init__)


SESSION_COOKIE = "vigil_session"


def host_name(host: str) -> str:
    """The name part of a Host header (``[::1]:8090`` -> ``::1``, ``localhost:8090`` -> ``localhost``)."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def article(word: str) -> str:
    return "an" if word[:1] in "aeiou" else "a"


def session_cookie(headers) -> str | None:
    """The session token of a request's cookie, or None."""
    try:
        jar = SimpleCookie(headers.get("Cookie", ""))
    except CookieError:
        return None
    morsel = jar.get(SESSION_COOKIE)
    return morsel.value if morsel is not None else None


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, client_address) -> None:
        """One log line instead of socketserver's traceback on stderr: a client that hangs up or stalls, or fails
        the TLS handshake (plain HTTP to the HTTPS port, a browser that refuses the certificate), is routine
        (debug); anything else is a fault of ours (warning, counted in ``OperatorServer.failures``)."""
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError, ssl.SSLError)):
            log.debug("http client %s went away: %s", client_address[0], type(exc).__name__)
            return
        self.RequestHandlerClass.server_ref.failures += 1
        log.warning("http request from %s failed: %s: %s", client_address[0], type(exc).__name__, exc)

    def __init__(self, address, handler, tls: ssl.SSLContext | None = None):
        if ":" in address[0]:
            import socket

            self.address_family = socket.AF_INET6
        self.tls = tls
        super().__init__(address, handler)

    def get_request(self):
        """Each connection wrapped in TLS when it is on; the handshake runs in the connection's own thread
        (``_Handler.setup``), so a client that stalls in it never holds up the others."""
        sock, address = super().get_request()
        if self.tls is not None:
            sock = self.tls.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return sock, address


ALERT_PATH = re.compile(r"^/api/alerts/([A-Za-z0-9-]{1,40})/(thumbnail\.jpg|snapshot\.jpg|clip\.mp4|events|ack|"
                        r"clear)$")
RANGE = re.compile(r"^bytes=(\d{0,15})-(\d{0,15})$")
UPLOAD_PATH = re.compile(r"^/api/uploads/([0-9a-f]{16})(/result)?$")
MAX_LOGIN_BODY = 1024


class _Handler(BaseHTTPRequestHandler):
    server_ref: OperatorServer
    protocol_version = "HTTP/1.1"
    timeout = 10.0  # a client that stalls mid-request or sits idle on a kept-alive connection frees its thread

    def setup(self) -> None:
        if isinstance(self.request, ssl.SSLSocket):
            self.request.settimeout(self.timeout)
            self.request.do_handshake()  # in this connection's thread (see _Server.get_request)
        super().setup()

    def log_message(self, fmt: str, *args) -> None:  # requests are not worth a log line each (token in URLs)
        log.debug("http %s %s", self.command, self.path.split("?")[0])

    def _send(self, status: int, body: bytes, content_type: str, headers: dict | None = None) -> None:
        self.send_response(status)
        self._close_after_post()
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _close_after_post(self) -> None:
        # every POST's connection closes: a refused one's body is left unread and must not be parsed as the next
        # request (the console sends one action at a time, so keep-alive buys nothing here)
        if self.command == "POST":
            self.send_header("Connection", "close")

    def _json(self, status: int, body: dict, headers: dict | None = None) -> None:
        self._send(status, json.dumps(body).encode(), "application/json", headers)

    def _user(self, query: dict, needed: Role = Role.VIEWER) -> User | None:
        """The request's user when they may do what needs ``needed``; else the refusal is sent (401: log in or
        send the token; 403: the role does not allow it) and None returned."""
        srv = self.server_ref
        address = self.client_address[0]
        wait = srv.limiter.retry_after(address, "(token)")
        if wait > 0:  # a client guessing the token is held back like one guessing passwords
            self._json(429, {"error": f"too many refused requests: try again in {int(wait) + 1} s"},
                       {"Retry-After": str(int(wait) + 1)})
            return None
        user = srv.user(self.headers, query)
        if user is not None and user.via == "local" and host_name(self.headers.get("Host", "")) not in LOOPBACK:
            # a console without accounts answers only to loopback names: a web page whose own name is made to
            # point at 127.0.0.1 (DNS rebinding) must not act as the box's local operator
            self._json(403, {"error": f"Host {self.headers.get('Host', '')!r} refused: this console answers "
                                      f"127.0.0.1, localhost or [::1] (add accounts to serve other names)"})
            return None
        if user is None:
            if self.headers.get("Authorization") or query.get("token"):
                srv.limiter.failed(address, "(token)")
            self._json(401, {"error": "log in first", "login": srv.login_required()}, {"WWW-Authenticate": "Bearer"})
            return None
        if not user.role.allows(needed):
            self._json(403, {"error": f"{user.name} is {article(user.role)} {user.role}: only {article(needed)} "
                                      f"{needed} or above may do this"})
            return None
        return user

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        srv = self.server_ref
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        if url.path in ("/", "/index.html"):  # the page itself holds nothing: it asks for a login when needed
            self._send(200, CONSOLE.read_bytes(), "text/html; charset=utf-8")
            return
        if url.path == "/api/me":
            user = srv.user(self.headers, query)
            self._json(200, {"user": user.name if user else None, "role": user.role if user else None,
                             "via": user.via if user else None, "login_required": srv.login_required()})
            return
        # the box's own health check needs no account (with a token set, it sends the token)
        local_health = url.path == "/health" and self.client_address[0] in ("127.0.0.1", "::1") and not srv.token
        if not local_health and self._user(query) is None:
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
            elif url.path == "/api/history":
                self._history(query)
            elif url.path == "/api/uploads" or UPLOAD_PATH.match(url.path):
                self._uploads(url.path)
            elif url.path == "/api/zones":
                if srv.control is None:
                    self._json(404, {"error": "this run has no config to edit"})
                else:
                    self._json(200, srv.control.zones())
            elif alert and alert.group(2) in ("thumbnail.jpg", "snapshot.jpg", "clip.mp4", "events"):
                self._alert_file(alert.group(1), alert.group(2))
            elif url.path == "/snapshot.jpg":
                _, image = srv.hub.newer_than(0, 2.0, (query.get("stream") or [None])[0])
                if image is None:
                    self._send(503, b"no frame rendered yet\n", "text/plain")
                else:
                    self._send(200, encode_jpeg(image, srv.jpeg_quality), "image/jpeg")
            elif url.path == "/stream.mjpg":
                self._stream(query)
            else:
                self._send(404, b"not found\n", "text/plain")
        except (BrokenPipeError, ConnectionResetError):
            pass

    # --- history and evidence ------------------------------------------------------------------------------------
    def _history(self, query: dict) -> None:
        """``GET /api/history?stream=&type=&state=&since=&until=&limit=&offset=``: a page of alerts, newest first."""
        srv = self.server_ref
        if srv.history is None:
            self._json(404, {"error": "this run keeps no history"})
            return

        def one(key: str) -> str | None:
            value = (query.get(key) or [""])[0].strip()
            return value or None

        try:
            since, until = one("since"), one("until")
            page = HistoryQuery(stream=one("stream"), type=one("type"), state=one("state"),
                                since=float(since) if since else None, until=float(until) if until else None,
                                limit=min(500, max(1, int(one("limit") or 50))),
                                offset=min(10**9, max(0, int(one("offset") or 0))))
        except ValueError:
            self._json(400, {"error": "since and until are Unix seconds, limit and offset whole numbers"})
            return
        rows, total = srv.history.page(page)
        for row in rows:
            row["snapshot"] = self._evidence(row["snapshot"]) is not None
            row["clip"] = self._evidence(row["clip"]) is not None
        self._json(200, {"alerts": rows, "total": total, "limit": page.limit, "offset": page.offset,
                         "streams": srv.history.streams()})

    def _evidence(self, stored: str | None) -> Path | None:
        """A snapshot or clip named in the history, when it still exists inside the evidence folder (a path that
        leads anywhere else is never served)."""
        root = self.server_ref.evidence_dir
        if not stored or root is None:
            return None
        path = Path(stored).resolve()
        return path if path.is_relative_to(root) and path.is_file() else None

    def _alert_file(self, alert_id: str, what: str) -> None:
        srv = self.server_ref
        if what == "thumbnail.jpg":
            jpeg = srv.board.thumbnail(alert_id)
            if jpeg is not None:
                self._send(200, jpeg, "image/jpeg")
                return
            what = "snapshot.jpg"  # an alert of an earlier run: its snapshot file stands in
        row = srv.history.get(alert_id) if srv.history is not None else None
        if what == "events":
            if row is None:
                self._json(404, {"error": f"no alert {alert_id} in the history"})
            else:
                self._json(200, {"alert": row, "events": srv.history.events_of(alert_id)})
            return
        stored = row and (row["snapshot"] if what == "snapshot.jpg" else row["clip"])
        path = self._evidence(stored)
        if path is None:
            self._send(404, f"no {what[:-4]} for alert {alert_id}\n".encode(), "text/plain")
        elif what == "snapshot.jpg":
            self._send(200, path.read_bytes(), "image/jpeg")
        else:
            self._file_range(path, "video/mp4")

    def _file_range(self, path: Path, content_type: str) -> None:
        """A file with HTTP range requests (RFC 9110 section 14; one range), as browsers' video players ask."""
        size = path.stat().st_size
        wanted = RANGE.match(self.headers.get("Range", "").strip())
        start, end, status = 0, size - 1, 200
        if wanted and (wanted.group(1) or wanted.group(2)):
            first, last = wanted.groups()
            if first:
                start, end = int(first), min(int(last), size - 1) if last else size - 1
            else:
                start = max(0, size - int(last))
            if start >= size:
                self._send(416, b"", "text/plain", {"Content-Range": f"bytes */{size}"})
                return
            if start > end:  # an invalid range is ignored (RFC 9110 section 14.2): the whole file
                start, end = 0, size - 1
            else:
                status = 206
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Length", str(end - start + 1))
        self.send_header("Cache-Control", "private, max-age=3600")  # evidence never changes once written
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.end_headers()
        with open(path, "rb") as fh:
            fh.seek(start)
            left = end - start + 1
            while left > 0:
                chunk = fh.read(min(left, 256 * 1024))
                if not chunk:
                    break
                self.wfile.write(chunk)
                left -= len(chunk)

    # --- uploads checked from the console -------------------------------------------------------------------------
    def _uploads(self, path: str) -> None:
        """``GET /api/uploads`` (the list and the limits), ``/api/uploads/ID`` (one, with its events),
        ``/api/uploads/ID/result`` (the annotated clip or photo)."""
        checker = self.server_ref.checker
        if checker is None:
            self._json(404, {"error": "this run checks no uploads (server.uploads.enabled)"})
            return
        if path == "/api/uploads":
            self._json(200, {"uploads": checker.list(), "max_mb": checker.settings.max_mb, "accepted": ACCEPTED})
            return
        match = UPLOAD_PATH.match(path)
        upload_id = match.group(1)
        if match.group(2):
            result = checker.output(upload_id)
            if result is None:
                self._json(404, {"error": f"no result for upload {upload_id} (yet)"})
            elif result.suffix == ".jpg":
                self._send(200, result.read_bytes(), "image/jpeg")
            else:
                self._file_range(result, "video/mp4")
            return
        record = checker.get(upload_id)
        self._json(200 if record else 404, record or {"error": f"no upload {upload_id}"})

    def _upload(self, user: User) -> None:
        """``POST /api/uploads[?exercise=squat|sit_to_stand]``: the file as the body, its name in ``X-File-Name``
        (URL-encoded); 202 with the queued upload, or the refusal (400 name, 411 no length, 413 size, 415 type) in
        one line."""
        srv = self.server_ref
        if not self._same_origin():
            return
        if srv.checker is None:
            self._json(404, {"error": "this run checks no uploads (server.uploads.enabled)"})
            return
        lengths = self.headers.get_all("Content-Length") or []
        if len(lengths) != 1 or not re.fullmatch(r"\d{1,15}", lengths[0].strip()):
            self._json(411 if not lengths else 400, {"error": "send the file with one Content-Length (bytes)"})
            return
        size = int(lengths[0])
        raw = self.headers.get("X-File-Name", "")
        try:  # http.server reads headers as Latin-1: a name sent as raw UTF-8 is made whole again
            raw = raw.encode("latin-1").decode("utf-8")
        except (UnicodeEncodeError, UnicodeDecodeError):
            pass
        name = unquote(raw)
        exercise = (parse_qs(urlsplit(self.path).query).get("exercise") or ["off"])[0]
        try:
            record = srv.checker.submit(name, self.rfile, size, user.name, exercise)
        except UploadRefused as exc:
            self._json(exc.status, {"error": str(exc)})
            return
        self._json(202, {"upload": record})

    # --- actions -------------------------------------------------------------------------------------------------
    def _same_origin(self) -> bool:
        """Whether an action may go on: no ``Origin``, or one naming this server's own host (else 403 is sent), so
        another web page cannot act behind the operator's back."""
        origin = self.headers.get("Origin")
        if origin and urlsplit(origin).netloc != self.headers.get("Host"):
            self._json(403, {"error": "cross-origin request refused"})
            return False
        return True

    def _body(self, limit: int) -> dict | None:
        """The request's JSON object (checks: same origin, JSON type, size); None when refused (already answered)."""
        if not self._same_origin():
            return None
        if not self.headers.get("Content-Type", "").startswith("application/json"):
            self._json(415, {"error": "send a JSON body (Content-Type: application/json)"})
            return None
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if not 0 <= length <= limit:
            self._json(413, {"error": f"body must be 0-{limit} bytes"})
            return None
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
            self._json(400, {"error": "body is not JSON (or nested too deeply)"})
            return None
        if not isinstance(body, dict):
            self._json(400, {"error": "body must be a JSON object"})
            return None
        return body

    def do_POST(self) -> None:  # noqa: N802
        srv = self.server_ref
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        if url.path in ("/api/login", "/api/logout"):
            body = self._body(MAX_LOGIN_BODY)
            if body is not None and url.path == "/api/login":
                self._login(body)
            elif body is not None:
                self._logout()
            return
        if url.path == "/api/uploads":
            user = self._user(query, Role.OPERATOR)
            if user is not None:
                self._upload(user)
            return
        alert = ALERT_PATH.match(url.path)
        config_path = url.path in ("/api/zones", "/api/config/reload")
        if not config_path and (not alert or alert.group(2) not in ACTIONS):
            if self._user(query) is not None:
                self._json(404, {"error": "not found (POST /api/alerts/<id>/ack or /clear, /api/zones, "
                                          "/api/config/reload, /api/login, /api/logout)"})
            return
        user = self._user(query, Role.ADMIN if config_path else Role.OPERATOR)
        if user is None:
            return
        body = self._body(MAX_CONFIG_BODY if config_path else MAX_BODY)
        if body is None:
            return
        if config_path:
            self._config_post(url.path, body)
            return
        try:  # the name on the action is the logged-in user's, never one the browser sends
            result = srv.board.request(alert.group(2), alert.group(1), user.name, "console" if user.via != "token"
                                       else "api")
        except TimeoutError:
            self._json(503, {"error": "the pipeline is not running"})
            return
        if result is None:
            self._json(404, {"error": f"no alert {alert.group(1)}"})
        else:
            self._json(200, {"alert": result.to_dict()})

    def _login(self, body: dict) -> None:
        """``POST /api/login {"name", "password"}``: a session cookie, or one refusal that never says which part was
        wrong; too many failures from one address or for one name: 429 with Retry-After."""
        srv = self.server_ref
        if srv.accounts is None or not srv.login_required():
            self._json(404, {"error": "this box has no console accounts (vigil users add NAME --role operator)"})
            return
        name, password = str(body.get("name", ""))[:64], str(body.get("password", ""))[:1024]
        address = self.client_address[0]
        wait = srv.limiter.retry_after(address, name)
        if wait > 0:
            self._json(429, {"error": f"too many failed logins: try again in {int(wait) + 1} s"},
                       {"Retry-After": str(int(wait) + 1)})
            return
        srv.limiter.failed(address, name)  # counted before the check: parallel guesses are limited too
        user = srv.accounts.authenticate(name, password)
        if user is None:
            log.warning("console: failed login from %s", address)
            self._json(401, {"error": "wrong name or password"})
            return
        srv.limiter.succeeded(address, name)
        token = srv.accounts.start_session(user)
        if token is None:
            self._json(503, {"error": "the box cannot keep a session now (its disk refuses writes)"})
            return
        log.info("console: %s (%s) logged in from %s", user.name, user.role, address)
        secure = "; Secure" if srv.tls else ""
        self._json(200, {"user": user.name, "role": user.role},
                   {"Set-Cookie": f"{SESSION_COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/; "
                                  f"Max-Age={int(srv.accounts.session_s)}{secure}"})

    def _logout(self) -> None:
        srv = self.server_ref
        token = session_cookie(self.headers)
        if token and srv.accounts is not None:
            srv.accounts.end_session(token)
        self._json(200, {"user": None}, {"Set-Cookie": f"{SESSION_COOKIE}=; HttpOnly; SameSite=Strict; Path=/; "
                                                       f"Max-Age=0"})

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
            snapshot = self._evidence(a.snapshot)
            item["snapshot"] = snapshot is not None  # a path on the box: the console needs only whether it exists
            item["thumbnail"] = snapshot is not None or srv.board.thumbnail(a.id) is not None
            item["clip"] = self._evidence(a.snapshot[:-4] + ".mp4" if a.snapshot else None) is not None
            alerts.append(item)
        exercise = srv.history.recent("exercise_rep") if srv.history is not None else []
        return {"streams": streams, "alerts": alerts, "time": time.time(), "instance": srv.instance,
                "config": snap.get("config", {}), "exercise": exercise}

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
