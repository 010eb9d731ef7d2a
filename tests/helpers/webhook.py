"""Helpers of the webhook tests, shared by their tiers."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Answering:
    """A real HTTP receiver whose answer to POST is given by ``answer(path) -> (status, headers, delay_s)``; it
    records every request as (method, path, body or None)."""

    def __init__(self, answer):
        self.requests: list[tuple[str, str, dict | None]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _reply(self, method):
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length)) if length else None
                receiver.requests.append((method, self.path, body))
                status, headers, delay = answer(method, self.path)
                time.sleep(delay)
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_POST(self):  # noqa: N802
                self._reply("POST")

            def do_GET(self):  # noqa: N802
                self._reply("GET")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def info(i: int) -> dict:
    return {"ts": float(i), "stream": "dock", "type": "posture", "state": "info", "track_id": 2, "details": {}}
