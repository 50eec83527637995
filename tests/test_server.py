"""The ops HTTP server without a broker: the dead-set API's bearer token, the host it binds, its limits."""

from __future__ import annotations

import contextlib
import http.client
import json
import logging
import socket
import struct
import threading
import time
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from helpers import flat_config, wait_until, write
from typer.testing import CliRunner

from zig_cli import config, deadset
from zig_cli.cli import app
from zig_cli.server import Endpoint, Limits, OpsServer, Request, text

TOKEN = "s3cret-t0ken"
DEAD_SET = [("GET", "/v1/dead_set"), ("POST", "/v1/dead_set/replay"), ("DELETE", "/v1/dead_set")]


@contextlib.contextmanager
def serving(endpoints: Mapping[tuple[str, str], Endpoint], host: str = "127.0.0.1") -> Iterator[OpsServer]:
    server = OpsServer(0, endpoints, host)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def call(
    server: OpsServer, method: str, path: str, headers: dict[str, str] | None = None, body: bytes | None = None
) -> tuple[int, dict[str, str], bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


def dead_set_endpoints(environ: dict[str, str] | None = None, **http_server: Any) -> dict[tuple[str, str], Endpoint]:
    cfg = config.validate(flat_config(**{"http-server": http_server}), "c.edn", environ or {})
    return {("GET", "/ping"): lambda request: text(200, "pong"), **deadset.endpoints(cfg)}


def test_the_dead_set_api_answers_only_to_the_configured_bearer_token(caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.DEBUG)
    with serving(dead_set_endpoints(**{"auth-token": TOKEN})) as server:
        for method, path in DEAD_SET:
            query = f"{path}?topic-entity=orders&count=-1"
            for headers in ({}, {"Authorization": "Bearer guess-xyz"}, {"Authorization": f"Basic {TOKEN}"}):
                status, answer_headers, body = call(server, method, query, headers)
                assert status == 401, (method, headers)
                assert answer_headers["www-authenticate"].startswith("Bearer")
                assert "Authorization: Bearer" in json.loads(body)["error"]
            # The right token reaches the endpoint, which refuses the count before touching any broker.
            status, _, body = call(server, method, query, {"Authorization": f"Bearer {TOKEN}"})
            assert (status, json.loads(body)) == (
                400,
                {"error": "count must be an integer from 0 to 2147483647, got -1"},
            )
            status, _, body = call(server, method, query, {"authorization": f"bearer {TOKEN}"})
            assert status == 400, "the header name and scheme are case-insensitive"
        assert call(server, "GET", "/ping")[::2] == (200, b"pong")
    refusals = [r.getMessage() for r in caplog.records if "bearer token" in r.getMessage()]
    assert len(refusals) == 9 and all("from 127.0.0.1:" in line for line in refusals), refusals
    assert "DELETE /v1/dead_set from 127.0.0.1:" in "\n".join(refusals)
    assert TOKEN not in caplog.text and "guess-xyz" not in caplog.text


FORM = "application/x-www-form-urlencoded"


def test_the_dead_set_api_takes_ziggurat_s_spellings_and_bodies():
    """As Ziggurat's docs call it: topic_entity or topicEntity, in the query, a JSON body or a form. A count of 0
    asks for nothing: answered without a broker (none listens on the route's address)."""
    endpoints = dead_set_endpoints(**{"auth-token": TOKEN})
    auth = {"Authorization": f"Bearer {TOKEN}"}
    replayed = {"replayed": 0, "message": "Replayed 0 message(s) to 'orders'; they will be handled again shortly"}
    deleted = {"deleted": 0, "message": "Deleted 0 message(s) from the dead set of route 'orders'"}
    calls: list[tuple[str, str, dict[str, str], bytes | None, dict[str, Any]]] = [
        ("GET", "/v1/dead_set?topic_entity=orders&count=0", {}, None, {"messages": []}),
        ("GET", "/v1/dead_set?topicEntity=orders&count=0", {}, None, {"messages": []}),
        (
            "POST",
            "/v1/dead_set/replay",
            {"Content-Type": "application/json"},
            b'{"count": "0", "topic_entity": "orders"}',
            replayed,
        ),
        ("POST", "/v1/dead_set/replay", {"Content-Type": FORM}, b"count=0&topic_entity=orders", replayed),
        ("DELETE", "/v1/dead_set", {"Content-Type": FORM}, b"count=0&topicEntity=orders", deleted),
        ("DELETE", "/v1/dead_set?topic-entity=orders", {"Content-Type": "application/json"}, b'{"count": 0}', deleted),
    ]
    with serving(endpoints) as server:
        for method, path, headers, body, expected in calls:
            status, _, answer = call(server, method, path, headers | auth, body)
            assert (status, json.loads(answer)) == (200, expected), (method, path, body)


REFUSED_DEAD_SET_CALLS = [
    (
        "/v1/dead_set?topic-entity=orders&count=1&channel=outbound-channel",
        "channels are not supported: a zig route has one handler and one dead set; name it in topic-entity",
    ),
    (
        "/v1/dead_set?topic_entity=orders&topicEntity=audit&count=1",
        "topic-entity given twice, as 'topic_entity' and 'topicEntity', with different values",
    ),
    ("/v1/dead_set?topic_entity=nope&count=0", "no route named 'nope'; routes: 'orders'"),
    ("/v1/dead_set?count=0", "name the route (topic-entity)"),
    (
        "/v1/dead_set?topic_entity=orders&count=2147483648",
        "count must be an integer from 0 to 2147483647, got 2147483648",
    ),
    ("/v1/dead_set?topic_entity=orders", "count must be an integer from 0 to 2147483647, got nothing"),
    ("/v1/dead_set?topic-entity=orders&count=0&count=2000000", "count given more than once, with different values"),
]


@pytest.mark.parametrize(
    ("path", "error"),
    REFUSED_DEAD_SET_CALLS,
    ids=["channel", "twice", "route", "no-route", "big", "no-count", "repeated"],
)
def test_dead_set_calls_zig_cannot_serve_get_400_with_the_reason(path: str, error: str):
    with serving(dead_set_endpoints(**{"auth-token": TOKEN})) as server:
        for method, endpoint in DEAD_SET:
            status, _, answer = call(
                server, method, path.replace("/v1/dead_set", endpoint, 1), {"Authorization": f"Bearer {TOKEN}"}
            )
            assert (status, json.loads(answer)) == (400, {"error": error}), method


def test_a_parameter_in_both_the_query_and_the_body_must_agree():
    auth = {"Authorization": f"Bearer {TOKEN}", "Content-Type": FORM}
    with serving(dead_set_endpoints(**{"auth-token": TOKEN})) as server:
        status, _, answer = call(server, "DELETE", "/v1/dead_set?topic-entity=orders&count=0", auth, b"count=5")
        assert (status, json.loads(answer)) == (400, {"error": "count given more than once, with different values"})
        status, _, answer = call(server, "DELETE", "/v1/dead_set?topic-entity=orders&count=0", auth, b"count=0")
        assert status == 200 and json.loads(answer)["deleted"] == 0


def test_without_a_token_the_dead_set_api_is_off_and_says_how_to_turn_it_on():
    with serving(dead_set_endpoints()) as server:
        for method, path in DEAD_SET:
            status, _, body = call(server, method, f"{path}?topic-entity=orders&count=1", {"Authorization": "Bearer x"})
            assert status == 403
            assert ":http-server {:auth-token ...}" in json.loads(body)["error"]
        assert call(server, "GET", "/ping")[::2] == (200, b"pong")


def test_the_token_can_come_from_the_environment():
    endpoints = dead_set_endpoints({"ZIGGURAT_HTTP_SERVER_AUTH_TOKEN": TOKEN})
    with serving(endpoints) as server:
        query = "/v1/dead_set?topic-entity=orders&count=x"
        assert call(server, "GET", query)[0] == 401
        assert call(server, "GET", query, {"Authorization": f"Bearer {TOKEN}"})[0] == 400


def test_the_token_never_shows_in_zig_validate(tmp_path):
    runner = CliRunner()
    good = write(tmp_path, flat_config(**{"http-server": {"auth-token": TOKEN}}), name="good")
    bad = write(tmp_path, flat_config(**{"http-server": {"auth-token": 424242}}), name="bad")
    for path, code in ((good, 0), (bad, 2)):
        for fmt in ("text", "json"):
            result = runner.invoke(app, ["validate", str(path), "--format", fmt])
            assert result.exit_code == code, result.stdout + result.stderr
            assert TOKEN not in result.stdout + result.stderr and "424242" not in result.stdout + result.stderr
    result = runner.invoke(app, ["validate", str(bad)])
    assert "http-server.auth-token: expected a string, got '***'" in result.stderr


def test_the_server_listens_on_the_configured_host_only():
    with serving({("GET", "/ping"): lambda request: text(200, "pong")}, host="127.0.0.1") as server:
        assert (server.host, call(server, "GET", "/ping")[0]) == ("127.0.0.1", 200)
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.2", server.port), timeout=5).close()


def test_an_endpoint_sees_the_caller_and_its_parameters():
    seen: list[Request] = []

    def record(request: Request) -> Any:
        seen.append(request)
        return text(200, "ok")

    with serving({("POST", "/x"): record}) as server:
        call(server, "POST", "/x?a=1&a=2", {"X-Thing": "y"}, b'{"b": 3}')
    [request] = seen
    assert (request.param("a"), request.param("b"), request.param("c")) == ("2", "3", None)
    assert request.headers["x-thing"] == "y" and request.client.startswith("127.0.0.1:")


# --- limits: small ones, so that each test ends in well under a second ---

LIMITS = Limits(read_timeout_s=0.5, max_body_bytes=4096, max_connections=4)


def echo(request: Request) -> Any:
    return text(200, json.dumps({k: v[-1] for k, v in request.params.items()}))


@contextlib.contextmanager
def limited(
    endpoints: Mapping[tuple[str, str], Endpoint] | None = None, limits: Limits = LIMITS
) -> Iterator[OpsServer]:
    server = OpsServer(0, endpoints or {("POST", "/echo"): echo, ("GET", "/ping"): echo}, "127.0.0.1", limits)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def exchange(server: OpsServer, data: bytes, deadline_s: float = 5.0) -> bytes:
    """Send raw bytes and read the answer until the server closes; a server that holds on fails the test."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=deadline_s) as sock:
        sock.sendall(data)
        return read_to_end(sock)


def read_to_end(sock: socket.socket) -> bytes:
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def post(body: bytes, *headers: str) -> bytes:
    head = "".join(f"{h}\r\n" for h in headers) or f"Content-Length: {len(body)}\r\n"
    return f"POST /echo HTTP/1.1\r\nHost: x\r\n{head}\r\n".encode() + body


def test_a_body_shorter_than_its_content_length_is_given_up_after_the_read_timeout():
    with limited() as server:
        started = time.monotonic()
        answer = exchange(server, post(b'{"count": ', "Content-Length: 100"))
        assert answer.startswith(b"HTTP/1.0 408 "), answer
        assert b"the body did not arrive within 0.5 s" in answer
        assert time.monotonic() - started < 3


def test_a_body_over_the_cap_is_refused_with_413_without_being_read():
    called: list[Request] = []
    with limited({("POST", "/echo"): lambda request: called.append(request) or text(200, "")}) as server:
        answer = exchange(server, post(b"", "Content-Length: 300000000"))
        assert answer.startswith(b"HTTP/1.0 413 "), answer
        assert b"at most 4096 bytes" in answer
    assert called == []


@pytest.mark.parametrize(
    ("request_bytes", "message"),
    [
        (post(b"{}", "Content-Length: abc"), b"Content-Length must be a number of bytes, got 'abc'"),
        (post(b"{}", "Content-Length: -5"), b"Content-Length must be a number of bytes, got '-5'"),
        (post(b"{}", "Transfer-Encoding: chunked"), b"send the body with a Content-Length"),
        (post(b"count=1"), b"the body is not JSON: "),
        (post(b'{"count": "\xff"}'), b"the body is not JSON: "),
        (post(b"[" * 3000), b"the body is not JSON: "),
        (post(b"[1, 2]"), b"the body must be a JSON object of parameters, got a list"),
        (b"GET /ping?count=%FF HTTP/1.1\r\nHost: x\r\n\r\n", b"the query string is not UTF-8 or too long: "),
        (b"GET /ping?" + b"&".join(b"a=1" for _ in range(200)) + b" HTTP/1.1\r\n\r\n", b"too long"),
    ],
    ids=["letters", "negative", "chunked", "form", "not-utf8", "deep", "list", "query-encoding", "query-fields"],
)
def test_malformed_requests_get_400_with_the_reason(request_bytes: bytes, message: bytes, capfd: Any):
    with limited() as server:
        answer = exchange(server, request_bytes)
    assert answer.startswith(b"HTTP/1.0 400 "), answer
    assert message in answer
    assert "Traceback" not in capfd.readouterr().err


def test_a_good_json_body_still_gives_the_parameters():
    with limited() as server:
        answer = exchange(server, post(b'{"topic-entity": "orders", "count": 2, "channel": null}'))
    assert answer.startswith(b"HTTP/1.0 200 ") and answer.endswith(b'{"topic-entity": "orders", "count": "2"}')


def test_a_form_body_gives_its_parameters_and_a_multipart_one_is_refused():
    with limited() as server:
        body = b"topic_entity=orders&count=2"
        answer = exchange(server, post(body, f"Content-Type: {FORM}", f"Content-Length: {len(body)}"))
        assert answer.startswith(b"HTTP/1.0 200 ") and answer.endswith(b'{"topic_entity": "orders", "count": "2"}')
        bad = b"count=%FF"
        answer = exchange(server, post(bad, f"Content-Type: {FORM}; charset=utf-8", f"Content-Length: {len(bad)}"))
        assert answer.startswith(b"HTTP/1.0 400 ") and b"the form body is not UTF-8 or too long: " in answer
        multipart = b'--b\r\nContent-Disposition: form-data; name="count"\r\n\r\n2\r\n--b--\r\n'
        headers = ("Content-Type: multipart/form-data; boundary=b", f"Content-Length: {len(multipart)}")
        answer = exchange(server, post(multipart, *headers))
        assert answer.startswith(b"HTTP/1.0 415 ") and b"as a form (curl -d) or as a JSON object" in answer


def test_connections_over_the_cap_get_503_at_once_and_spawn_no_thread():
    patient = Limits(read_timeout_s=30, max_body_bytes=4096, max_connections=4)  # the idle ones must stay open
    with limited(limits=patient) as server:
        before = threading.active_count()
        idle = [socket.create_connection(("127.0.0.1", server.port), timeout=5) for _ in range(patient.max_connections)]
        try:
            for _ in range(20):
                answer = exchange(server, b"GET /ping HTTP/1.1\r\n\r\n", deadline_s=2)
                assert answer.startswith(b"HTTP/1.0 503 "), answer
            assert threading.active_count() <= before + patient.max_connections
        finally:
            for sock in idle:
                sock.close()
        # The idle connections' threads end with them, and the server answers again.
        wait_until(
            lambda: exchange(server, b"GET /ping HTTP/1.1\r\n\r\n").startswith(b"HTTP/1.0 200 "), 5, "a free slot"
        )


def test_a_client_that_drops_its_connection_is_one_line_in_zigs_log(caplog: pytest.LogCaptureFixture, capfd: Any):
    caplog.set_level(logging.INFO)
    dropped = threading.Event()

    def slow(request: Request) -> Any:
        assert dropped.wait(5)
        return text(200, "x" * 1_000_000)

    with limited({("GET", "/slow"): slow}) as server:
        sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
        sock.sendall(b"GET /slow HTTP/1.1\r\n\r\n")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close with a reset
        sock.close()
        dropped.set()
        wait_until(lambda: any("went away" in r.getMessage() for r in caplog.records), 5, "the drop to be logged")
    [line] = [r for r in caplog.records if "went away" in r.getMessage()]
    assert line.name == "zig_cli.server" and line.exc_info is None and "\n" not in line.getMessage()
    assert "GET /slow from 127.0.0.1:" in line.getMessage()
    assert "Traceback" not in capfd.readouterr().err


@pytest.mark.parametrize(("retried", "expected"), [(0, None), (1, 4), (4, 1), (5, 5), (7, 5)])
def test_the_ziggurat_retry_count_is_the_retries_left_as_ziggurat_kept_it(retried: int, expected: int | None):
    assert deadset.ziggurat_retry_count(retried, 5) == expected
