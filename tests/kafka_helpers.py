"""Helpers for tests against the real broker: topics, producing, reading back, and `zig run` as a subprocess."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from helpers import GROUP_PROTOCOL, HEARTBEAT_MS, SESSION_TIMEOUT_MS, wait_until

from zig_cli import kafka
from zig_cli.producer import produce_when_room


def http_get(url: str) -> tuple[int, str]:
    """GET a zig endpoint: (status, body), for error statuses too."""
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def create_topic(bootstrap: str, name: str, partitions: int = 1, exist_ok: bool = False) -> str:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    try:
        admin.create_topics([NewTopic(name, partitions)])[name].result(30)
    except KafkaException as error:
        if not (exist_ok and kafka.unwrap(error)[0].code() == KafkaError.TOPIC_ALREADY_EXISTS):
            raise
    return name


def produce(
    bootstrap: str,
    topic: str,
    messages: Iterable[tuple[bytes | None, bytes | None]],
    partition: int | None = None,
    headers: list[tuple[str, bytes]] | None = None,
    timestamp: int | None = None,
) -> list[tuple[int, int]]:
    """Produce (key, value) pairs; returns each one's (partition, offset) from its delivery report."""
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    delivered: list[tuple[int, int]] = []
    errors: list[str] = []

    def report(error: Any, message: Any) -> None:
        if error is not None:
            errors.append(str(error))
        else:
            delivered.append((message.partition(), message.offset()))

    for key, value in messages:
        extra: dict[str, Any] = {"partition": partition} if partition is not None else {}
        if timestamp is not None:
            extra["timestamp"] = timestamp
        refused = produce_when_room(
            producer.produce, producer.poll, topic, value, key, headers=headers, on_delivery=report, **extra
        )
        assert refused is None, refused
    assert producer.flush(60) == 0
    assert not errors, errors
    return delivered


def read_topic(bootstrap: str, topic: str, count: int, timeout: float = 60) -> list[Any]:
    """Read `count` messages from the start of every partition of `topic`, assigned directly (no group to join)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": unique("reader"), "enable.auto.commit": False})
    found: list[Any] = []
    try:
        partitions = consumer.list_topics(topic, 30).topics[topic].partitions
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
        deadline = time.monotonic() + timeout
        while len(found) < count and time.monotonic() < deadline:
            found += [m for m in consumer.consume(500, 0.5) if m.error() is None]
    finally:
        consumer.close()
    assert len(found) >= count, f"read {len(found)} of {count} messages from {topic}"
    return found


def committed(bootstrap: str, group: str, topic: str, partitions: int) -> dict[int, int]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        offsets = kafka.committed(consumer, [TopicPartition(topic, p) for p in range(partitions)], 30)
    finally:
        consumer.close()
    return {tp.partition: tp.offset for tp in offsets}


def next_offsets(delivered: Iterable[tuple[int, int]]) -> dict[int, int]:
    """What a group that handled everything should have committed: last offset + 1 per partition."""
    result: dict[int, int] = {}
    for partition, offset in delivered:
        result[partition] = max(result.get(partition, 0), offset + 1)
    return result


RECORDER = """
import json, os, threading, time
_lock = threading.Lock()
_out = open(os.environ["ZIG_TEST_RECORD"], "a", encoding="utf-8")

def record(route, batch):
    with _lock:
        for m in batch:
            _out.write(json.dumps({"route": route, "topic": m.topic, "partition": m.partition, "offset": m.offset,
                                   "key": m.key if not isinstance(m.key, bytes) else m.key.decode(),
                                   "value": m.value if not isinstance(m.value, bytes) else m.value.decode(),
                                   "headers": {k: (v or b"").decode() for k, v in m.headers},
                                   "retry_count": m.retry_count, "run": os.environ.get("ZIG_TEST_RUN", "1"),
                                   "at": time.time()}) + "\\n")
        _out.flush()
"""


RUNNING: list[Zig] = []  # every process started, so a failed test still ends them (tests/test_run.py)


class Zig:
    """`python -m zig_cli run CONFIG` in a subprocess, its handler records appended to a JSON-lines file."""

    def __init__(self, config: Path, record: Path, *args: str, env: dict[str, str] | None = None) -> None:
        RUNNING.append(self)
        self.record = record
        self.log = config.parent / f"zig-{uuid.uuid4().hex[:6]}.log"
        self._log_file = self.log.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "zig_cli", "run", str(config), "--stats-interval", "2", *args],
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            cwd=config.parent,
            env={**os.environ, "ZIG_TEST_RECORD": str(record), **(env or {})},
        )

    def records(self) -> list[dict[str, Any]]:
        return read_records(self.record)

    def count(self) -> int:
        """How many messages the handlers have recorded so far (cheap enough to poll)."""
        return self.record.read_bytes().count(b"\n") if self.record.exists() else 0

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def wait_for_log(self, text: str, timeout: float = 60, count: int = 1) -> None:
        wait_until(
            lambda: self.output().count(text) >= count or self.process.poll() is not None,
            timeout,
            f"{text!r} in zig's log",
        )
        assert self.output().count(text) >= count, f"zig exited {self.process.returncode}:\n{self.output()[-3000:]}"

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            return self.process.wait(timeout)
        finally:
            self.close()

    def wait(self, timeout: float) -> int:
        try:
            return self.process.wait(timeout)
        finally:
            self.close()

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(30)
        self._log_file.close()


def read_records(*paths: Path) -> list[dict[str, Any]]:
    """The handler records in these files; a last line cut short by kill -9 is not a record."""
    records: list[dict[str, Any]] = []
    for path in paths:
        if not path.exists():
            continue
        lines = path.read_text(encoding="utf-8").split("\n")
        records += [json.loads(line) for line in lines[:-1] if line.strip()]
    return records


def write_route_config(
    path: Path,
    bootstrap: str,
    routes: dict[str, dict[str, Any]],
    app: str = "zt",
    retry: dict[str, Any] | None = None,
    stream_routes: dict[str, dict[str, Any]] | None = None,
    root: dict[str, Any] | None = None,
) -> Path:
    """A flat EDN config whose routes start from the earliest offset and join their group quickly; `root` adds
    settings of the root (start-fn, ...)."""
    from zig_cli import loader

    quick = {
        "bootstrap-servers": bootstrap,
        "auto-offset-reset-config": "earliest",
        "session-timeout-ms-config": SESSION_TIMEOUT_MS,
        "commit-interval-ms": 500,
    }
    heartbeat = {"heartbeat.interval.ms": str(HEARTBEAT_MS)}

    def quicken(route: dict[str, Any]) -> dict[str, Any]:
        return {**quick, **route, "kafka-properties": {**heartbeat, **route.get("kafka-properties", {})}}

    # Any free ports, so that several zig processes can run at once.
    raw: dict[str, Any] = {"app-name": app, "prometheus": {"port": 0}, "http-server": {"port": 0}}
    if routes:
        raw["batch-routes"] = {
            name: with_group_protocol(quicken({"poll-timeout-ms-config": 200, **s})) for name, s in routes.items()
        }
    if stream_routes:
        raw["stream-routes"] = {name: with_group_protocol(quicken(s)) for name, s in stream_routes.items()}
    # Retries on unless a test says otherwise: most broker tests follow a message through the retry topic.
    raw["retry"] = {"enabled": True, **(retry or {})}
    raw.update(root or {})
    path.write_text(loader.dumps(raw, "edn"), encoding="utf-8")
    return path


def with_group_protocol(route: dict[str, Any], protocol: str = GROUP_PROTOCOL) -> dict[str, Any]:
    """A route as the test run's group protocol has it (ZIG_TEST_GROUP_PROTOCOL): with `consumer`, without the
    settings the broker decides then. A route that names its protocol keeps it."""
    protocol = route.get("group-protocol", protocol)
    if protocol == "classic":
        return route
    adapted = {k: v for k, v in route.items() if k != "session-timeout-ms-config"} | {"group-protocol": protocol}
    raw = route.get("kafka-properties")
    if isinstance(raw, dict):
        adapted["kafka-properties"] = {k: v for k, v in raw.items() if k not in kafka.BROKER_SIDE}
    return adapted
