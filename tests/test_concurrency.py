"""Key-ordered concurrency against the real broker: at concurrency 64 one consumer thread runs many handler calls at
once (sync or async, stream or batch route), yet no two messages of one key overlap or run out of order."""

from __future__ import annotations

from pathlib import Path

import pytest
from call_log import most_at_once, order_violations
from helpers import FIXTURES, wait_until
from kafka_helpers import Zig, create_topic, produce, unique, write_route_config

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
