"""Against the real broker: a handler call longer than max-poll-interval-ms costs no rebalance, because the consumer
polls on while handlers run; and handler-timeout-ms turns /health to 503 and back."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from helpers import ON_TANSU, wait_until
from kafka_helpers import RECORDER, Zig, create_topic, http_get, produce, unique, write_route_config

pytestmark = pytest.mark.kafka

# librdkafka's floor for max.poll.interval.ms is the session timeout. tansu grants a 2 s session; Apache Kafka
# refuses one under its group.min.session.timeout.ms, 6 s by default.
INTERVAL_MS = 2000 if ON_TANSU else 6000

SLOW = """
import os, time

def handle(message):
    if message.value == b'slow' and message.retry_count == 0:
        time.sleep(float(os.environ['ZIG_TEST_SLEEP']))
    record('s', [message])
    return 'success'

def release(message):
    while not os.path.exists(os.environ['ZIG_TEST_RELEASE']):
        time.sleep(0.01)
    record('s', [message])
    return 'success'
"""


@pytest.mark.parametrize("concurrency", [1, 8])
def test_a_handler_call_three_times_max_poll_interval_costs_no_rebalance(
    bootstrap_servers: str, tmp_path: Path, concurrency: int
):
    topic = create_topic(bootstrap_servers, unique("slow"), 1)
    produce(bootstrap_servers, topic, [(b"a", b"slow")] + [(f"k{i}".encode(), b"fast") for i in range(20)])
    (tmp_path / "h.py").write_text(RECORDER + SLOW)
    interval_ms = INTERVAL_MS
    config = write_route_config(
        tmp_path / "config.edn",
        bootstrap_servers,
        {},
        stream_routes={
            "s": {
                "handler-fn": "h/handle",
                "application-id": unique("s"),
                "origin-topic": topic,
                "session-timeout-ms-config": interval_ms,
                "kafka-properties": {
                    "max.poll.interval.ms": str(interval_ms),
                    "heartbeat.interval.ms": str(interval_ms // 5),
                },
                **({"concurrency": concurrency} if concurrency > 1 else {}),  # 1, the default, as before
            }
        },
    )
    zig = Zig(config, tmp_path / "record.jsonl", env={"ZIG_TEST_SLEEP": str(3 * interval_ms / 1000)})
    wait_until(lambda: zig.count() >= 21, 30 + 4 * interval_ms / 1000, "every message, the slow one included")
    assert zig.stop() == 0
    offsets = sorted(r["offset"] for r in zig.records())
    assert offsets == list(range(21)), "each message handled exactly once"
    running = zig.output().split("SIGTERM")[0]  # closing the consumer revokes its partitions, as it should
    assert len(re.findall(r"route=s assigned", running)) == 2, running[-3000:]  # the origin and the retry topic
    assert "revoked" not in running and "lost" not in running and "MAXPOLL" not in running, running[-3000:]


def test_handler_timeout_ms_turns_health_to_503_naming_the_route_until_the_call_returns(
    bootstrap_servers: str, tmp_path: Path
):
    topic = create_topic(bootstrap_servers, unique("late"), 1)
    produce(bootstrap_servers, topic, [(b"a", b"v")])
    (tmp_path / "h.py").write_text(RECORDER + SLOW)
    release = tmp_path / "release"
    config = write_route_config(
        tmp_path / "config.edn",
        bootstrap_servers,
        {},
        stream_routes={
            "late": {
                "handler-fn": "h/release",
                "application-id": unique("late"),
                "origin-topic": topic,
                "handler-timeout-ms": 200,
            }
        },
    )
    zig = Zig(config, tmp_path / "record.jsonl", env={"ZIG_TEST_RELEASE": str(release)})
    zig.wait_for_log("handler call running for over 0.2 s (handler-timeout-ms)")
    port = int(re.findall(r"HTTP endpoints at http://[\d.]+:(\d+)", zig.output())[0])
    status, body = http_get(f"http://127.0.0.1:{port}/health")
    assert status == 503
    assert "route 'late': a worker has a handler call running for" in body and f"{topic}[0]@0" in body
    assert "past handler-timeout-ms (200)" in body
    release.touch()
    wait_until(lambda: http_get(f"http://127.0.0.1:{port}/health")[0] == 200, 10, "/health back to 200")
    assert zig.count() == 1
    assert zig.stop() == 0
