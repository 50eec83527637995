"""Stream routes against the real broker: one message at a time, every outcome, order, age limit, restarts."""

from __future__ import annotations

import re
import signal
import time
from pathlib import Path

import pytest
from helpers import REJOIN_THREADS, wait_until
from kafka_helpers import (
    RECORDER,
    Zig,
    committed,
    create_topic,
    next_offsets,
    produce,
    read_records,
    read_topic,
    unique,
    write_route_config,
)

pytestmark = pytest.mark.kafka

OUTCOMES = """
class Hostile:
    # Every way a returned object can fight being read: comparisons and repr raise.
    def __eq__(self, other):
        raise RuntimeError('no comparing me')
    __ne__ = __eq__
    __hash__ = None
    def __repr__(self):
        raise RuntimeError('no showing me')

class Ambiguous:
    # A numpy array's way: `!=` answers an object whose truth value raises.
    def __ne__(self, other):
        return self
    def __bool__(self):
        raise ValueError('truth value is ambiguous')

def handle(message):
    record('s', [message])
    kind = message.key.split('-')[0]
    first = message.retry_count == 0
    if kind == 'retry':
        return 'retry' if first else 'success'
    if kind == 'skip':
        return 'skip'
    if kind == 'dead':
        return 'dead-letter'
    if kind == 'boom' and first:
        raise RuntimeError('boom')
    if kind == 'bad' and first:
        return 42
    if kind == 'hostile' and first:
        return Hostile()
    if kind == 'array' and first:
        return Ambiguous()
    return ':success' if kind == 'bad' else 'success'
"""


def test_each_stream_outcome_does_what_it_says(bootstrap_servers: str, tmp_path: Path):
    topic = create_topic(bootstrap_servers, unique("events"), 1)
    app = unique("app")
    (tmp_path / "h.py").write_text(RECORDER + OUTCOMES)
    day_ago = int(time.time() * 1000) - 86_400_000
    produce(bootstrap_servers, topic, [(b"old-1", b"x"), (b"old-2", b"x")], timestamp=day_ago)
    keys = [f"ok-{i}" for i in range(100)] + ["retry-1", "skip-1", "dead-1", "boom-1", "bad-1", "hostile-1", "array-1"]
    produce(bootstrap_servers, topic, ((k.encode(), k.encode()) for k in keys))
    config = write_route_config(
        tmp_path / "config.edn",
        bootstrap_servers,
        {},
        app=app,
        retry={"backoff-ms": 200},
        stream_routes={
            "s": {
                "handler-fn": "h/handle",
                "application-id": unique("s"),
                "origin-topic": topic,
                "key-deserializer-class-config": "string",
                "oldest-processed-message-in-s": 3600,
            }
        },
    )
    zig = Zig(config, tmp_path / "record.jsonl")
    wait_until(lambda: zig.count() >= len(keys) + 5, 60, "every message and the five retries")
    [dead] = read_topic(bootstrap_servers, f"{app}-s-dead-letter", 1)
    assert zig.stop() == 0
    records = zig.records()
    firsts = [r for r in records if r["retry_count"] == 0]
    assert [r["key"] for r in firsts] == keys, "old messages never reach the handler; order within the partition holds"
    assert [r["offset"] for r in firsts] == sorted(r["offset"] for r in firsts)
    retried = sorted(r["key"] for r in records if r["retry_count"] == 1)
    assert retried == ["array-1", "bad-1", "boom-1", "hostile-1", "retry-1"]
    assert dead.key() == b"dead-1"
    assert dict(dead.headers())["zig-error"] == b"the handler asked for a dead letter"
    output = zig.output()
    assert "route=s " + topic + "[0]@" in output and "handler raised; the message failed (retried" in output
    assert "handler returned 42, not success, retry, skip or dead-letter; the message failed" in output
    assert "handler returned <a Hostile whose repr raised RuntimeError>, not success" in output
    assert "handler returned <" in output and "Ambiguous object at 0x" in output
    final = [line for line in output.splitlines() if "route=s consumed=" in line][-1]
    assert re.search(
        r"consumed=114 succeeded=105 retried=5 skipped=3 dead_lettered=1 batches=\d+ handler_errors=4 "
        r"too_old=2",
        final,
    ), final


def test_kill_9_and_restart_of_a_stream_route_loses_nothing(bootstrap_servers: str, tmp_path: Path):
    topic = create_topic(bootstrap_servers, unique("stream-kill"), 2)
    delivered = produce(bootstrap_servers, topic, ((str(i).encode(), b"v") for i in range(1500)))
    (tmp_path / "h.py").write_text(
        RECORDER + "import time\ndef handle(m):\n    time.sleep(0.002)\n    record('k', [m])\n    return 'success'\n"
    )
    group = unique("stream-kill")
    config = write_route_config(
        tmp_path / "config.edn",
        bootstrap_servers,
        {},
        stream_routes={
            "k": {
                "handler-fn": "h/handle",
                "application-id": group,
                "origin-topic": topic,
                "stream-threads-count": REJOIN_THREADS,
            }
        },
    )
    first = Zig(config, tmp_path / "record-1.jsonl")
    wait_until(lambda: first.count() >= 300, 60, "300 messages before the kill")
    first.stop(signal.SIGKILL)
    second = Zig(config, tmp_path / "record-2.jsonl", env={"ZIG_TEST_RUN": "2"})
    both = (tmp_path / "record-1.jsonl", tmp_path / "record-2.jsonl")
    seen = lambda: {(r["partition"], r["offset"]) for r in read_records(*both)}  # noqa: E731
    wait_until(lambda: seen() >= set(delivered) or second.process.poll() is not None, 120, "every message")
    assert second.stop() == 0
    assert seen() == set(delivered)
    assert committed(bootstrap_servers, group, topic, 2) == next_offsets(delivered)
