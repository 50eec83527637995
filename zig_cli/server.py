"""zig run's HTTP endpoints: `GET /ping` answers pong, `GET /health` is 200 only while every worker is up.

Ziggurat served these on its :http-server port; so does zig. Routes are registered by path, so the dead-set API
can join them.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

logger = logging.getLogger(__name__)

# (status, content type, body) for a request's method, path and query parameters.
Response = tuple[int, str, bytes]
Endpoint = Callable[[Mapping[str, list[str]]], Response]


def text(status: int, body: str) -> Response:
    return status, "text/plain; charset=utf-8", body.encode()


def as_json(status: int, body: Any) -> Response:
    return status, "application/json", json.dumps(body).encode()


class OpsServer:
    """A small threaded HTTP server on 0.0.0.0:`port` (0: any free port) for the endpoints it is given."""

    def __init__(self, port: int, endpoints: Mapping[tuple[str, str], Endpoint]) -> None:
        routes = dict(endpoints)

        class Handler(BaseHTTPRequestHandler):
            def _serve(self, method: str) -> None:
                url = urlsplit(self.path)
                endpoint = routes.get((method, url.path))
                if endpoint is None:
                    status, content_type, body = text(404, f"no endpoint {method} {url.path}\n")
                else:
                    try:
                        status, content_type, body = endpoint(parse_qs(url.query) | self._json_body())
                    except Exception:  # one bad request must not take the server down; it is logged in full
                        logger.exception("HTTP %s %s failed", method, url.path)
                        status, content_type, body = text(500, "internal error; see zig's log\n")
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _json_body(self) -> dict[str, list[str]]:
                """Parameters from a JSON object body (as Ziggurat accepted them), in parse_qs's shape."""
                length = int(self.headers.get("Content-Length") or 0)
                if not length:
                    return {}
                try:
                    data = json.loads(self.rfile.read(length))
                except ValueError:
                    return {}
                return {str(k): [str(v)] for k, v in data.items()} if isinstance(data, dict) else {}

            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                self._serve("GET")

            def do_POST(self) -> None:  # noqa: N802
                self._serve("POST")

            def do_DELETE(self) -> None:  # noqa: N802
                self._serve("DELETE")

            def log_message(self, format: str, *args: Any) -> None:
                logger.debug("http %s", format % args)

        self._server = ThreadingHTTPServer(("0.0.0.0", port), Handler)
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, name="zig-http", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
