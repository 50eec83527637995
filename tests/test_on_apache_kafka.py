"""What tansu cannot show, on Apache Kafka itself: "latest" offsets (tansu answers them wrongly, so the other broker
tests start from the earliest offset of their fresh topics) and a broker that checks the session timeout."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import wait_until
from kafka_helpers import RECORDER, Zig, create_topic, produce, unique, write_route_config

pytestmark = pytest.mark.apache_kafka

PARTITIONS = 2


def test_a_new_group_reading_latest_skips_what_was_there_and_handles_everything_after(
    bootstrap_servers: str, tmp_path: Path
):
    topic = create_topic(bootstrap_servers, unique("latest"), PARTITIONS)
    old = produce(bootstrap_servers, topic, ((str(i).encode(), b"old") for i in range(40)))
    assert {partition for partition, _ in old} == set(range(PARTITIONS))
    (tmp_path / "h.py").write_text(RECORDER + "\ndef handle(batch):\n    record('l', batch)\n", encoding="utf-8")
    route = {
        "handler-fn": "h/handle",
        "consumer-group-id": unique("latest"),
        "origin-topic": topic,
        "auto-offset-reset-config": "latest",
    }
    zig = Zig(write_route_config(tmp_path / "config.edn", bootstrap_servers, {"l": route}), tmp_path / "rec.jsonl")
    zig.wait_for_log("assigned")

    # The end offsets are looked up after the assignment: a probe per partition, sent until one per partition is
    # handled, shows the lookup is done; what was sent before it may rightly be skipped.
    def probed() -> bool:
        for partition in range(PARTITIONS):
            produce(bootstrap_servers, topic, [(b"probe", b"probe")], partition=partition)
        return {r["partition"] for r in zig.records() if r["value"] == "probe"} == set(range(PARTITIONS))

    wait_until(probed, 60, "a probe handled on every partition")
    new = produce(bootstrap_servers, topic, ((str(i).encode(), b"new") for i in range(60)))
    handled = lambda: {(r["partition"], r["offset"]) for r in zig.records()}  # noqa: E731
    wait_until(lambda: handled() >= set(new), 60, "every message sent after the probes")
    assert zig.stop() == 0, zig.output()[-3000:]
    assert not handled() & set(old), "a new group reading latest handled messages from before it joined"
    assert {r["value"] for r in zig.records()} == {"probe", "new"}


def test_a_session_timeout_under_the_brokers_minimum_stops_zig_naming_the_setting(
    bootstrap_servers: str, tmp_path: Path
):
    topic = create_topic(bootstrap_servers, unique("session"), 1)
    (tmp_path / "h.py").write_text(RECORDER + "\ndef handle(batch):\n    record('s', batch)\n", encoding="utf-8")
    route = {
        "handler-fn": "h/handle",
        "consumer-group-id": unique("session"),
        "origin-topic": topic,
        "session-timeout-ms-config": 3000,  # Apache Kafka's group.min.session.timeout.ms is 6000
        "group-protocol": "classic",  # the consumer protocol leaves the session timeout to the broker
    }
    zig = Zig(write_route_config(tmp_path / "config.edn", bootstrap_servers, {"s": route}), tmp_path / "rec.jsonl")
    assert zig.wait(60) == 1
    assert (
        "route 's': JoinGroup failed: Broker: Invalid session timeout: the broker refuses the route's "
        + ("session-timeout-ms-config")
        in zig.output().splitlines()[-1]
    )
