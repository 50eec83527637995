"""`zig send` failing as it should without a broker: usage errors exit 2, brokers that refuse fail at once."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest
from helpers import batch_route, flat_config, stream_route, write
from typer.testing import CliRunner

from zig_cli.cli import app

runner = CliRunner()
WIDE = {"COLUMNS": "300"}  # so the usage panel does not wrap its message


def send_config(tmp_path: Path, servers: str) -> Path:
    """A config with one stream route `default` that has a producer, and one batch route `plain` without."""
    routes = {"stream-router": {"default": stream_route(**{"bootstrap-servers": servers, "producer": {}})}}
    return write(tmp_path, flat_config(**routes, **{"batch-routes": {"plain": batch_route()}}))


def closed_port() -> int:
    """A loopback port nothing listens on: connecting to it is refused at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize(
    ("route", "message"),
    [
        ("nope", "can't publish: no route named 'nope' in {file}; routes with a producer: 'default'"),
        ("plain", "can't publish: route 'plain' has no :producer block in {file}; routes with a producer: 'default'"),
    ],
)
def test_an_unknown_route_or_one_without_producer_is_a_usage_error(tmp_path: Path, route: str, message: str):
    config = send_config(tmp_path, "127.0.0.1:9092")
    result = runner.invoke(app, ["send", route, "t", "k", "v", "-c", str(config)], env=WIDE)
    assert result.exit_code == 2
    assert message.format(file=config) in result.stderr


def test_without_a_config_send_says_where_it_looked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ZIG_CONFIG", raising=False)
    result = runner.invoke(app, ["send", "default", "t", "k", "v"], env=WIDE)
    assert result.exit_code == 2
    assert (
        "no config file: looked for -c/--config (not given), $ZIG_CONFIG (not set) and ./config.edn (no such file)"
        in result.stderr
    )
    (tmp_path / "config.edn").write_text("{}")  # not read when $ZIG_CONFIG is set: the message must not say it was
    named = runner.invoke(app, ["send", "default", "t", "k", "v"], env={**WIDE, "ZIG_CONFIG": "gone.edn"})
    assert named.exit_code == 2
    assert (
        "no config file: -c/--config not given, and $ZIG_CONFIG names 'gone.edn', which does not exist "
        "(./config.edn is read only when $ZIG_CONFIG is not set)" in named.stderr
    )


@pytest.mark.parametrize("bulk", [False, True], ids=["one message", "--file"])
def test_send_fails_as_soon_as_every_bootstrap_server_refuses(tmp_path: Path, bulk: bool):
    first, second = closed_port(), closed_port()
    servers = f"127.0.0.1:{first},localhost:{second}"
    config = send_config(tmp_path, servers)
    lines = tmp_path / "lines.txt"
    lines.write_text("k\tv\n", encoding="utf-8")
    args = ["--file", str(lines)] if bulk else ["k", "v"]
    started = time.monotonic()
    result = runner.invoke(app, ["send", "default", "t", *args, "-c", str(config)])  # the default 30 s timeout
    assert time.monotonic() - started < 5
    assert result.exit_code == 1
    [line] = result.stderr.splitlines()
    assert line.startswith(f"cannot connect to any bootstrap server ({servers}): 127.0.0.1:{first}: Connect to ")
    assert f"localhost:{second}: Connect to " in line
    assert "Connection refused" in line
    assert line.endswith("; is the broker running, and are these its host and port?")
