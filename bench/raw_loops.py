"""The hand-written confluent-kafka loops zig is measured against, each in two columns.

- like for like: the librdkafka settings of zig's own consumers for the same route (`kafka.consumer_properties`,
  so the two cannot drift), the same thread count, batch size and poll timeout, and zig's way of committing
  (offsets stored after the handler, committed by librdkafka every commit interval). A ratio against it is zig's
  own cost.
- librdkafka's defaults: the same loop with every performance setting left at librdkafka's default; what a user
  who did not tune the client gets, and so what zig's defaults give them.

Both loops store offsets only after the handler, as at-least-once needs, and commit every 100 ms (the bench's
commit interval, so the end of a run is seen as soon as it happens). They are as lean as zig's own hot path: error
events and each partition's last offset are found in C for the usual batch of one partition (`usable`,
`next_offsets`), as zig finds them, so the ratio holds no Python work the raw loop would do and zig does not.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from typing import Any, Literal

from confluent_kafka import Consumer, Message, TopicPartition

from bench import handlers
from zig_cli import kafka, runner
from zig_cli.config import Config

Settings = Literal["zig", "defaults"]
COMMIT_INTERVAL_MS = 100


def consumer_settings(cfg: Config, thread: int, group: str, settings: Settings) -> dict[str, Any]:
    """A raw consumer's librdkafka config: zig's for the route's consumer `thread`, or librdkafka's defaults with
    only what the loop and the measurement need."""
    route = cfg.routes[0]
    own = kafka.consumer_properties(cfg, route, thread)
    if settings == "zig":
        return {**own, "group.id": group}
    return {
        "bootstrap.servers": own["bootstrap.servers"],
        "group.id": group,
        "auto.offset.reset": "earliest",
        "session.timeout.ms": own["session.timeout.ms"],
        "enable.auto.offset.store": False,
        "auto.commit.interval.ms": COMMIT_INTERVAL_MS,
    }


def usable(messages: list[Any]) -> list[Any]:
    """The consumed messages without error events, looked at in C (a KafkaError is always true)."""
    return [m for m in messages if m.error() is None] if any(map(Message.error, messages)) else messages


def next_offsets(messages: list[Any]) -> list[TopicPartition]:
    """Each partition's next offset after `messages` (in order): for a batch of one partition, its last message's,
    every message's partition looked at in C; else the last offset of each partition."""
    first, last = messages[0], messages[-1]
    if first.topic() == last.topic() and first.partition() == last.partition():
        partitions = list(map(Message.partition, messages))
        if partitions.count(last.partition()) == len(partitions):
            return [TopicPartition(last.topic(), last.partition(), last.offset() + 1)]
    lasts = {(m.topic(), m.partition()): m.offset() for m in messages}
    return [TopicPartition(t, p, o + 1) for (t, p), o in lasts.items()]


def new_group() -> str:
    return f"raw-{uuid.uuid4().hex[:8]}"


def batch_loop(
    cfg: Config, group: str, thread: int, settings: Settings, stop: threading.Event, on_assign: Callable[..., None]
) -> None:
    """consume(max-poll-records, poll timeout), the no-op handler, then store each partition's next offset."""
    route = cfg.routes[0]
    size, timeout = route["max-poll-records"], route["poll-timeout-ms-config"] / 1000
    consumer = Consumer(consumer_settings(cfg, thread, group, settings))
    consumer.subscribe([route["origin-topic"]], on_assign=on_assign)
    handler = handlers.noop_batch
    try:
        while not stop.is_set():
            good = usable(consumer.consume(size, timeout))
            if not good:
                continue
            handler(good)
            consumer.store_offsets(offsets=next_offsets(good))
    finally:
        consumer.close()


def stream_loop(
    cfg: Config, group: str, settings: Settings, until: Callable[[], bool], on_assign: Callable[..., None]
) -> Consumer:
    """consume() as zig's stream route does (runner.STREAM_FETCH messages at most, waiting
    runner.STREAM_POLL_S), the no-op
    handler once per message in order, then store each partition's next offset; returns the consumer, still open
    (closed by the caller once the commits are seen).

    A loop that poll()s one message at a time is the other way to write it, and slower than this one by the
    per-call overhead of poll(): the like-for-like loop takes the messages as zig does."""
    route = cfg.routes[0]
    consumer = Consumer(consumer_settings(cfg, 0, group, settings))
    consumer.subscribe([route["origin-topic"]], on_assign=on_assign)
    handler = handlers.noop_stream
    while not until():
        good = usable(consumer.consume(runner.STREAM_FETCH, runner.STREAM_POLL_S))
        if not good:
            continue
        for message in good:
            handler(message)
        consumer.store_offsets(offsets=next_offsets(good))
    return consumer
