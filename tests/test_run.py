"""`zig run` against the real broker: every message handled, at least once, and committed only when handled."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from confluent_kafka import Producer
from helpers import ON_TANSU, REJOIN_THREADS, SAMPLES, wait_until
from kafka_helpers import (
    RECORDER,
    Zig,
    committed,
    create_topic,
    http_get,
    next_offsets,
    produce,
    read_records,
    read_topic,
    unique,
    write_route_config,
)

from zig_cli import envelope

pytestmark = pytest.mark.kafka


def handlers(tmp_path: Path, body: str) -> None:
    (tmp_path / "h.py").write_text(RECORDER + "\n" + body, encoding="utf-8")


def distinct(records: list[dict], route: str | None = None) -> set[tuple[int, int]]:
    return {(r["partition"], r["offset"]) for r in records if route is None or r["route"] == route}


def test_two_routes_handle_and_commit_every_message(bootstrap_servers: str, tmp_path: Path):
    topic = create_topic(bootstrap_servers, unique("orders"), 4)
    delivered = produce(bootstrap_servers, topic, ((str(i).encode(), b"x" * 100) for i in range(10_000)))
    handlers(tmp_path, "def a(batch):\n    record('a', batch)\n\ndef b(batch):\n    record('b', batch)\n")
    groups = {"a": unique("group-a"), "b": unique("group-b"), "c": unique("group-c")}
    config = write_route_config(
        tmp_path / "config.edn",
        bootstrap_servers,
        {
            name: {
                "handler-fn": f"h/{name if name != 'c' else 'a'}",
                "consumer-group-id": group,
                "origin-topic": topic,
                "thread-count": 2,
            }
            for name, group in groups.items()
        },
    )
    zig = Zig(config, tmp_path / "record.jsonl", "--route", "a", "--route", "b")
    wait_until(lambda: zig.count() >= 20_000 or zig.process.poll() is not None, 180, "20,000 handled messages")
    assert zig.stop() == 0, zig.output()[-3000:]
    records = zig.records()
    for name in ("a", "b"):
        assert distinct(records, name) == set(delivered), name
        assert committed(bootstrap_servers, groups[name], topic, 4) == next_offsets(delivered), name
    assert "route=c" not in zig.output(), "--route selects only the routes named"


def test_retried_messages_come_back_then_go_to_the_dead_letter_topic(bootstrap_servers: str, tmp_path: Path):
    topic = create_topic(bootstrap_servers, unique("payments"), 2)
    app = unique("app")
    keys = [f"r{i}" for i in range(5)] + [f"ok{i}" for i in range(5)]
    # Headers under zig's names on the origin topic are the message's own: kept, never read as where it came from.
    own = [("trace", b"t1"), ("zig-origin-topic", b"evil"), ("zig-retry-count", b"7")]
    produce(bootstrap_servers, topic, ((k.encode(), f"value-{k}".encode()) for k in keys), headers=own)
    handlers(
        tmp_path,
        (
            "def handle(batch):\n"
            "    record('pay', batch)\n"
            "    return {'retry': [m for m in batch if m.key.startswith('r')]}\n"
        ),
    )
    config = write_route_config(
        tmp_path / "config.edn",
        bootstrap_servers,
        {
            "pay": {
                "handler-fn": "h/handle",
                "consumer-group-id": unique("pay"),
                "origin-topic": topic,
                "key-deserializer-class-config": "string",
                "value-deserializer-class-config": "string",
            }
        },
        app=app,
        retry={"count": 2, "backoff-ms": 300},
    )
    zig = Zig(config, tmp_path / "record.jsonl")
    wait_until(lambda: zig.count() >= 5 + 5 * 3, 90, "first deliveries and two retries of each r-message")
    records = zig.records()
    for key in keys:
        seen = sorted((r for r in records if r["key"] == key), key=lambda r: r["retry_count"])
        expected_counts = [0, 1, 2] if key.startswith("r") else [0]
        assert [r["retry_count"] for r in seen] == expected_counts, key
        assert {(r["topic"], r["partition"], r["offset"]) for r in seen} == {
            (topic, seen[0]["partition"], seen[0]["offset"])
        }
        own_headers = {"trace": "t1", "zig-origin-topic": "evil", "zig-retry-count": "7"}
        assert all(r["value"] == f"value-{key}" and r["headers"] == own_headers for r in seen)
        for before, after in zip(seen, seen[1:], strict=False):
            assert after["at"] - before["at"] >= 0.3, "retried before its backoff"
    dead = read_topic(bootstrap_servers, f"{app}-pay-dead-letter", 5)
    assert zig.stop() == 0
    assert sorted(m.key() for m in dead) == [f"r{i}".encode() for i in range(5)]
    for message in dead:
        assert message.headers()[: len(own)] == own
        headers = dict(message.headers())  # zig's come last, so they win here
        assert headers["zig-origin-topic"] == topic.encode()
        assert headers["zig-retry-count"] == b"2"
        assert headers["zig-error"] == b"the handler asked for a retry (retried 2 time(s))"
        assert message.value() == b"value-" + message.key()


def test_a_new_consumer_group_does_not_handle_the_retries_another_group_left(bootstrap_servers: str, tmp_path: Path):
    topic = create_topic(bootstrap_servers, unique("renamed"), 1)
    app = unique("app")
    retry_topic = create_topic(bootstrap_servers, f"{app}-r-retry", 1)
    producer = Producer({"bootstrap.servers": bootstrap_servers})
    for offset in range(3):  # retries the route wrote under its old consumer-group-id, due long ago
        origin = envelope.Origin(topic, 0, offset, None, 0, None, ())
        record = envelope.forward(retry_topic, origin, b"old", b"v", "r", 1, "e", due_ms=0, group="old-group")
        producer.produce(record.topic, record.value, record.key, headers=record.headers)
    assert producer.flush(30) == 0
    produce(bootstrap_servers, topic, [(b"new", b"v")])
    handlers(
        tmp_path,
        "def handle(batch):\n    record('r', batch)\n    return {'retry': [m for m in batch if not m.retry_count]}\n",
    )
    group = unique("new-group")
    route = {"handler-fn": "h/handle", "consumer-group-id": group, "origin-topic": topic, "thread-count": 1}
    config = write_route_config(
        tmp_path / "config.edn", bootstrap_servers, {"r": route}, app=app, retry={"backoff-ms": 100}
    )
    zig = Zig(config, tmp_path / "record.jsonl")
    read = f"{group}-retry"  # the retry topic holds the 3 old retries and the new one
    wait_until(lambda: committed(bootstrap_servers, read, retry_topic, 1) == {0: 4}, 60, "the retry topic read")
    assert zig.stop() == 0, zig.output()[-3000:]
    assert sorted((r["key"], r["retry_count"]) for r in zig.records()) == [("new", 0), ("new", 1)]
    assert "written by consumer group(s) 'old-group': retries belong to the group that wrote them" in zig.output()


def test_held_retries_past_the_byte_cap_pause_and_all_come_back(bootstrap_servers: str, tmp_path: Path):
    topic = create_topic(bootstrap_servers, unique("held"), 1)
    produce(bootstrap_servers, topic, ((str(i).encode(), b"x" * 100_000) for i in range(20)))
    handlers(
        tmp_path,
        "def handle(batch):\n    record('h', batch)\n    return {'retry': [m for m in batch if not m.retry_count]}\n",
    )
    route = {"handler-fn": "h/handle", "consumer-group-id": unique("held"), "origin-topic": topic, "thread-count": 1}
    retry = {"count": 1, "backoff-ms": 3000, "max-held-bytes": 500_000}
    config = write_route_config(tmp_path / "config.edn", bootstrap_servers, {"h": route}, retry=retry)
    zig = Zig(config, tmp_path / "record.jsonl")
    zig.wait_for_log("zt-h-retry[0] paused: ")
    wait_until(lambda: zig.count() >= 40, 60, "every message, then its retry")
    assert zig.stop() == 0
    records = zig.records()
    assert sorted(r["offset"] for r in records if r["retry_count"] == 1) == list(range(20))
    held = [int(line.rsplit(", ", 1)[1].split()[0]) for line in zig.output().splitlines() if "] paused: " in line]
    assert held and 500_000 <= held[0] < 500_000 + 100_002, "the partition pauses at the message that crosses the cap"


def test_a_batch_whose_handler_raises_is_retried_and_nothing_is_lost(bootstrap_servers: str, tmp_path: Path):
    topic = create_topic(bootstrap_servers, unique("raise"), 1)
    delivered = produce(bootstrap_servers, topic, ((str(i).encode(), b"v") for i in range(300)))
    handlers(
        tmp_path,
        (
            "import pathlib\n"
            "def handle(batch):\n"
            "    marker = pathlib.Path('raised')\n"
            "    if not marker.exists():\n"
            "        marker.touch()\n"
            "        raise RuntimeError('flaky downstream')\n"
            "    record('r', batch)\n"
        ),
    )
    group = unique("raise")
    config = write_route_config(
        tmp_path / "config.edn",
        bootstrap_servers,
        {
            "r": {
                "handler-fn": "h/handle",
                "consumer-group-id": group,
                "origin-topic": topic,
                "max-poll-records": 50,
                "thread-count": 1,
            }
        },
        retry={"backoff-ms": 200},
    )
    zig = Zig(config, tmp_path / "record.jsonl")
    wait_until(lambda: len(distinct(zig.records())) >= 300 or zig.process.poll() is not None, 90, "300 handled")
    assert zig.stop() == 0
    records = zig.records()
    assert distinct(records) == set(delivered)
    retried = [r for r in records if r["retry_count"] == 1]
    assert 1 <= len(retried) <= 50, "exactly the batch that raised came back through the retry topic"
    assert "handler raised on " in zig.output() and "RuntimeError: flaky downstream" in zig.output()
    assert committed(bootstrap_servers, group, topic, 1) == next_offsets(delivered)


def test_kill_9_then_restart_handles_everything_at_least_once(bootstrap_servers: str, tmp_path: Path):
    topic = create_topic(bootstrap_servers, unique("kill"), 2)
    delivered = produce(bootstrap_servers, topic, ((str(i).encode(), b"v") for i in range(3000)))
    handlers(tmp_path, "import time\ndef handle(batch):\n    time.sleep(0.02)\n    record('k', batch)\n")
    group = unique("kill")
    config = write_route_config(
        tmp_path / "config.edn",
        bootstrap_servers,
        {
            "k": {
                "handler-fn": "h/handle",
                "consumer-group-id": group,
                "origin-topic": topic,
                "max-poll-records": 20,
                "thread-count": REJOIN_THREADS,
            }
        },
    )
    first = Zig(config, tmp_path / "record-1.jsonl", env={"ZIG_TEST_RUN": "1"})
    wait_until(lambda: first.count() >= 600, 90, "600 messages handled before the kill")
    first.stop(signal.SIGKILL)
    at_kill = committed(bootstrap_servers, group, topic, 2)
    second = Zig(config, tmp_path / "record-2.jsonl", env={"ZIG_TEST_RUN": "2"})
    both = (tmp_path / "record-1.jsonl", tmp_path / "record-2.jsonl")
    wait_until(
        lambda: distinct(read_records(*both)) >= set(delivered) or second.process.poll() is not None,
        120,
        "every message handled",
    )
    assert second.stop() == 0
    records = read_records(*both)
    assert distinct(records) == set(delivered)
    for r in records:
        if r["run"] == "2":
            assert r["offset"] >= max(at_kill[r["partition"]], 0), f"run 2 re-handled committed {r}"
    assert committed(bootstrap_servers, group, topic, 2) == next_offsets(delivered)


def test_a_second_process_joins_and_partitions_split(bootstrap_servers: str, tmp_path: Path):
    topic = create_topic(bootstrap_servers, unique("join"), 4)
    delivered = produce(bootstrap_servers, topic, ((str(i).encode(), b"v") for i in range(4000)))
    # A batch of 20 takes 0.05 s on tansu, 0.1 s on Apache Kafka (its joins are slower): the first process alone
    # has enough work for the second to join before it is done.
    pause = 0.05 if ON_TANSU else 0.1
    handlers(tmp_path, f"import time\ndef handle(batch):\n    time.sleep({pause})\n    record('j', batch)\n")
    group = unique("join")
    config = write_route_config(
        tmp_path / "config.edn",
        bootstrap_servers,
        {
            "j": {
                "handler-fn": "h/handle",
                "consumer-group-id": group,
                "origin-topic": topic,
                "max-poll-records": 20,
                "thread-count": REJOIN_THREADS,
            }
        },
    )
    first = Zig(config, tmp_path / "record.jsonl", env={"ZIG_TEST_RUN": "1"})
    wait_until(lambda: first.count() >= 200, 60, "the first process under way")
    second = Zig(config, tmp_path / "record.jsonl", env={"ZIG_TEST_RUN": "2"})
    wait_until(lambda: distinct(first.records()) >= set(delivered), 180, "every message handled")
    assert second.stop() == 0
    assert first.stop() == 0
    records = first.records()
    assert {r["run"] for r in records} == {"1", "2"}, "the second process got partitions too"
    assert distinct(records) == set(delivered)
    assert committed(bootstrap_servers, group, topic, 4) == next_offsets(delivered)


def test_invalid_return_value_stops_zig_without_committing_the_batch(bootstrap_servers: str, tmp_path: Path):
    topic = create_topic(bootstrap_servers, unique("contract"), 1)
    delivered = produce(bootstrap_servers, topic, ((str(i).encode(), b"v") for i in range(10)))
    handlers(
        tmp_path,
        (
            "import os\n"
            "def handle(batch):\n"
            "    if not os.environ.get('FIXED'):\n"
            "        return 'oops'\n"
            "    record('c', batch)\n"
        ),
    )
    group = unique("contract")
    config = write_route_config(
        tmp_path / "config.edn",
        bootstrap_servers,
        {
            "bad": {
                "handler-fn": "h/handle",
                "consumer-group-id": group,
                "origin-topic": topic,
                "thread-count": REJOIN_THREADS,
            }
        },
    )
    broken = Zig(config, tmp_path / "record.jsonl")
    assert broken.wait(60) == 1
    assert "route 'bad': handler returned 'oops'; expected None" in broken.output()
    assert committed(bootstrap_servers, group, topic, 1) == {0: -1001}
    fixed = Zig(config, tmp_path / "record.jsonl", env={"FIXED": "1"})
    wait_until(lambda: fixed.count() >= 10, 60, "the fixed handler to receive the batch")
    assert fixed.stop() == 0
    assert distinct(fixed.records()) == set(delivered)


HOOKS = """
import pathlib
HERE = pathlib.Path(__file__).parent

def start():
    (HERE / "started").write_text(repr(time.time()))

def failing_start():
    raise RuntimeError("no database")

def stop():
    (HERE / "stopped").write_text(repr(time.time()))

def handle(batch):
    if not (HERE / "started").exists():
        (HERE / "early").write_text("a batch before start-fn")
    record('r', batch)
"""


def test_start_fn_runs_before_the_first_message_and_stop_fn_after_the_last(bootstrap_servers: str, tmp_path: Path):
    topic = create_topic(bootstrap_servers, unique("hooks"), 1)
    delivered = produce(bootstrap_servers, topic, ((str(i).encode(), b"v") for i in range(3)))
    handlers(tmp_path, HOOKS)
    group = unique("hooks")
    route = {"handler-fn": "h/handle", "consumer-group-id": group, "origin-topic": topic, "thread-count": 1}

    def run(start_fn: str) -> Zig:
        hooks = {"start-fn": start_fn, "stop-fn": "h/stop"}
        config = write_route_config(tmp_path / "config.edn", bootstrap_servers, {"r": route}, app=group, root=hooks)
        return Zig(config, tmp_path / "record.jsonl")

    failing = run("h/failing-start")
    assert failing.wait(60) == 1
    assert "start-fn 'h/failing-start' raised RuntimeError: no database (at h.py:" in failing.output()
    assert committed(bootstrap_servers, group, topic, 1) == {0: -1001}, "nothing was consumed"
    assert not (tmp_path / "stopped").exists(), "a start-fn that failed has no stop-fn called"

    zig = run("h/start")
    wait_until(lambda: zig.count() >= 3, 60, "the three messages to be handled")
    assert not (tmp_path / "stopped").exists()
    assert zig.stop() == 0, zig.output()[-3000:]
    records = zig.records()
    assert distinct(records) == set(delivered) and not (tmp_path / "early").exists()
    started, stopped = (float((tmp_path / name).read_text()) for name in ("started", "stopped"))
    assert started < min(r["at"] for r in records) <= max(r["at"] for r in records) < stopped
    assert committed(bootstrap_servers, group, topic, 1) == next_offsets(delivered)


def test_a_retry_copy_over_the_size_limit_stops_the_route_and_loses_nothing(bootstrap_servers: str, tmp_path: Path):
    topic = create_topic(bootstrap_servers, unique("big"), 1)
    big = b"x" * 999_800  # fits the producer's 1,000,000 bytes; its copy with zig's headers does not
    produce(bootstrap_servers, topic, [(b"big", big)])
    handlers(
        tmp_path,
        "def handle(batch):\n    record('b', batch)\n    return {'retry': [m for m in batch if not m.retry_count]}\n",
    )
    group = unique("big")
    route = {"handler-fn": "h/handle", "consumer-group-id": group, "origin-topic": topic, "thread-count": 1}
    config = write_route_config(tmp_path / "config.edn", bootstrap_servers, {"b": route}, retry={"backoff-ms": 100})
    refused = Zig(config, tmp_path / "record.jsonl")
    assert refused.wait(60) == 1
    output = refused.output()
    found = re.search(
        rf"route 'b': cannot write the retry copy of {topic}\[0\]@0 to 'zt-b-retry': ([\d,]+) bytes of key", output
    )
    assert found and int(found[1].replace(",", "")) > 1_000_000, output[-3000:]  # the copy, zig's headers added
    assert "are over the producer's message.max.bytes of 1,000,000; raise it in the route's :producer" in output
    assert "Traceback" not in output
    assert committed(bootstrap_servers, group, topic, 1) == {0: -1001}, "the message stays to be handled again"

    raised = {**route, "producer": {"kafka-properties": {"message.max.bytes": 2_000_000}}}
    config = write_route_config(tmp_path / "config.edn", bootstrap_servers, {"b": raised}, retry={"backoff-ms": 100})
    fixed = Zig(config, tmp_path / "record.jsonl")
    wait_until(lambda: fixed.count() >= 3, 60, "the message again, then its retry")
    assert fixed.stop() == 0
    assert [(r["offset"], r["retry_count"], len(r["value"])) for r in fixed.records()] == [
        (0, 0, len(big)),
        (0, 0, len(big)),
        (0, 1, len(big)),
    ]


def test_sigterm_during_a_slow_batch_finishes_and_commits_it(bootstrap_servers: str, tmp_path: Path):
    topic = create_topic(bootstrap_servers, unique("slow"), 1)
    delivered = produce(bootstrap_servers, topic, ((str(i).encode(), b"v") for i in range(20)))
    handlers(
        tmp_path,
        (
            "import pathlib, time\n"
            "def handle(batch):\n"
            "    pathlib.Path('started').touch()\n"
            "    time.sleep(3)\n"
            "    record('s', batch)\n"
        ),
    )
    group = unique("slow")
    config = write_route_config(
        tmp_path / "config.edn",
        bootstrap_servers,
        {"s": {"handler-fn": "h/handle", "consumer-group-id": group, "origin-topic": topic, "thread-count": 1}},
    )
    zig = Zig(config, tmp_path / "record.jsonl")
    wait_until(lambda: (tmp_path / "started").exists(), 60, "the slow batch to start")
    sent = time.monotonic()
    assert zig.stop(signal.SIGTERM, timeout=30) == 0
    assert time.monotonic() - sent < 15, "exit was not prompt"
    assert distinct(zig.records()) == set(delivered)
    assert committed(bootstrap_servers, group, topic, 1) == next_offsets(delivered)


def test_a_message_that_is_not_json_goes_to_the_dead_letter_topic(bootstrap_servers: str, tmp_path: Path):
    topic = create_topic(bootstrap_servers, unique("json"), 1)
    deep = b"[" * 100_000 + b"]" * 100_000  # parsing it overflows Python's recursion limit
    produce(bootstrap_servers, topic, [(b"1", b'{"n": 1}'), (b"2", b"not json"), (b"d", deep), (b"3", b'{"n": 3}')])
    handlers(tmp_path, "def handle(batch):\n    record('j', batch)\n")
    app = unique("app")
    config = write_route_config(
        tmp_path / "config.edn",
        bootstrap_servers,
        {
            "j": {
                "handler-fn": "h/handle",
                "consumer-group-id": unique("json"),
                "origin-topic": topic,
                "value-deserializer-class-config": "json",
            }
        },
        app=app,
    )
    zig = Zig(config, tmp_path / "record.jsonl", "--log-format", "json")
    wait_until(lambda: zig.count() >= 2, 60, "the two JSON messages")
    dead, too_deep = read_topic(bootstrap_servers, f"{app}-j-dead-letter", 2)
    assert dead.value() == b"not json"
    assert dict(dead.headers())["zig-error"].startswith(b"value is not JSON: Expecting value")
    assert too_deep.value() == deep
    assert dict(too_deep.headers())["zig-error"] == b"value is not JSON zig can read: nested too deeply"
    produce(bootstrap_servers, topic, [(b"4", b'{"n": 4}')])
    wait_until(lambda: zig.count() >= 3, 60, "the route to keep consuming")
    assert zig.stop() == 0
    assert [r["value"] for r in zig.records()] == [{"n": 1}, {"n": 3}, {"n": 4}]
    lines = [json.loads(line) for line in zig.output().splitlines()]
    assigned = [line for line in lines if line["message"].startswith("route=j assigned")]
    assert assigned and assigned[0]["route"] == "j" and assigned[0]["level"] == "info"
    told = [line for line in lines if f" dead-lettered to {app}-j-dead-letter: " in line["message"]]
    assert sorted(
        (line["level"], line["route"], line["topic"], line["message"].split(": ", 1)[1]) for line in told
    ) == [
        ("warning", "j", topic, "value is not JSON zig can read: nested too deeply"),
        ("warning", "j", topic, "value is not JSON: Expecting value: line 1 column 1 (char 0)"),
    ]


def test_zig_survives_a_broker_outage(private_broker: tuple[str, subprocess.Popen[bytes]], tmp_path: Path):
    bootstrap, broker = private_broker
    topic = create_topic(bootstrap, unique("outage"), 2)
    delivered = produce(bootstrap, topic, ((str(i).encode(), b"v") for i in range(200)))
    handlers(tmp_path, "def handle(batch):\n    record('o', batch)\n")
    group = unique("outage")
    # Classic under ZIG_TEST_GROUP_PROTOCOL=consumer too: librdkafka times a session out itself only in the classic
    # protocol. With the consumer protocol a member keeps its partitions while the broker is away, and learns they
    # were lost once it answers again and fences the member.
    route = {"handler-fn": "h/handle", "consumer-group-id": group, "origin-topic": topic, "group-protocol": "classic"}
    config = write_route_config(tmp_path / "config.edn", bootstrap, {"o": route})
    zig = Zig(config, tmp_path / "record.jsonl")
    zig.wait_for_log("HTTP endpoints at ")
    health = "http://127.0.0.1:{}/health".format(re.search(r"HTTP endpoints at \S+:(\d+)", zig.output())[1])
    wait_until(lambda: zig.count() >= 200, 60, "the first 200 messages")
    wait_until(lambda: http_get(health)[0] == 200, 30, "/health to say ok")
    os.kill(broker.pid, signal.SIGSTOP)
    try:
        outage_ends = time.monotonic() + 20
        # The session times out (6 s here) without the coordinator: the workers lose their partitions.
        wait_until(lambda: http_get(health)[0] == 503, 20, "/health to say not ready during the outage")
        assert "lost its partitions and is rejoining its group" in http_get(health)[1]
        while time.monotonic() < outage_ends:  # the outage itself: zig must stay up through all of it
            assert zig.process.poll() is None, zig.output()[-3000:]
            time.sleep(0.5)
    finally:
        os.kill(broker.pid, signal.SIGCONT)
    wait_until(lambda: http_get(health) == (200, "ok\n"), 60, "/health to say ok once assigned again")
    delivered += produce(bootstrap, topic, ((str(i).encode(), b"v") for i in range(200, 400)))
    wait_until(
        lambda: distinct(zig.records()) >= set(delivered) or zig.process.poll() is not None,
        120,
        "every message after the outage",
    )
    assert zig.stop() == 0, zig.output()[-3000:]
    assert distinct(zig.records()) == set(delivered)
    assert committed(bootstrap, group, topic, 2) == next_offsets(delivered)


def test_a_missing_origin_topic_stops_zig_with_the_cause(bootstrap_servers: str, tmp_path: Path):
    handlers(tmp_path, "def handle(batch):\n    record('m', batch)\n")
    missing = unique("missing")
    config = write_route_config(
        tmp_path / "config.edn",
        bootstrap_servers,
        {"m": {"handler-fn": "h/handle", "consumer-group-id": unique("m"), "origin-topic": missing}},
    )
    zig = Zig(config, tmp_path / "record.jsonl", env={"ZIGGURAT_LOG_FORMAT": "json"})
    assert zig.wait(60) == 1
    *logged, final = zig.output().splitlines()
    assert final == f"origin topic {missing!r} does not exist on {bootstrap_servers} (create it, or set " + (
        "allow.auto.create.topics=true in kafka-properties)"
    )
    assert [json.loads(line)["message"].split(" at ")[0] for line in logged] == ["metrics", "HTTP endpoints"]


def test_the_sample_config_on_a_terminal_shows_the_live_table(bootstrap_servers: str, tmp_path: Path):
    topic = create_topic(bootstrap_servers, unique("orders"), 2)
    env = {
        **os.environ,
        "COLUMNS": "160",
        "ZIGGURAT_BATCH_ROUTES_ORDERS_BOOTSTRAP_SERVERS": bootstrap_servers,
        "ZIGGURAT_BATCH_ROUTES_ORDERS_ORIGIN_TOPIC": topic,
        # The earliest of this fresh topic: "latest" would race with the produce below (and tansu answers it wrongly);
        # test_latest_offsets shows "latest" on Apache Kafka.
        "ZIGGURAT_BATCH_ROUTES_ORDERS_AUTO_OFFSET_RESET_CONFIG": "earliest",
        # The sample's own session-timeout-ms-config is the classic protocol's: this test keeps classic under
        # ZIG_TEST_GROUP_PROTOCOL=consumer (the live table does not depend on the protocol).
        "ZIGGURAT_BATCH_ROUTES_ORDERS_SESSION_TIMEOUT_MS_CONFIG": "6000",
        "ZIGGURAT_BATCH_ROUTES_ORDERS_CONSUMER_GROUP_ID": unique("sample"),
        "ZIGGURAT_PROMETHEUS_PORT": "0",
        "ZIGGURAT_HTTP_SERVER_PORT": "0",
    }
    main, child = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "zig_cli", "run", str(SAMPLES / "config.edn"), "--route", "orders"],
        stdin=child,
        stdout=child,
        stderr=child,
        cwd=tmp_path,
        env=env,
    )
    os.close(child)
    screen = bytearray()

    def read_screen(until: Callable[[], bool], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not until() and time.monotonic() < deadline and process.poll() is None:
            ready, _, _ = select.select([main], [], [], 0.2)
            if ready:
                screen.extend(os.read(main, 65536))

    try:
        read_screen(lambda: b"assigned" in screen, 60)
        assert b"assigned" in screen, screen.decode("utf-8", "replace")[-2000:]
        produce(bootstrap_servers, topic, ((str(i).encode(), b'{"n": 1}') for i in range(50)))
        read_screen(lambda: re.search(rb"orders\W+50\W+50\W", bytes(screen.split(b"zig run")[-1])) is not None, 60)
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        os.close(main)
    last_table = screen.split(b"zig run")[-1].decode("utf-8", "replace")
    for column in ("consumed", "succeeded", "retried", "skipped", "dead", "batches", "handler"):
        assert column in last_table, column
    assert re.search(r"orders\W+50\W+50\W+0\W+0\W+0\W", last_table), last_table


def test_a_second_signal_exits_at_once(bootstrap_servers: str, tmp_path: Path):
    topic = create_topic(bootstrap_servers, unique("stuck"), 1)
    produce(bootstrap_servers, topic, [(b"k", b"v")])
    handlers(
        tmp_path, "import pathlib, time\ndef handle(batch):\n    pathlib.Path('started').touch()\n    time.sleep(120)\n"
    )
    config = write_route_config(
        tmp_path / "config.edn",
        bootstrap_servers,
        {
            "s": {
                "handler-fn": "h/handle",
                "consumer-group-id": unique("stuck"),
                "origin-topic": topic,
                "thread-count": 1,
            }
        },
    )
    zig = Zig(config, tmp_path / "record.jsonl")
    wait_until(lambda: (tmp_path / "started").exists(), 60, "the stuck batch to start")
    zig.process.send_signal(signal.SIGINT)
    zig.wait_for_log("finishing the batches in hand")
    sent = time.monotonic()
    assert zig.stop(signal.SIGINT, timeout=10) == 130
    assert time.monotonic() - sent < 5


def test_a_batch_slower_than_the_graceful_timeout_exits_1(bootstrap_servers: str, tmp_path: Path):
    topic = create_topic(bootstrap_servers, unique("grace"), 1)
    produce(bootstrap_servers, topic, [(b"k", b"v")])
    handlers(
        tmp_path, "import pathlib, time\ndef handle(batch):\n    pathlib.Path('started').touch()\n    time.sleep(120)\n"
    )
    group = unique("grace")
    config = write_route_config(
        tmp_path / "config.edn",
        bootstrap_servers,
        {"g": {"handler-fn": "h/handle", "consumer-group-id": group, "origin-topic": topic, "thread-count": 1}},
    )
    zig = Zig(config, tmp_path / "record.jsonl", "--graceful-timeout", "2")
    wait_until(lambda: (tmp_path / "started").exists(), 60, "the slow batch to start")
    assert zig.stop(signal.SIGTERM, timeout=20) == 1
    assert "workers did not stop within 2 s; exiting without committing the batches in hand" in zig.output()
    assert committed(bootstrap_servers, group, topic, 1) == {0: -1001}
