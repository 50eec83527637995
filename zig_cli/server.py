"""zig run's HTTP endpoints: `GET /ping` answers pong, `GET /health` is 200 only while every worker is up.

Ziggurat served these on its :http-server port; so does zig. Routes are registered by path, so the dead-set API
can join them; `require_bearer` keeps an endpoint to callers that hold the configured token.
"""

from __future__ import annotations

import hmac
import json
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, NamedTuple
from urllib.parse import parse_qs, urlsplit

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Request:
    """What an endpoint sees of a request: its parameters (query and JSON body, in parse_qs's shape) and caller."""

    method: str
    path: str
    params: Mapping[str, list[str]]
    headers: Mapping[str, str]  # by lower-cased name
    client: str  # "address:port", for the log

    def param(self, name: str) -> str | None:
        """The last value given for `name`, as Ziggurat read it."""
        values = self.params.get(name)
        return values[-1] if values else None


class Response(NamedTuple):
    status: int
    content_type: str
    body: bytes
    headers: tuple[tuple[str, str], ...] = ()


Endpoint = Callable[[Request], Response]


def text(status: int, body: str) -> Response:
    return Response(status, "text/plain; charset=utf-8", body.encode())


def as_json(status: int, body: Any, headers: tuple[tuple[str, str], ...] = ()) -> Response:
    return Response(status, "application/json", json.dumps(body).encode(), headers)


UNAUTHORIZED = "send the token of :http-server {:auth-token} as Authorization: Bearer <token>"


def require_bearer(token: str | None, disabled: str, endpoint: Endpoint) -> Endpoint:
    """`endpoint`, answered only for `Authorization: Bearer <token>`; 403 with the `disabled` reason when no token is
    configured, 401 for a missing or wrong one. The comparison takes the same time whatever the token given."""
    expected = token.encode() if token else None

    def guarded(request: Request) -> Response:
        if expected is None:
            return as_json(403, {"error": disabled})
        scheme, _, given = request.headers.get("authorization", "").strip().partition(" ")
        # Header values arrive decoded as latin-1: encoding them back gives the bytes the client sent.
        if scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode("latin-1", "replace"), expected):
            return endpoint(request)
        what = "a wrong" if scheme else "no"
        logger.warning(
            "HTTP %s %s from %s refused: %s bearer token", request.method, request.path, request.client, what
        )
        return as_json(401, {"error": UNAUTHORIZED}, (("WWW-Authenticate", 'Bearer realm="zig"'),))

    return guarded


class OpsServer:
    """A small threaded HTTP server on `host`:`port` (0: any free port) for the endpoints it is given."""

    def __init__(self, port: int, endpoints: Mapping[tuple[str, str], Endpoint], host: str = "0.0.0.0") -> None:
        routes = dict(endpoints)

        class Handler(BaseHTTPRequestHandler):
            def _serve(self, method: str) -> None:
                url = urlsplit(self.path)
                endpoint = routes.get((method, url.path))
                if endpoint is None:
                    status, content_type, body, headers = text(404, f"no endpoint {method} {url.path}\n")
                else:
                    client = f"{self.client_address[0]}:{self.client_address[1]}"
                    received = {name.lower(): value for name, value in self.headers.items()}
                    request = Request(method, url.path, parse_qs(url.query) | self._json_body(), received, client)
                    try:
                        status, content_type, body, headers = endpoint(request)
                    except Exception:  # one bad request must not take the server down; it is logged in full
                        logger.exception("HTTP %s %s failed", method, url.path)
                        status, content_type, body, headers = text(500, "internal error; see zig's log\n")
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                for name, value in headers:
                    self.send_header(name, value)
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

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        self.host = str(self._server.server_address[0])
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, name="zig-http", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
