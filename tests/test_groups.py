"""Consumer groups on Apache Kafka: the consumer protocol's incremental assignment (KIP-848) and static membership
(KIP-345), each seen through zig's own log of what it was assigned and what was revoked."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource, ResourceType
from helpers import GROUP_PROTOCOL, wait_until
from kafka_helpers import (
    RECORDER,
    Zig,
    committed,
    create_topic,
    http_get,
    next_offsets,
    produce,
    read_records,
    unique,
    write_route_config,
)

pytestmark = pytest.mark.apache_kafka

PARTITIONS = 4
# A static member's partitions wait this long for it: enough for a zig to stop and start again on a busy machine.
STATIC_SESSION_MS = 10_000


def changes(zig: Zig, topic: str) -> list[tuple[str, set[int]]]:
    """What zig logged of `topic`'s partitions, in order: ("assigned" | "revoked" | "lost", partitions)."""
    found = re.findall(r"route=r (assigned|revoked|lost) ([^;\n]*)", zig.output())
    return [(what, {int(p) for p in re.findall(rf"{re.escape(topic)}\[(\d+)\]", listed)}) for what, listed in found]


def held(zig: Zig, topic: str) -> set[int]:
    """The partitions of `topic` zig holds now, by its log."""
    holding: set[int] = set()
    for what, partitions in changes(zig, topic):
        holding = holding | partitions if what == "assigned" else holding - partitions
    return holding


def route(topic: str, group: str, **more: Any) -> dict[str, dict[str, Any]]:
    handler = {"handler-fn": "h/handle", "consumer-group-id": group, "origin-topic": topic, "max-poll-records": 20}
    return {"r": {**handler, "thread-count": 1, **more}}


def produce_round(bootstrap: str, topic: str, run: int) -> list[tuple[int, int]]:
    """25 messages to each partition."""
    delivered = []
    for partition in range(PARTITIONS):
        delivered += produce(bootstrap, topic, ((f"{run}-{i}".encode(), b"v") for i in range(25)), partition)
    return delivered


def split(one: set[int], other: set[int]) -> bool:
    """Two members hold every partition between them, each some."""
    return bool(one and other) and not one & other and one | other == set(range(PARTITIONS))


def handled(*zigs: Zig) -> set[tuple[int, int]]:
    return {(r["partition"], r["offset"]) for r in read_records(*(z.record for z in zigs))}


def until(zigs: tuple[Zig, ...], predicate: Callable[[], object], message: str) -> None:
    """Wait for `predicate`, failing at once with the logs when a zig has exited."""
    wait_until(lambda: predicate() or any(z.process.poll() is not None for z in zigs), 60, message)
    assert predicate(), "\n".join(z.output()[-3000:] for z in zigs)


def health(zig: Zig) -> int:
    port = int(re.findall(r"HTTP endpoints at http://[\d.]+:(\d+)", zig.output())[0])
    return http_get(f"http://127.0.0.1:{port}/health")[0]


def test_a_member_joining_under_the_consumer_protocol_takes_only_the_partitions_that_move(
    bootstrap_servers: str, tmp_path: Path
):
    topic = create_topic(bootstrap_servers, unique("incremental"), PARTITIONS)
    (tmp_path / "h.py").write_text(RECORDER + "\ndef handle(batch):\n    record('r', batch)\n", encoding="utf-8")
    group = unique("incremental")
    routes = route(topic, group, **{"group-protocol": "consumer"})
    config = write_route_config(tmp_path / "config.edn", bootstrap_servers, routes, retry={"enabled": False})
    delivered = produce_round(bootstrap_servers, topic, 1)
    first = Zig(config, tmp_path / "first.jsonl")
    until((first,), lambda: held(first, topic) == set(range(PARTITIONS)), "the first member holding every partition")
    until((first,), lambda: handled(first) >= set(delivered), "the first round handled")
    second = Zig(config, tmp_path / "second.jsonl")
    until((first, second), lambda: split(held(first, topic), held(second, topic)), "the partitions split")
    delivered += produce_round(bootstrap_servers, topic, 2)
    until((first, second), lambda: handled(first, second) >= set(delivered), "the second round handled by both")
    assert health(first) == 200, "a member left with partitions is ready"
    moved = held(second, topic)
    assert first.stop() == 0 and second.stop() == 0
    taken = [(what, partitions) for what, partitions in changes(first, topic) if what != "assigned"]
    # One revoke of the moved partitions while the second member joined, and at the stop one of the rest.
    assert taken == [("revoked", moved), ("revoked", set(range(PARTITIONS)) - moved)], taken
    assert 0 < len(moved) < PARTITIONS
    assert handled(first, second) == set(delivered)
    assert committed(bootstrap_servers, group, topic, PARTITIONS) == next_offsets(delivered)


def test_a_static_member_restarted_within_its_session_gets_its_partitions_back_without_a_rebalance(
    bootstrap_servers: str, tmp_path: Path
):
    topic = create_topic(bootstrap_servers, unique("static"), PARTITIONS)
    (tmp_path / "h.py").write_text(RECORDER + "\ndef handle(batch):\n    record('r', batch)\n", encoding="utf-8")
    group = unique("static")
    if GROUP_PROTOCOL == "consumer":  # the broker keeps the session of a consumer-protocol group
        _set_group_session(bootstrap_servers, group, STATIC_SESSION_MS)
    static = {"group-instance-id": "zt-$ZIG_MEMBER-{thread}", "session-timeout-ms-config": STATIC_SESSION_MS}
    config = write_route_config(
        tmp_path / "config.edn", bootstrap_servers, route(topic, group, **static), retry={"enabled": False}
    )
    delivered = produce_round(bootstrap_servers, topic, 1)
    first = Zig(config, tmp_path / "a.jsonl", env={"ZIG_MEMBER": "a"})
    until((first,), lambda: held(first, topic) == set(range(PARTITIONS)), "member a holding every partition")
    other = Zig(config, tmp_path / "b.jsonl", env={"ZIG_MEMBER": "b"})
    until((first, other), lambda: split(held(first, topic), held(other, topic)), "the partitions split")
    until((first, other), lambda: handled(first, other) >= set(delivered), "the first round handled")
    settled = changes(other, topic)
    before = held(first, topic)

    assert first.stop() == 0  # a static member does not leave its group: its partitions wait for it
    delivered += produce_round(bootstrap_servers, topic, 2)
    again = Zig(config, tmp_path / "a-again.jsonl", env={"ZIG_MEMBER": "a"})
    until((again, other), lambda: held(again, topic), "member a back")
    until((again, other), lambda: handled(first, other, again) >= set(delivered), "the second round handled")
    assert held(again, topic) == before, "member a got its own partitions back"
    assert changes(other, topic) == settled, "member b was neither revoked nor assigned anything"
    assert again.stop() == 0 and other.stop() == 0
    records = read_records(first.record, other.record, again.record)
    assert {(r["partition"], r["offset"]) for r in records} == set(delivered)
    assert committed(bootstrap_servers, group, topic, PARTITIONS) == next_offsets(delivered)


def _set_group_session(bootstrap: str, group: str, session_ms: int) -> None:
    """A consumer-protocol group's own session timeout (KIP-848 group configs), within the broker's bounds."""
    entry = ConfigEntry("consumer.session.timeout.ms", str(session_ms), incremental_operation=AlterConfigOpType.SET)
    resource = ConfigResource(ResourceType.GROUP, group, incremental_configs=[entry])
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.incremental_alter_configs([resource]).values():
        future.result(30)
