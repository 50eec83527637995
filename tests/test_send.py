"""`zig send` and the handler API `send`, read back with a plain consumer from the real broker."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import SAMPLES, wait_until
from kafka_helpers import RECORDER, Zig, create_topic, produce, read_topic, unique, write_route_config

from zig_cli import loader

pytestmark = pytest.mark.kafka
README = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")


def zig_send(
    *args: str, cwd: Path, env: dict[str, str] | None = None, stdin: str | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "zig_cli", "send", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        input=stdin,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def producer_config(tmp_path: Path, bootstrap: str, producer: dict[str, Any] | None = None) -> Path:
    """A config with one stream route `default` that has a producer, and one batch route `plain` without."""
    raw = {
        "app-name": "send-test",
        "stream-router": {
            "default": {
                "handler-fn": "zig_fixture_handlers/on-message",
                "application-id": "g",
                "bootstrap-servers": bootstrap,
                "origin-topic": "unused",
                "producer": producer or {},
            }
        },
        "batch-routes": {
            "plain": {
                "handler-fn": "zig_fixture_handlers/on-batch",
                "consumer-group-id": "g2",
                "bootstrap-servers": bootstrap,
                "origin-topic": "unused2",
            }
        },
    }
    path = tmp_path / "config.edn"
    path.write_text(loader.dumps(raw, "edn"), encoding="utf-8")
    return path


FIXTURES_ENV = {"PYTHONPATH": str(Path(__file__).parent / "fixtures")}


def test_both_forms_deliver_key_value_partition_and_headers(bootstrap_servers: str, tmp_path: Path):
    topic = create_topic(bootstrap_servers, unique("send"), 2)
    producer_config(tmp_path, bootstrap_servers)
    first = zig_send(
        "default", topic, "k1", "v1", "-H", "trace=abc", "-H", "source=cli", cwd=tmp_path, env=FIXTURES_ENV
    )
    assert first.returncode == 0, first.stderr
    assert re.fullmatch(rf"delivered to {topic} partition [01] offset 0\n", first.stdout)
    second = zig_send("default", topic, "1", "k2", "v2", cwd=tmp_path, env=FIXTURES_ENV)
    assert second.returncode == 0, second.stderr
    assert second.stdout.startswith(f"delivered to {topic} partition 1 offset ")
    messages = {m.key(): m for m in read_topic(bootstrap_servers, topic, 2)}
    assert messages[b"k1"].value() == b"v1"
    assert messages[b"k1"].headers() == [("trace", b"abc"), ("source", b"cli")]
    assert (messages[b"k2"].value(), messages[b"k2"].partition()) == (b"v2", 1)


def test_config_comes_from_the_option_then_zig_config(bootstrap_servers: str, tmp_path: Path):
    topic = create_topic(bootstrap_servers, unique("send"), 1)
    config = producer_config(tmp_path, bootstrap_servers, {"value-serializer-class": "json"})
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    by_env = zig_send("default", topic, "k", '{"n": 1}', cwd=elsewhere, env={**FIXTURES_ENV, "ZIG_CONFIG": str(config)})
    assert by_env.returncode == 0, by_env.stderr
    by_option = zig_send("default", topic, "k", "[2]", "-c", str(config), cwd=elsewhere, env=FIXTURES_ENV)
    assert by_option.returncode == 0, by_option.stderr
    wide = {**FIXTURES_ENV, "COLUMNS": "300"}  # so the usage panel does not wrap the message
    not_json = zig_send("default", topic, "k", "{oops", "-c", str(config), cwd=elsewhere, env=wide)
    assert not_json.returncode == 2
    assert "'{oops' is not JSON, which this producer's json serializer needs" in not_json.stderr
    assert sorted(m.value() for m in read_topic(bootstrap_servers, topic, 2)) == [b"[2]", b'{"n": 1}']


def test_send_does_not_import_the_handlers_it_never_calls(bootstrap_servers: str, tmp_path: Path):
    topic = create_topic(bootstrap_servers, unique("send"), 1)
    producer_config(tmp_path, bootstrap_servers)  # its handler modules are not on the path: not importable
    sent = zig_send("default", topic, "k", "v", cwd=tmp_path)
    assert sent.returncode == 0, sent.stderr
    assert [m.value() for m in read_topic(bootstrap_servers, topic, 1)] == [b"v"]
    validated = subprocess.run(
        [sys.executable, "-m", "zig_cli", "validate", "config.edn"], cwd=tmp_path, capture_output=True, text=True
    )
    assert validated.returncode == 2
    assert "zig_fixture_handlers" in validated.stdout + validated.stderr


@pytest.mark.parametrize(
    ("route", "message"),
    [
        ("nope", "can't publish: no route named 'nope' in config.edn; routes with a producer: 'default'"),
        (
            "plain",
            "can't publish: route 'plain' has no :producer block in config.edn; routes with a producer: 'default'",
        ),
    ],
)
def test_unknown_route_and_route_without_producer(route: str, message: str, bootstrap_servers: str, tmp_path: Path):
    producer_config(tmp_path, bootstrap_servers)
    result = zig_send(route, "t", "k", "v", cwd=tmp_path, env=FIXTURES_ENV)
    assert result.returncode == 1
    assert result.stderr.strip() == message


def test_an_unreachable_broker_fails_within_the_timeout(tmp_path: Path):
    producer_config(tmp_path, "127.0.0.1:1")
    started = time.monotonic()
    result = zig_send("default", "t", "k", "v", "--timeout", "3", cwd=tmp_path, env=FIXTURES_ENV, timeout=60)
    assert result.returncode == 1
    assert time.monotonic() - started < 15
    assert result.stderr.startswith("t: Local: Message timed out (last broker error: ")
    assert "Connection refused" in result.stderr


def test_bulk_sends_100000_lines_in_order_per_key(bootstrap_servers: str, tmp_path: Path):
    topic = create_topic(bootstrap_servers, unique("bulk"), 4)
    producer_config(tmp_path, bootstrap_servers)
    lines = [f"key-{i % 50}\t{i}" for i in range(100_000)]
    lines[4] = "a line with no tab"
    lines[9] = '{"key": "json-key", "value": "json-value", "partition": 2, "headers": {"h": "1"}}'
    (tmp_path / "messages.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = zig_send("default", topic, "--file", "messages.txt", cwd=tmp_path, env=FIXTURES_ENV, timeout=300)
    assert result.returncode == 1, "one line failed"
    assert re.match(r"sent 99,999, failed 1, [\d,]+ msgs/s\n", result.stdout), result.stdout
    assert result.stderr.strip() == "line 5: expected key<TAB>value or a JSON object"
    received = read_topic(bootstrap_servers, topic, 99_999, timeout=180)
    by_key: dict[bytes, list[int]] = {}
    for message in received:
        if message.key() == b"json-key":
            assert (message.value(), message.partition(), message.headers()) == (b"json-value", 2, [("h", b"1")])
            continue
        by_key.setdefault(message.key(), []).append(int(message.value()))
    assert sum(len(v) for v in by_key.values()) == 99_998
    for key, values in by_key.items():
        assert values == sorted(values), f"{key!r} out of order"


def test_bulk_from_stdin(bootstrap_servers: str, tmp_path: Path):
    topic = create_topic(bootstrap_servers, unique("stdin"), 1)
    producer_config(tmp_path, bootstrap_servers)
    result = zig_send("default", topic, "--file", "-", cwd=tmp_path, env=FIXTURES_ENV, stdin="a\t1\nb\t2\n")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("sent 2, failed 0, ")
    assert sorted(m.value() for m in read_topic(bootstrap_servers, topic, 2)) == [b"1", b"2"]


def test_a_batch_handler_enriches_and_forwards_with_send(bootstrap_servers: str, tmp_path: Path):
    source = create_topic(bootstrap_servers, unique("raw"), 1)
    target = create_topic(bootstrap_servers, unique("enriched"), 1)
    produce(bootstrap_servers, source, ((str(i).encode(), str(i).encode()) for i in range(20)))
    (tmp_path / "h.py").write_text(
        RECORDER
        + f"""
import zig_cli

def enrich(batch):
    futures = [zig_cli.send("forward", {target!r}, m.key, {{"n": int(m.value), "enriched": True}}) for m in batch]
    for future in futures:
        future.result(30)
    record("forward", batch)
"""
    )
    config = write_route_config(
        tmp_path / "config.edn",
        bootstrap_servers,
        {
            "forward": {
                "handler-fn": "h/enrich",
                "consumer-group-id": unique("fwd"),
                "origin-topic": source,
                "key-deserializer-class-config": "string",
                "value-deserializer-class-config": "string",
                "producer": {"value-serializer-class": "json"},
            }
        },
    )
    zig = Zig(config, tmp_path / "record.jsonl")
    wait_until(lambda: zig.count() >= 20, 60, "20 forwarded messages")
    assert zig.stop() == 0
    forwarded = read_topic(bootstrap_servers, target, 20)
    assert sorted(m.value() for m in forwarded) == sorted(f'{{"n": {i}, "enriched": true}}'.encode() for i in range(20))


def test_the_readme_send_examples_run_as_written(bootstrap_servers: str):
    create_topic(bootstrap_servers, "test-topic", 2, exist_ok=True)
    block = re.search(r"<!-- send-examples -->\n```sh\n(.*?)```", README, re.S)
    assert block, "README.md lost its send examples"
    commands = [line for line in block[1].splitlines() if line.startswith("zig send")]
    assert len(commands) >= 2
    env = {"ZIGGURAT_STREAM_ROUTER_DEFAULT_PRODUCER_BOOTSTRAP_SERVERS": bootstrap_servers}
    for command in commands:
        args = command.split()[2:]
        result = zig_send(*args, cwd=SAMPLES, env=env)
        assert result.returncode == 0, (command, result.stderr)
        assert result.stdout.startswith("delivered to test-topic partition ")
