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

from confluent_kafka import KafkaError, TopicPartition

from zig_cli import access, envelope, kafka
from zig_cli.errors import KafkaFatalError, ZigError
from zig_cli.worker import logs
from zig_cli.worker.assignment import Assignment, listed
from zig_cli.worker.dispatch import Dispatch
from zig_cli.worker.gate import Gate
from zig_cli.worker.keeper import Keeper
from zig_cli.worker.ledger import OffsetsLedger
from zig_cli.worker.outcomes import Outcomes
from zig_cli.worker.pipeline import Pipeline
from zig_cli.worker.runtime import RouteRuntime
from zig_cli.worker.throttle import Throttle
from zig_cli.worker.watchdog import Watchdog

logger = logging.getLogger(__name__)

# How late a held retry message may be handled, at most, so the retry worker wakes for batches, not each message.
RETRY_TICK_S = 0.02
# While writes or handler calls are in flight, the loop comes back this soon to store the offsets they hold back.
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
    def assignment(self) -> list[TopicPartition]: ...


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
        dispatch: Dispatch,
        new_consumer: ConsumerFactory,
        stop: threading.Event,
        watchdog: Watchdog | None = None,
        keeper: Keeper | None = None,
    ) -> None:
        self.runtime = runtime
        self.stop = stop
        self.gate = gate
        self.kind = source.kind
        self.dispatch = dispatch
        self._source = source
        self._new_consumer = new_consumer
        self._ledger = OffsetsLedger(
            runtime.name, runtime.producer, runtime.delivery_deadline_s, runtime.metrics, runtime.notices
        )
        self._fatal: KafkaFatalError | None = None
        self._outcomes = Outcomes(runtime, pipeline, dispatch, self._ledger, source.observe_delay)
        self._throttle = Throttle(runtime.name, dispatch, stop)
        self._watchdog = watchdog
        self._keeper = keeper  # an inline worker's: polls while the loop thread is in a long call
        self.assignment = Assignment(runtime.name)  # /health reads its `unready`

    @property
    def overdue(self) -> str | None:
        """A handler call running past handler-timeout-ms, as /health names it; None when there is none."""
        return self._watchdog.overdue if self._watchdog is not None else None

    def run(self) -> None:
        consumer = self._new_consumer({"error_cb": self._on_error, "on_commit": self._on_commit})
        try:
            callbacks = {"on_assign": self._on_assign, "on_revoke": self._on_revoke, "on_lost": self._on_lost}
            consumer.subscribe([self._source.topic], **callbacks)
            if self._keeper is not None:
                self._keeper.start(consumer)
            self._loop(consumer)
        finally:
            try:
                unfinished = self._finish(consumer)
            finally:
                if self._keeper is not None:
                    self._keeper.stop()
                self.dispatch.close()
                consumer.close()
        if unfinished:
            raise ZigError(
                f"route {self.runtime.name!r}: {unfinished} handler call(s) still running when the graceful timeout "
                "ran out; their messages stay uncommitted and are delivered again"
            )

    def _loop(self, consumer: ConsumerLike) -> None:
        while not self.stop.is_set():
            if self.gate:
                self._release(consumer)
            self._outcomes.collect(consumer, 0)
            if self._watchdog is not None:
                self._watchdog.check(time.monotonic())
            self._throttle.hold_back(
                consumer, lambda timeout: self._outcomes.collect(consumer, timeout), self._ledger.busy, self.gate.paused
            )
            keeper = self._keeper
            if keeper is not None and keeper.carry:  # polled during a long call: older than anything to come
                raw = keeper.take_carry()
            else:
                raw = consumer.consume(num_messages=self.runtime.max_records, timeout=self._poll_timeout())
            if self._fatal is not None:
                raise self._fatal
            if raw:
                due, origins = self.gate.admit(consumer, self._usable(raw))
                if due:
                    self._submit(consumer, due, origins)

    def _poll_timeout(self) -> float:
        timeout = self.runtime.poll_timeout_s
        if self._ledger.pending or self.dispatch.buffered:
            timeout = min(timeout, SETTLE_POLL_S)
        due = self.gate.next_due_ms()
        if due is not None:
            # Up to a tick late, so due retries go out in batches: waking for each one would keep this thread
            # holding the interpreter lock the route's main workers need.
            timeout = min(timeout, max((due - self.runtime.clock()) / 1000, RETRY_TICK_S))
        return timeout

    def handle(self, consumer: ConsumerLike, raw_messages: Sequence[Any]) -> None:
        """Handle consumed messages and wait for them: every outcome applied, the offsets it allows stored."""
        due, origins = self.gate.admit(consumer, self._usable(raw_messages))
        if due:
            self._submit(consumer, due, origins)
        self._outcomes.wait_all(consumer)

    def handle_due(self, consumer: ConsumerLike) -> None:
        """Handle the held retry messages that are now due, and wait for them."""
        self._release(consumer)
        self._outcomes.wait_all(consumer)

    def _release(self, consumer: ConsumerLike) -> None:
        released, origins = self.gate.release(consumer)
        if released:
            self._submit(consumer, released, origins)

    def _submit(self, consumer: ConsumerLike, raws: list[Any], origins: list[envelope.Origin] | None) -> None:
        if origins is not None:  # a retry worker's: retried messages handed back
            self.runtime.notices.handed_back(raws, origins, self.runtime.group)
        items = self.dispatch.split(raws, origins)
        self._ledger.register(items)  # before any can finish
        finished = self.dispatch.start(items)
        if finished:
            self._outcomes.apply(consumer, finished)

    def _finish(self, consumer: ConsumerLike) -> int:
        """Stop: take no new message, let the calls in hand end, store what they allow and commit."""
        self.dispatch.drop(None)
        try:
            unfinished = self._outcomes.drain(consumer, None)
        finally:
            self._ledger.close(consumer)
        return unfinished

    def _usable(self, raw_messages: Sequence[Any]) -> list[Any]:
        """The messages, without error events (each reported; a fatal one stops the worker)."""
        usable = without_error_events(raw_messages)
        if usable is None:
            usable = [raw for raw in raw_messages if raw.error() is None]
            for error in [raw.error() for raw in raw_messages if raw.error() is not None]:
                self._on_error(error)
                if self._fatal is not None:
                    raise self._fatal
        return usable

    # --- librdkafka's callbacks: the partitions that move (see assignment.py) ---

    def _on_assign(self, consumer: Any, partitions: list[TopicPartition]) -> None:
        self.assignment.assigned(partitions)  # logs it
        self._ledger.forget(partitions)

    def _on_revoke(self, consumer: Any, partitions: list[TopicPartition]) -> None:
        logger.info(
            "route=%s revoked %s; committing what is handled",
            self.runtime.name,
            listed(partitions),
            extra=logs.context(self.runtime.name),
        )
        revoked = self.assignment.revoked(partitions)
        self.dispatch.drop(revoked)
        self._outcomes.drain(consumer, revoked)
        self._ledger.revoke(consumer, partitions)
        _unpause(consumer, partitions)
        self.gate.drop(partitions)
        if self._keeper is not None:
            self._keeper.drop(revoked)
        self._throttle.forget(revoked)

    def _on_lost(self, consumer: Any, partitions: list[TopicPartition]) -> None:
        # librdkafka calls this when the group coordinator has not answered within the session timeout, too
        lost = self.assignment.lost(partitions)
        logger.warning(
            "route=%s lost %s; uncommitted messages will be delivered again",
            self.runtime.name,
            listed(partitions),
            extra=logs.context(self.runtime.name),
        )
        self._ledger.forget(partitions)
        _unpause(consumer, partitions)
        self.gate.drop(partitions)
        if self._keeper is not None:
            self._keeper.drop(lost)
        self._throttle.forget(lost)

    def _on_error(self, error: KafkaError) -> None:
        error = access.explained(error, self._source.topic, "READ")  # a refused topic or group: what to grant
        if kafka.is_fatal(error, self._source.missing_topic_is_fatal):
            self._fatal = KafkaFatalError(f"route {self.runtime.name!r}: {kafka.fatal_text(error)}")
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


def _unpause(consumer: Any, partitions: list[TopicPartition]) -> None:
    """Resume partitions leaving a consumer: librdkafka keeps a partition's pause through a rebalance, so one paused
    by the gate, the keeper or the throttle and given back to this consumer later would never fetch again, while they
    forget it when it leaves."""
    if partitions:
        consumer.resume(partitions)


def without_error_events(raw_messages: Sequence[Any]) -> list[Any] | None:
    """The messages as a list of their own when none is an error event (the usual batch: every error() looked at in
    C), else None."""
    if not raw_messages:
        return []
    # by truth: error() is None or a KafkaError, which is always true (and cannot be compared with None)
    return None if any(map(type(raw_messages[0]).error, raw_messages)) else list(raw_messages)
