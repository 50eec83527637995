"""Key-ordered concurrency against the real broker: at concurrency 64 one consumer thread runs many handler calls at
once (sync or async, stream or batch route), yet no two messages of one key overlap or run out of order."""

from __future__ import annotations

import re
import signal
from pathlib import Path

import pytest
from call_log import most_at_once, order_violations
from helpers import FIXTURES, wait_until
from kafka_helpers import Zig, committed, create_topic, http_get, produce, unique, write_route_config

pytestmark = pytest.mark.kafka

PARTITIONS = 4
KEYS = 200
PER_KEY = 12  # 2,400 messages: at 5 ms a call, 12 s one at a time, well under a second 64 at a time
CONCURRENCY = 64


def produce_keyed(bootstrap: str, topic: str) -> set[tuple[int, int]]:
    """PER_KEY messages for each of KEYS keys, valued 0, 1, 2... per key, keys interleaved; every key is sent to one
    partition of its own choosing (key number modulo PARTITIONS). Returns each message's (partition, offset)."""
    delivered: set[tuple[int, int]] = set()
    for partition in range(PARTITIONS):
        keys = [f"k{n}" for n in range(partition, KEYS, PARTITIONS)]
        messages = ((key.encode(), str(seq).encode()) for seq in range(PER_KEY) for key in keys)
        delivered |= set(produce(bootstrap, topic, messages, partition=partition))
    return delivered


@pytest.mark.parametrize(
    ("kind", "handler"),
    [("stream", "on-message"), ("stream", "on-message-async"), ("batch", "on-batch"), ("batch", "on-batch-async")],
)
def test_key_ordering_at_concurrency_64_overlaps_keys_but_never_one_key(
    bootstrap_servers: str, tmp_path: Path, kind: str, handler: str
):
    topic = create_topic(bootstrap_servers, unique(f"concurrency-{handler}"), PARTITIONS)
    delivered = produce_keyed(bootstrap_servers, topic)
    route = {
        "handler-fn": f"zig_fixture_concurrency/{handler}",
        "origin-topic": topic,
        "concurrency": CONCURRENCY,
        "ordering": "key",
    }
    if kind == "stream":
        routes, stream_routes = {}, {"c": {**route, "application-id": unique("c"), "stream-threads-count": 1}}
    else:
        routes, stream_routes = {"c": {**route, "consumer-group-id": unique("c"), "thread-count": 1}}, None
    config = write_route_config(tmp_path / "config.edn", bootstrap_servers, routes, stream_routes=stream_routes)
    zig = Zig(config, tmp_path / "calls.jsonl", env={"PYTHONPATH": str(FIXTURES)})
    handled = lambda: {(r["partition"], r["offset"]) for r in zig.records()}  # noqa: E731
    wait_until(lambda: handled() >= delivered or zig.process.poll() is not None, 60, "every message handled")
    assert zig.process.poll() is None, f"zig exited {zig.process.returncode}:\n{zig.output()[-3000:]}"
    assert zig.stop() == 0, zig.output()[-3000:]

    records = zig.records()
    partitions_of_key: dict[str, set[int]] = {}
    for record in records:
        partitions_of_key.setdefault(record["key"], set()).add(record["partition"])
    assert all(len(p) == 1 for p in partitions_of_key.values()), "each key was produced to one partition"
    assert order_violations(records) == []
    at_once = most_at_once(records)
    assert 1 < at_once <= CONCURRENCY, f"{at_once} handler calls ran at once on one consumer thread"


def stream_config(tmp_path: Path, bootstrap: str, topic: str, group: str, **settings: object) -> Path:
    route = {
        "handler-fn": "zig_fixture_concurrency/on-message",
        "origin-topic": topic,
        "application-id": group,
        "stream-threads-count": 1,
        "concurrency": CONCURRENCY,
        "ordering": "key",
        **settings,
    }
    return write_route_config(tmp_path / "config.edn", bootstrap, {}, stream_routes={"c": route})


def handled_in(zig: Zig) -> set[tuple[int, int]]:
    return {(r["partition"], r["offset"]) for r in zig.records()}


def test_kill_9_at_concurrency_64_then_a_restart_handles_everything_and_only_uncommitted_messages_again(
    bootstrap_servers: str, tmp_path: Path
):
    topic = create_topic(bootstrap_servers, unique("concurrency-kill"), PARTITIONS)
    delivered = produce_keyed(bootstrap_servers, topic)
    group = unique("c")
    config = stream_config(tmp_path, bootstrap_servers, topic, group)
    env = {"PYTHONPATH": str(FIXTURES), "ZIG_TEST_PAUSE_S": "0.05"}  # 64 at a time: about 1,300 a second
    first = Zig(config, tmp_path / "first.jsonl", env=env)
    wait_until(lambda: len(handled_in(first)) >= 600, 60, "a quarter of the messages handled")
    first.stop(signal.SIGKILL)
    at_kill = committed(bootstrap_servers, group, topic, PARTITIONS)
    before = handled_in(first)
    assert before < delivered, "killed before the end"

    second = Zig(config, tmp_path / "second.jsonl", env=env | {"ZIG_TEST_PAUSE_S": "0.005"})
    wait_until(lambda: before | handled_in(second) >= delivered, 60, "every message handled across both runs")
    assert second.stop() == 0, second.output()[-3000:]
    again = handled_in(second)
    assert all(offset >= max(at_kill[partition], 0) for partition, offset in again), (
        "the restart handled only messages at or above the committed offsets"
    )
    assert order_violations(second.records()) == []


def test_a_second_process_joining_mid_run_takes_partitions_after_their_calls_finish(
    bootstrap_servers: str, tmp_path: Path
):
    topic = create_topic(bootstrap_servers, unique("concurrency-join"), PARTITIONS)
    delivered = produce_keyed(bootstrap_servers, topic)
    config = stream_config(tmp_path, bootstrap_servers, topic, unique("c"))
    env = {"PYTHONPATH": str(FIXTURES), "ZIG_TEST_PAUSE_S": "0.05"}
    first = Zig(config, tmp_path / "first.jsonl", env=env)
    wait_until(lambda: len(handled_in(first)) >= 300, 60, "messages flowing through the first process")
    second = Zig(config, tmp_path / "second.jsonl", env=env)
    wait_until(lambda: handled_in(first) | handled_in(second) >= delivered, 90, "every message handled")
    assert second.stop() == 0, second.output()[-3000:]
    assert first.stop() == 0, first.output()[-3000:]
    assert "revoked" in first.output(), "the second process took partitions from the first"
    # One clock for both processes: a key's calls in the second start only after the first's calls of it ended.
    assert order_violations(first.records() + second.records()) == []


def test_sigterm_with_64_calls_in_hand_lets_them_finish_commits_what_is_contiguous_and_exits_0(
    bootstrap_servers: str, tmp_path: Path
):
    topic = create_topic(bootstrap_servers, unique("concurrency-stop"), PARTITIONS)
    produce_keyed(bootstrap_servers, topic)
    group = unique("c")
    config = stream_config(tmp_path, bootstrap_servers, topic, group)
    zig = Zig(config, tmp_path / "calls.jsonl", env={"PYTHONPATH": str(FIXTURES), "ZIG_TEST_PAUSE_S": "1.5"})
    zig.wait_for_log("route=c assigned")
    port = int(re.findall(r"metrics at http://[\d.]+:(\d+)", zig.output())[0])
    in_hand = re.compile(r"^zig_handler_in_flight_messages\{[^}]*\} (\S+)$", re.M)
    wait_until(
        lambda: [float(v) for v in in_hand.findall(http_get(f"http://127.0.0.1:{port}/metrics")[1])] == [64.0],
        30,
        "64 messages in the handler",
    )
    assert zig.stop() == 0, zig.output()[-3000:]
    records = zig.records()
    assert len(records) >= CONCURRENCY, "the calls in hand finished"
    handled: dict[int, set[int]] = {}
    for record in records:
        handled.setdefault(record["partition"], set()).add(record["offset"])
    contiguous = {}
    for partition in range(PARTITIONS):
        offset = 0
        while offset in handled.get(partition, set()):
            offset += 1
        contiguous[partition] = offset
    got = {p: max(o, 0) for p, o in committed(bootstrap_servers, group, topic, PARTITIONS).items()}
    assert got == contiguous, "each partition committed up to its first message not handled"
