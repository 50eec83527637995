"""zig run's HTTP endpoints: `GET /ping` answers pong, `GET /health` is 200 only while every worker is up.

Ziggurat served these on its :http-server port; so does zig. Routes are registered by path, so the dead-set API
can join them; `require_bearer` keeps an endpoint to callers that hold the configured token. `Limits` bound what
one caller can hold (time, body, connections), and whatever a client sends or does is answered or logged in one
line, never a traceback on stderr.
"""

from __future__ import annotations

import contextlib
import functools
import hmac
import json
import logging
import re
import socket
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
    params: Mapping[str, list[str]]  # the query's, then the body's
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


@dataclass(frozen=True)
class Limits:
    """What one caller may hold of the server: parameters are a small JSON object, and a probe is quick."""

    read_timeout_s: float = 10.0  # each read and write on a connection
    max_body_bytes: int = 64 * 1024
    max_connections: int = 64  # beyond it a connection gets 503 from the accepting thread, which spawns nothing
    max_query_fields: int = 100


class _Refusal(Exception):
    """A request answered with `status` and this message before it reaches an endpoint."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


_CONTENT_LENGTH = re.compile(r"[0-9]{1,18}")


def _busy(open_connections: int) -> bytes:
    body = f"busy: {open_connections} connections open; try again\n".encode()
    head = (
        "HTTP/1.0 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n"
        f"Content-Length: {len(body)}\r\nRetry-After: 1\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + body


class _Server(ThreadingHTTPServer):
    """ThreadingHTTPServer for `routes`, with a cap on connections and its errors in zig's log instead of on
    stderr."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], routes: dict[tuple[str, str], Endpoint], limits: Limits) -> None:
        self.routes = routes
        self.limits = limits
        self._slots = threading.BoundedSemaphore(limits.max_connections)
        self._full_since_logged = False
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            self._refuse(request, client_address)
            return
        self._full_since_logged = False
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def _refuse(self, sock: socket.socket, client_address: Any) -> None:
        """Answer 503 from the accepting thread without waiting on the client, and close."""
        if not self._full_since_logged:
            self._full_since_logged = True
            logger.warning(
                "HTTP: %d connections open, the most allowed; refusing new ones with 503", self.limits.max_connections
            )
        try:
            sock.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                sock.recv(65536)  # what the client already sent, so that closing does not reset the answer away
            sock.send(_busy(self.limits.max_connections))
        except OSError as error:
            logger.debug("HTTP: could not tell %s it is refused: %s", _address(client_address), error)
        finally:
            self.shutdown_request(sock)

    def handle_error(self, request: Any, client_address: Any) -> None:
        logger.error("HTTP: a request from %s failed", _address(client_address), exc_info=True)


def _address(client_address: Any) -> str:
    return f"{client_address[0]}:{client_address[1]}" if isinstance(client_address, tuple) else str(client_address)


class _Handler(BaseHTTPRequestHandler):
    """One connection: each request parsed within the server's limits, answered by its endpoint or refused."""

    server: _Server

    def setup(self) -> None:
        super().setup()
        self.connection.settimeout(self.server.limits.read_timeout_s)  # each read and write on the connection

    def handle(self) -> None:
        try:
            super().handle()
        except ConnectionError as error:
            what = f"{self.command} {urlsplit(self.path).path}" if self.command else "a connection"
            logger.info("HTTP %s from %s: the client went away (%s)", what, _address(self.client_address), error)

    def _serve(self, method: str) -> None:
        url = urlsplit(self.path)
        endpoint = self.server.routes.get((method, url.path))
        try:
            if endpoint is None:
                raise _Refusal(404, f"no endpoint {method} {url.path}")
            params = _merged(self._query(url.query), self._body_params())
        except _Refusal as refusal:
            self._answer(text(refusal.status, f"{refusal}\n"))
            return
        received = {name.lower(): value for name, value in self.headers.items()}
        request = Request(method, url.path, params, received, _address(self.client_address))
        try:
            response = endpoint(request)
        except Exception:  # one bad request must not take the server down; it is logged in full
            logger.exception("HTTP %s %s failed", method, url.path)
            response = text(500, "internal error; see zig's log\n")
        self._answer(response)

    def _answer(self, response: Response) -> None:
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        for name, value in response.headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(response.body)

    def _query(self, query: str, what: str = "the query string") -> dict[str, list[str]]:
        try:
            return parse_qs(query, errors="strict", max_num_fields=self.server.limits.max_query_fields)
        except ValueError as error:  # UnicodeDecodeError included
            raise _Refusal(400, f"{what} is not UTF-8 or too long: {error}") from None

    def _body_params(self) -> dict[str, list[str]]:
        """Parameters from the body, in parse_qs's shape, as Ziggurat's middleware read them: a form
        (application/x-www-form-urlencoded, what `curl -d` sends) or a JSON object (any other type, or none)."""
        raw = self._body()
        if not raw:
            return {}
        kind = self.headers.get_content_type()  # text/plain when the header is missing or malformed
        if kind == "application/x-www-form-urlencoded":
            try:
                form = raw.decode("utf-8")
            except UnicodeDecodeError as error:
                raise _Refusal(400, f"the form body is not UTF-8: {error}") from None
            return self._query(form, "the form body")
        if kind == "multipart/form-data":
            raise _Refusal(415, "send the parameters in the query string, as a form (curl -d) or as a JSON object")
        try:
            data = json.loads(raw)
        except (ValueError, RecursionError) as error:
            raise _Refusal(400, f"the body is not JSON: {str(error)[:200]}") from None
        if not isinstance(data, dict):
            raise _Refusal(400, f"the body must be a JSON object of parameters, got {_json_kind(data)}")
        return {str(k): [str(v)] for k, v in data.items() if v is not None}  # null: not given, as Ziggurat read it

    def _body(self) -> bytes:
        """The request's body, read within the server's limits."""
        limits = self.server.limits
        if "Transfer-Encoding" in self.headers:
            self.close_connection = True
            raise _Refusal(400, "send the body with a Content-Length (no Transfer-Encoding)")
        declared = self.headers.get("Content-Length")
        if declared is None:
            return b""
        if not _CONTENT_LENGTH.fullmatch(declared.strip()):
            self.close_connection = True
            raise _Refusal(400, f"Content-Length must be a number of bytes, got {declared[:40]!r}")
        length = int(declared)
        if length > limits.max_body_bytes:
            self.close_connection = True
            raise _Refusal(413, f"the body may be at most {limits.max_body_bytes} bytes (parameters only)")
        try:
            raw = self.rfile.read(length)
        except TimeoutError:
            self.close_connection = True
            raise _Refusal(408, f"the body did not arrive within {limits.read_timeout_s:g} s") from None
        if len(raw) < length:
            raise ConnectionResetError(f"closed after {len(raw)} of {length} body bytes")
        return raw

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        self._serve("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._serve("POST")

    def do_DELETE(self) -> None:  # noqa: N802
        self._serve("DELETE")

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("http %s", format % args)


class OpsServer:
    """A small threaded HTTP server on `host`:`port` (0: any free port) for the endpoints it is given."""

    def __init__(
        self,
        port: int,
        endpoints: Mapping[tuple[str, str], Endpoint],
        host: str = "0.0.0.0",
        limits: Limits = Limits(),
    ) -> None:
        self._server = _Server((host, port), dict(endpoints), limits)
        self.host = str(self._server.server_address[0])
        self.port = int(self._server.server_address[1])
        # A short poll interval so that stopping zig does not wait half a second for this thread.
        serve = functools.partial(self._server.serve_forever, poll_interval=0.1)
        self._thread = threading.Thread(target=serve, name="zig-http", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def _json_kind(data: Any) -> str:
    return {list: "a list", str: "a string", bool: "a boolean", type(None): "null"}.get(type(data), "a number")


def _merged(query: dict[str, list[str]], body: dict[str, list[str]]) -> dict[str, list[str]]:
    """The query's and the body's parameters together: a name given in both keeps every value, so an endpoint can
    refuse what disagrees instead of one silently winning."""
    merged = {name: list(values) for name, values in query.items()}
    for name, values in body.items():
        merged.setdefault(name, []).extend(values)
    return merged
