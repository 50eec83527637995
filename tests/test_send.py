"""`zig send` and the handler API `send`, read back with a plain consumer from the real broker."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from helpers import SAMPLES, wait_until
from kafka_helpers import RECORDER, Zig, create_topic, produce, read_topic, unique, write_route_config

from zig_cli import codecs, loader
from zig_cli.errors import EncodeError, ProducerError
from zig_cli.producer import RouteProducer

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


def test_an_async_stream_handler_awaits_send_without_blocking_its_event_loop(bootstrap_servers: str, tmp_path: Path):
    source = create_topic(bootstrap_servers, unique("raw"), 1)
    target = create_topic(bootstrap_servers, unique("enriched"), 1)
    produce(bootstrap_servers, source, ((f"k{i}".encode(), str(i).encode()) for i in range(40)))
    (tmp_path / "h.py").write_text(
        RECORDER
        + f"""
import asyncio
import zig_cli

async def enrich(message):
    # as the README shows: the send's future, awaited on the worker's event loop
    await asyncio.wrap_future(zig_cli.send("forward", {target!r}, message.key, {{"n": int(message.value)}}))
    record("forward", [message])
    return "success"
"""
    )
    config = write_route_config(
        tmp_path / "config.edn",
        bootstrap_servers,
        {},
        stream_routes={
            "forward": {
                "handler-fn": "h/enrich",
                "application-id": unique("fwd"),
                "origin-topic": source,
                "key-deserializer-class-config": "string",
                "value-deserializer-class-config": "string",
                "concurrency": 16,
                "producer": {"value-serializer-class": "json"},
            }
        },
    )
    zig = Zig(config, tmp_path / "record.jsonl")
    wait_until(lambda: zig.count() >= 40, 60, "40 forwarded messages")
    assert zig.stop() == 0
    forwarded = read_topic(bootstrap_servers, target, 40)
    assert sorted(m.value() for m in forwarded) == sorted(f'{{"n": {i}}}'.encode() for i in range(40))


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


def test_bulk_lines_librdkafka_refuses_fail_by_number_and_every_other_line_goes_out(
    bootstrap_servers: str, tmp_path: Path
):
    topic = create_topic(bootstrap_servers, unique("hostile"), 2)
    producer_config(tmp_path, bootstrap_servers)
    huge = "x" * (50 * 1024 * 1024)
    lines = [
        "a\t1",
        f"huge\t{huge}",  # the plain key<TAB>value path
        "",
        "   \r",
        '{"key": "b", "value": "2", "partition": 1}',
        f'{{"key": "huge-json", "value": "{"y" * 2_000_000}"}}',  # the JSON path
        '{"value": "v", "partition": 99999999999999}',
        '{"value": "v", "partition": -1}',
        '{"value": "v", "headers": {"\\ud800": "x"}}',  # crashed the process (confluent-kafka 2.16)
        "c\t3",
    ]
    (tmp_path / "hostile.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = zig_send("default", topic, "--file", "hostile.txt", cwd=tmp_path, env=FIXTURES_ENV)
    assert result.returncode == 1, result.stderr
    assert re.match(r"sent 3, failed 5, [\d,]+ msgs/s, 2 blank line\(s\) skipped\n", result.stdout), result.stdout
    too_large = (
        "bytes of key and value: too large for the producer's message.max.bytes (1000000, which counts headers and "
        "framing too)"
    )
    assert result.stderr.splitlines() == [
        f"line 2: {len(huge) + 4:,} {too_large}",
        f"line 6: {2_000_000 + len('huge-json'):,} {too_large}",
        "line 7: partition must be from 0 to 2147483647, got 99999999999999",
        "line 8: partition must be from 0 to 2147483647, got -1",
        "line 9: header '\\ud800' is not UTF-8 text",
    ]
    received = read_topic(bootstrap_servers, topic, 3)
    assert sorted((m.key(), m.value()) for m in received) == [(b"a", b"1"), (b"b", b"2"), (b"c", b"3")]


NO_BROKER_ENV = {**FIXTURES_ENV, "COLUMNS": "300"}  # so the usage panel does not wrap the message


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--", "default", "t", "99999999999999", "k", "v"],
            "partition must be from 0 to 2147483647, got 99999999999999",
        ),
        (["--", "default", "t", "-1", "k", "v"], "partition must be from 0 to 2147483647, got -1"),
        (
            ["default", "t", "k", "v", "--timeout", "-1"],
            "Invalid value for --timeout: must be from 0.001 to 2147483 seconds, got -1",
        ),
        (
            ["default", "t", "k", "v", "--timeout", "0"],
            "Invalid value for --timeout: must be from 0.001 to 2147483 seconds, got 0",
        ),
        (
            ["default", "t", "k", "v", "--timeout", "1e308"],
            "Invalid value for --timeout: must be from 0.001 to 2147483 seconds, got 1e+308",
        ),
        (
            ["default", "t", "k", "v", "--timeout", "inf"],
            "Invalid value for --timeout: must be from 0.001 to 2147483 seconds, got inf",
        ),
        (
            ["default", "t", "k", "v", "--timeout", "nan"],
            "Invalid value for --timeout: must be from 0.001 to 2147483 seconds, got nan",
        ),
        (["default", "t", "k", "\udcff"], "VALUE is not UTF-8 text"),
        (["default", "t", "\udcff", "v"], "KEY is not UTF-8 text"),
        (["default", "t", "k", "v", "-H", "h=\udcff"], "header 'h' is not UTF-8 text"),
        (["default", "t", "k", "v", "-H", "\udcff=1"], "header '\\udcff' is not UTF-8 text"),  # crashed the process
    ],
)
def test_send_arguments_librdkafka_could_not_take_are_usage_errors(args: list[str], message: str, tmp_path: Path):
    producer_config(tmp_path, "127.0.0.1:1")  # refused before any connection
    result = subprocess.run(
        [sys.executable, "-m", "zig_cli", "send", *args],
        cwd=tmp_path,
        capture_output=True,
        timeout=60,
        env={**os.environ, **NO_BROKER_ENV},
    )
    stderr = result.stderr.decode("utf-8", "replace")
    assert result.returncode == 2, stderr
    assert message in stderr
    assert "Traceback" not in stderr


def test_a_single_message_over_the_size_limit_is_a_one_line_error(tmp_path: Path):
    producer_config(tmp_path, "127.0.0.1:1", {"kafka-properties": {"message.max.bytes": "1000"}})
    result = zig_send("default", "t", "k", "v" * 5000, cwd=tmp_path, env=FIXTURES_ENV, timeout=60)
    assert result.returncode == 1
    assert result.stderr == (
        "can't send to 't': 5,001 bytes of key and value: too large for the producer's message.max.bytes (1000, "
        "which counts headers and framing too)\n"
    )


def test_the_handler_api_refuses_what_librdkafka_could_not_take_with_a_zig_error():
    route_producer = RouteProducer(
        "r",
        {"bootstrap.servers": "127.0.0.1:1", "message.max.bytes": "1000"},
        codecs.encoder("string"),
        codecs.encoder("string"),
        background=False,
    )
    try:
        with pytest.raises(ProducerError, match=r"^can't send to 't': partition must be from 0 to 2147483647, got "):
            route_producer.send("t", "k", "v", partition=2**40)
        with pytest.raises(EncodeError, match=r"^header '\\ud800' is not UTF-8 text$"):  # crashed the process
            route_producer.send("t", "k", "v", headers={"\ud800": "x"})
        with pytest.raises(ProducerError, match=r"^can't send to 't': 2,001 bytes of key and value: too large"):
            route_producer.send("t", "k", "v" * 2000)
    finally:
        assert route_producer.close(0.1) == 0
