"""The embedded broker: zig broker, zig run --embedded-broker, and the README's quickstart, as written."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient
from helpers import batch_route, flat_config, stream_route, wait_until

from zig_cli import config, embedded

ROOT = Path(__file__).parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
NO_EXTRA = str(Path(__file__).parent / "fixtures" / "no_broker_extra")


def commands(marker: str) -> list[str]:
    block = re.search(rf"<!-- {marker} -->\n```sh\n(.*?)```", README, re.S)
    assert block, f"README.md lost its {marker} block"
    return [line for line in block[1].splitlines() if line.startswith("zig ")]


def zig_args(command: str) -> list[str]:
    return [sys.executable, "-m", "zig_cli", *command.split()[1:]]


def listening(address: str) -> bool:
    host, port = address.rsplit(":", 1)
    try:
        with socket.create_connection((host, int(port)), timeout=0.2):
            return True
    except OSError:
        return False


def test_the_quickstart_runs_as_written_and_handles_a_sent_message(tmp_path: Path):
    [run] = commands("quickstart")
    [send] = commands("quickstart-send")
    log = tmp_path / "run.log"
    ports = {**os.environ, "ZIGGURAT_PROMETHEUS_PORT": "0", "ZIGGURAT_HTTP_SERVER_PORT": "0"}
    with log.open("wb") as sink:
        process = subprocess.Popen(zig_args(run), cwd=ROOT, stdout=sink, stderr=subprocess.STDOUT, env=ports)
    try:
        text = lambda: log.read_text(errors="replace")  # noqa: E731
        wait_until(lambda: "assigned quickstart-events" in text() or process.poll() is not None, 60, "the quickstart")
        assert process.poll() is None, text()
        address = re.search(r"embedded broker listening on (\S+)", text())[1]  # type: ignore[index]
        # Off 9092 (taken), zig prints the send that reaches its broker: run it as printed.
        moved = re.search(r"send to this broker with:\n  (\S+)=(\S+) (zig send .*)\n", text())
        env = dict(os.environ)
        if moved:
            assert (moved[1], moved[2]) == ("ZIGGURAT_BATCH_ROUTES_QUICKSTART_BOOTSTRAP_SERVERS", address)
            assert moved[3] == send
            env[moved[1]] = moved[2]
        sent = subprocess.run(zig_args(send), cwd=ROOT, capture_output=True, text=True, timeout=60, env=env)
        assert sent.returncode == 0, sent.stderr
        assert sent.stdout.startswith("delivered to quickstart-events partition ")
        wait_until(lambda: "key='hello' value='world'" in text(), 60, "the quickstart handler to log the message")
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0
        assert not listening(address), "the embedded broker stops with zig"
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_zig_broker_runs_in_the_foreground_until_ctrl_c(tmp_path: Path):
    port = socket.create_server(("127.0.0.1", 0))
    number = port.getsockname()[1]
    port.close()
    log = tmp_path / "broker.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(zig_args(f"zig broker --port {number}"), stdout=sink, stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: "broker listening" in log.read_text() or process.poll() is not None, 30, "the broker")
        assert f"broker listening on 127.0.0.1:{number}; Ctrl+C stops it" in log.read_text()
        assert listening(f"127.0.0.1:{number}")
        process.send_signal(signal.SIGINT)
        assert process.wait(30) == 0
        assert not listening(f"127.0.0.1:{number}")
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_zig_broker_with_a_config_creates_its_topics_without_importing_handlers(tmp_path: Path):
    port = socket.create_server(("127.0.0.1", 0))
    number = port.getsockname()[1]
    port.close()
    config = tmp_path / "quickstart.edn"  # its handler's module is not importable here: the broker needs none
    config.write_text((ROOT / "sample-configs" / "quickstart.edn").read_text().replace("sample_handlers/", "gone/"))
    log = tmp_path / "broker.log"
    with log.open("wb") as sink:
        command = zig_args(f"zig broker --port {number} --config {config}")
        process = subprocess.Popen(command, cwd=tmp_path, stdout=sink, stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: "created the topics" in log.read_text() or process.poll() is not None, 60, "the topics")
        assert "quickstart-events" in log.read_text(), log.read_text()
        # zig's log lines, formatted as zig run's (they went to Python's last-resort handler, INFO lost)
        assert re.search(
            r" INFO zig_cli\.kafka: created topic quickstart-events with 4 partition\(s\)", log.read_text()
        )
        admin = AdminClient({"bootstrap.servers": f"127.0.0.1:{number}"})
        topics = admin.list_topics(timeout=30).topics
        assert "quickstart-events" in topics and len(topics["quickstart-events"].partitions) == 4
        assert "quickstart-quickstart-dead-letter" in topics
        process.send_signal(signal.SIGINT)
        assert process.wait(30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


@pytest.mark.parametrize("command", ["zig broker", "zig run sample-configs/quickstart.edn --embedded-broker"])
def test_without_the_extra_the_error_names_the_pip_command(command: str):
    env = {**os.environ, "PYTHONPATH": NO_EXTRA}
    result = subprocess.run(zig_args(command), cwd=ROOT, capture_output=True, text=True, timeout=60, env=env)
    assert result.returncode == 1
    assert "the embedded broker needs the broker extra: pip install 'zig-cli[broker]'" in result.stderr


def test_the_send_that_reaches_a_moved_broker_overrides_what_the_route_sets():
    servers = {"bootstrap-servers": "kafka:9092"}
    raw = flat_config(
        **{
            "batch-routes": {"orders": batch_route(producer={}), "plain": batch_route()},
            "stream-router": {"events": stream_route(producer=servers), "other": stream_route(producer={})},
        }
    )
    cfg = config.validate(raw, "my config.edn", {})
    assert embedded.send_commands(cfg, ["orders", "events", "plain"], "127.0.0.1:4321") == [
        "ZIGGURAT_BATCH_ROUTES_ORDERS_BOOTSTRAP_SERVERS=127.0.0.1:4321 zig send orders orders hello world -c "
        "'my config.edn'",
        "ZIGGURAT_STREAM_ROUTER_EVENTS_BOOTSTRAP_SERVERS=127.0.0.1:4321 "
        "ZIGGURAT_STREAM_ROUTER_EVENTS_PRODUCER_BOOTSTRAP_SERVERS=127.0.0.1:4321 zig send events events hello world "
        "-c 'my config.edn'",
    ]
