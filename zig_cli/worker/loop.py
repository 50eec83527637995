"""One consumer per thread: the loop that owns the consumer, its callbacks, and nothing per message.

consume -> the gate (a retry worker's holds messages until due) -> the pipeline (build, decide, forward) -> the
offsets ledger -> the batch report. The runner chooses the parts once; the loop never asks which kind of route or
worker it runs.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from confluent_kafka import KafkaError, KafkaException, TopicPartition

from zig_cli import envelope, kafka
from zig_cli.errors import KafkaFatalError
from zig_cli.worker import batch as batches
from zig_cli.worker import logs
from zig_cli.worker.gate import Gate
from zig_cli.worker.ledger import OffsetsLedger
from zig_cli.worker.pipeline import Handled, Pipeline
from zig_cli.worker.runtime import RouteRuntime

logger = logging.getLogger(__name__)

# How late a held retry message may be handled, at most, so the retry worker wakes for batches, not each message.
RETRY_TICK_S = 0.02
# While writes are in flight, the loop comes back this soon to store the offsets they hold back.
SETTLE_POLL_S = 0.05


class ConsumerLike(Protocol):
    """The part of confluent_kafka.Consumer a worker uses."""

    def subscribe(self, topics: list[str], **callbacks: Any) -> None: ...
    def consume(self, num_messages: int = ..., timeout: float = ...) -> list[Any]: ...
    def store_offsets(self, message: Any = ..., offsets: Any = ...) -> None: ...
    def commit(self, message: Any = ..., offsets: Any = ..., asynchronous: bool = ...) -> Any: ...
    def pause(self, partitions: list[TopicPartition]) -> None: ...
    def resume(self, partitions: list[TopicPartition]) -> None: ...
    def close(self) -> None: ...
    def get_watermark_offsets(self, partition: TopicPartition, timeout: float = ..., cached: bool = ...) -> Any: ...


# Given librdkafka callbacks ({"error_cb": ..., "on_commit": ...}), a new consumer.
ConsumerFactory = Callable[[dict[str, Callable[..., None]]], ConsumerLike]


@dataclass(frozen=True)
class Source:
    """What a worker consumes, as the runner chose it: a route's origin topic, or its retry topic."""

    topic: str  # a topic name, or a librdkafka regex starting with ^
    kind: str  # how /health names the worker: "worker" or "retry worker"
    missing_topic_is_fatal: bool  # a named origin topic that is gone stops zig; a regex's topics may come later
    observe_delay: bool  # a retried message's age says nothing of the route's delay


class Worker:
    """One thread's consumer loop, for a route's origin topic or its retry topic (the source and the gate say)."""

    def __init__(
        self,
        runtime: RouteRuntime,
        source: Source,
        gate: Gate,
        pipeline: Pipeline,
        new_consumer: ConsumerFactory,
        stop: threading.Event,
    ) -> None:
        self.runtime = runtime
        self.stop = stop
        self.gate = gate
        self.kind = source.kind
        self._source = source
        self._pipeline = pipeline
        self._new_consumer = new_consumer
        self._ledger = OffsetsLedger(runtime.name, runtime.producer, runtime.delivery_deadline_s, runtime.metrics)
        self._fatal: KafkaFatalError | None = None
        # Why this worker is not ready to consume, or None while it holds an assignment. Written by the worker's
        # own callbacks, read by /health: a plain attribute, replaced whole.
        self.unready: str | None = "has not joined its group yet"

    def run(self) -> None:
        consumer = self._new_consumer({"error_cb": self._on_error, "on_commit": self._on_commit})
        try:
            callbacks = {"on_assign": self._on_assign, "on_revoke": self._on_revoke, "on_lost": self._on_lost}
            consumer.subscribe([self._source.topic], **callbacks)
            while not self.stop.is_set():
                if self.gate:
                    self.handle_due(consumer)
                self._ledger.settle(consumer, block=False)
                raw = consumer.consume(num_messages=self.runtime.max_records, timeout=self._poll_timeout())
                if self._fatal is not None:
                    raise self._fatal
                if raw:
                    self.handle(consumer, raw)
        finally:
            try:
                self._ledger.close(consumer)
            finally:
                consumer.close()

    def _poll_timeout(self) -> float:
        timeout = self.runtime.poll_timeout_s
        if self._ledger.pending:
            timeout = min(timeout, SETTLE_POLL_S)
        due = self.gate.next_due_ms()
        if due is not None:
            # Up to a tick late, so due retries go out in batches: waking for each one would keep this thread
            # holding the interpreter lock the route's main workers need.
            timeout = min(timeout, max((due - self.runtime.clock()) / 1000, RETRY_TICK_S))
        return timeout

    def handle(self, consumer: ConsumerLike, raw_messages: Sequence[Any]) -> None:
        """Handle consumed messages, apply every outcome, then store the offsets of what was decided."""
        due, origins = self.gate.admit(consumer, self._usable(raw_messages))
        if due:
            self._handle(consumer, due, origins)

    def handle_due(self, consumer: ConsumerLike) -> None:
        """Handle the held retry messages that are now due."""
        released, origins = self.gate.release(consumer)
        if released:
            self._handle(consumer, released, origins)

    def _handle(self, consumer: ConsumerLike, raws: list[Any], origins: list[envelope.Origin] | None) -> None:
        started = time.perf_counter()
        handled = self._pipeline.handle(raws, origins)
        lasts = batches.lasts(handled.raws)
        self._ledger.add(consumer, handled.delivery, lasts, handled.retried, handled.dead)
        self._account(consumer, handled, lasts, started)

    def _account(self, consumer: ConsumerLike, handled: Handled, lasts: dict[Any, Any], started: float) -> None:
        """The batch report to the stats table and the metrics, with each partition's message age and lag."""
        report = handled.report((time.perf_counter() - started) * 1000)
        metrics = self.runtime.metrics
        if metrics is not None:
            metrics.add(report)
            now = self.runtime.clock()
            for (topic, partition), first in batches.firsts(handled.raws).items():
                kind, timestamp = first.timestamp()
                if kind and self._source.observe_delay:
                    metrics.delay.observe(max(now - timestamp, 0) / 1000)
                try:
                    _, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), cached=True)
                except KafkaException:
                    continue
                if high >= 0:
                    metrics.lag(topic, partition, high - lasts[(topic, partition)].offset() - 1)
        self.runtime.stats.add(report)

    def _usable(self, raw_messages: Sequence[Any]) -> list[Any]:
        """The messages, without error events (each reported; a fatal one stops the worker)."""
        usable = [raw for raw in raw_messages if raw.error() is None]
        if len(usable) != len(raw_messages):
            for raw in raw_messages:
                error = raw.error()
                if error is not None:
                    self._on_error(error)
                    if self._fatal is not None:
                        raise self._fatal
        return usable

    # --- librdkafka's callbacks ---

    def _on_assign(self, consumer: Any, partitions: list[TopicPartition]) -> None:
        self.unready = None
        self._ledger.forget(partitions)
        logger.info(
            "route=%s assigned %s", self.runtime.name, _partitions(partitions), extra=logs.context(self.runtime.name)
        )

    def _on_revoke(self, consumer: Any, partitions: list[TopicPartition]) -> None:
        logger.info(
            "route=%s revoked %s; committing what is handled",
            self.runtime.name,
            _partitions(partitions),
            extra=logs.context(self.runtime.name),
        )
        self.unready = "was revoked and is rejoining its group"
        self._ledger.revoke(consumer, partitions)
        self.gate.drop(partitions)

    def _on_lost(self, consumer: Any, partitions: list[TopicPartition]) -> None:
        # librdkafka calls this when the group coordinator has not answered within the session timeout, too
        self.unready = "lost its partitions and is rejoining its group"
        logger.warning(
            "route=%s lost %s; uncommitted messages will be delivered again",
            self.runtime.name,
            _partitions(partitions),
            extra=logs.context(self.runtime.name),
        )
        self._ledger.forget(partitions)
        self.gate.drop(partitions)

    def _on_error(self, error: KafkaError) -> None:
        if kafka.is_fatal(error, self._source.missing_topic_is_fatal):
            self._fatal = KafkaFatalError(f"route {self.runtime.name!r}: {error.str()}")
            self.stop.set()
        elif error.code() != KafkaError._PARTITION_EOF:
            logger.warning(
                "route=%s kafka: %s (zig keeps going)",
                self.runtime.name,
                error.str(),
                extra=logs.context(self.runtime.name),
            )

    def _on_commit(self, error: KafkaError | None, partitions: list[TopicPartition]) -> None:
        if error is not None and error.code() == KafkaError._NO_OFFSET:
            return  # nothing was stored since the last commit
        if self.runtime.metrics is not None:
            self.runtime.metrics.commit(error is None)
        if error is not None:
            logger.warning(
                "route=%s commit failed: %s", self.runtime.name, error.str(), extra=logs.context(self.runtime.name)
            )


def _partitions(partitions: list[TopicPartition]) -> str:
    return ", ".join(f"{p.topic}[{p.partition}]" for p in partitions) or "nothing"
