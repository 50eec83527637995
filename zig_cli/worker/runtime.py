"""What every worker of one route shares: its handler, deserializers, topics, producer, counters and clock."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from zig_cli import kafka
from zig_cli.codecs import Decoder
from zig_cli.config import Retry
from zig_cli.metrics import RouteMetrics
from zig_cli.producer import ProducerLike
from zig_cli.stats import RouteStats
from zig_cli.worker.notices import Notices

# Milliseconds since the epoch: injected, so that due times and age limits can be tested without waiting.
Clock = Callable[[], int]


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass(frozen=True)
class RouteRuntime:
    """One route as its workers see it; the runner builds it once per route."""

    name: str
    handler: Callable[[Any], Any]  # list[Message] -> batch result, or Message -> Outcome for a stream route
    subscription: str  # a topic name, or a librdkafka regex starting with ^
    plain_topic: bool
    max_records: int
    poll_timeout_s: float
    key_decoder: Decoder
    value_decoder: Decoder
    retry: Retry
    retry_topic: str
    dead_letter_topic: str
    producer: ProducerLike
    stats: RouteStats
    delivery_deadline_s: float
    stream: bool = False  # a stream route: its handler takes one message at a time
    oldest_ms: int | None = None  # stream routes skip messages older than this before the handler
    metrics: RouteMetrics | None = None
    max_message_bytes: int = kafka.DEFAULT_MESSAGE_MAX_BYTES  # the forwarding producer's message.max.bytes
    clock: Clock = now_ms
    concurrency: int = 1  # items one worker has in its handler at once
    ordering: str = "key"  # key, partition or none: which items wait for each other
    handler_timeout_s: float = 0.0  # a call running longer is reported; 0: never
    graceful_timeout_s: float = 30.0  # how long a stop or a revoke waits for the calls in hand
    group: str | None = None  # the route's consumer group: its retries carry it, its retry worker handles only those
    split_on_error: bool = False  # a batch route's on-handler-error split: a batch that raised is handed over again

    @functools.cached_property
    def notices(self) -> Notices:
        """The route's lines about dead letters and retries, shared by its workers (made as the first is built)."""
        return Notices(self.name)
