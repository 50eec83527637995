"""The ops HTTP server without a broker: the dead-set API's bearer token, the host it binds, its limits."""

from __future__ import annotations

import contextlib
import http.client
import json
import logging
import socket
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from helpers import flat_config, write
from typer.testing import CliRunner

from zig_cli import config, deadset
from zig_cli.cli import app
from zig_cli.server import Endpoint, OpsServer, Request, text

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
            query = f"{path}?topic-entity=orders&count=0"
            for headers in ({}, {"Authorization": "Bearer guess-xyz"}, {"Authorization": f"Basic {TOKEN}"}):
                status, answer_headers, body = call(server, method, query, headers)
                assert status == 401, (method, headers)
                assert answer_headers["www-authenticate"].startswith("Bearer")
                assert "Authorization: Bearer" in json.loads(body)["error"]
            # The right token reaches the endpoint, which refuses the count before touching any broker.
            status, _, body = call(server, method, query, {"Authorization": f"Bearer {TOKEN}"})
            assert (status, json.loads(body)) == (400, {"error": "count must be a positive integer, got 0"})
            status, _, body = call(server, method, query, {"authorization": f"bearer {TOKEN}"})
            assert status == 400, "the header name and scheme are case-insensitive"
        assert call(server, "GET", "/ping")[::2] == (200, b"pong")
    refusals = [r.getMessage() for r in caplog.records if "bearer token" in r.getMessage()]
    assert len(refusals) == 9 and all("from 127.0.0.1:" in line for line in refusals), refusals
    assert "DELETE /v1/dead_set from 127.0.0.1:" in "\n".join(refusals)
    assert TOKEN not in caplog.text and "guess-xyz" not in caplog.text


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
