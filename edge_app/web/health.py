"""The client side of /health: what `vigil health` (the container's health check, a watchdog) asks a running Vigil."""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request

from edge_app.config import ServerConfig

UNHEALTHY = ("offline",)  # a stream in this state makes the box unhealthy; reconnecting and frozen are said, not failed


def check_health(server: ServerConfig, timeout: float = 5.0) -> tuple[bool, str]:
    """Ask ``/health`` of the Vigil serving with ``server`` settings on this machine (a wildcard host is asked on
    loopback; the token is sent when there is one; over HTTPS the certificate is not checked: the question goes to
    this machine). Returns (healthy, one line for the log): healthy when it answers and no stream is offline."""
    host = "127.0.0.1" if server.host in ("0.0.0.0", "", "::") else server.host
    scheme = "https" if server.tls.enabled else "http"
    url = f"{scheme}://{host if ':' not in host else f'[{host}]'}:{server.port}/health"
    context = None
    if server.tls.enabled:
        context = ssl.create_default_context()
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    request = urllib.request.Request(url)
    if server.token:
        request.add_header("Authorization", f"Bearer {server.token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=context) as response:
            data = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return False, f"unhealthy: {url} answered {exc.code} {exc.reason}"
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return False, f"unhealthy: {url} does not answer ({getattr(exc, 'reason', exc)})"
    streams = data.get("streams", {})
    down = sorted(name for name, status in streams.items() if status in UNHEALTHY)
    summary = ", ".join(f"{name} {status}" for name, status in sorted(streams.items())) or "no streams"
    if down:
        return False, f"unhealthy: {summary}"
    return True, f"healthy: {summary}"
