"""The offsets ledger: the one place a worker stores and commits offsets.

At-least-once by construction: the consumer never stores offsets by itself (`enable.auto.offset.store=false`). A
handled batch's offsets are stored only once its retry and dead-letter writes, and every earlier batch's, are
acknowledged by the broker, so no offset passes an unacknowledged write. The worker goes on handling while writes
are in flight; the ledger keeps the handled batches in order until they may be stored. librdkafka commits what is
stored every `commit-interval-ms`; the ledger waits for every write and commits on revoke and on close. An offset
lower than one already stored for its partition is refused: offsets never go back.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterable
from typing import Any

from confluent_kafka import KafkaError, KafkaException, TopicPartition

from zig_cli import kafka
from zig_cli.errors import KafkaFatalError
from zig_cli.metrics import RouteMetrics
from zig_cli.producer import Delivery, ProducerLike, wait_for
from zig_cli.worker import logs
from zig_cli.worker.batch import Where

logger = logging.getLogger(__name__)

# Handled batches whose writes may be in flight at once before the worker waits for the oldest.
MAX_PENDING_BATCHES = 100


class _Handled:
    """One handled batch waiting for its writes: its delivery (None: no writes) and last message per partition."""

    __slots__ = ("delivery", "lasts", "retried", "dead")

    def __init__(self, delivery: Delivery | None, lasts: dict[Where, Any], retried: int, dead: int) -> None:
        self.delivery = delivery
        self.lasts = lasts
        self.retried = retried
        self.dead = dead


class OffsetsLedger:
    """Handled batches of one consumer, in consumption order, and the offsets stored for each partition."""

    def __init__(
        self, route: str, producer: ProducerLike, delivery_deadline_s: float, metrics: RouteMetrics | None = None
    ) -> None:
        self._route = route
        self._producer = producer
        self._deadline_s = delivery_deadline_s
        self._metrics = metrics
        self._pending: deque[_Handled] = deque()
        self._stored: dict[Where, int] = {}  # the highest offset stored per partition since it was assigned

    @property
    def pending(self) -> bool:
        """True while some handled batch waits for its writes."""
        return bool(self._pending)

    def add(
        self, consumer: Any, delivery: Delivery | None, lasts: dict[Where, Any], retried: int = 0, dead: int = 0
    ) -> None:
        """A handled batch: its offsets are stored at once if nothing is in flight, else once its turn comes."""
        if delivery is None and not self._pending:
            self._store(consumer, lasts)
            return
        self._pending.append(_Handled(delivery, lasts, retried, dead))
        self.settle(consumer, block=len(self._pending) > MAX_PENDING_BATCHES)

    def settle(self, consumer: Any, block: bool) -> None:
        """Store the offsets of every handled batch whose writes are acknowledged, in order; with `block`, wait for
        them. A write that failed raises KafkaFatalError, and nothing from its batch on is stored."""
        if not self._pending:
            return
        self._producer.poll(0)  # serves delivery reports
        while self._pending:
            handled = self._pending[0]
            delivery = handled.delivery
            if delivery is not None:
                if not block and not delivery.done.is_set():
                    return
                try:  # returns at once for a delivery already done, or raises its errors
                    wait_for(self._producer, delivery, self._deadline_s)
                except KafkaFatalError:
                    self._count_deliveries(handled, ok=False)
                    raise
                self._count_deliveries(handled, ok=True)
            self._store(consumer, handled.lasts)
            self._pending.popleft()

    def commit(self, consumer: Any) -> None:
        """Commit what is stored, now (librdkafka also commits it every commit-interval-ms)."""
        try:
            consumer.commit(asynchronous=False)
        except KafkaException as exception:
            error, text = kafka.unwrap(exception)
            if error.code() != KafkaError._NO_OFFSET:
                logger.warning("route=%s commit failed: %s", self._route, text, extra=logs.context(self._route))

    def revoke(self, consumer: Any, partitions: Iterable[TopicPartition]) -> None:
        """Partitions are taken away: wait for every write, commit, and forget what was stored for them."""
        self.settle(consumer, block=True)
        self.commit(consumer)
        self.forget(partitions)

    def forget(self, partitions: Iterable[TopicPartition]) -> None:
        """Partitions assigned anew, or lost: their next offsets start from what the group committed."""
        for tp in partitions:
            self._stored.pop((tp.topic, tp.partition), None)

    def close(self, consumer: Any) -> None:
        """Store what may be stored and commit it; a write that failed leaves its offsets uncommitted."""
        try:
            self.settle(consumer, block=True)
        except KafkaFatalError as error:
            logger.error(
                "route=%s %s; the offsets it held back stay uncommitted",
                self._route,
                error,
                extra=logs.context(self._route),
            )
        self.commit(consumer)

    def _count_deliveries(self, handled: _Handled, ok: bool) -> None:
        if self._metrics is not None:
            self._metrics.delivered("retry", ok, handled.retried)
            self._metrics.delivered("dead_letter", ok, handled.dead)

    def _store(self, consumer: Any, lasts: dict[Where, Any]) -> None:
        """Store, per partition, the offset after the last decided message, unless a higher one is stored."""
        stored = self._stored
        for where, last in lasts.items():
            offset = last.offset() + 1
            if stored.get(where, -1) > offset:
                logger.warning(
                    "route=%s %s[%d]: offset %d not stored, %d is stored already; offsets never go back",
                    self._route,
                    where[0],
                    where[1],
                    offset,
                    stored[where],
                    extra=logs.at(self._route, where[0], where[1], offset - 1),
                )
                continue
            try:
                consumer.store_offsets(offsets=[TopicPartition(where[0], where[1], offset)])
            except KafkaException as exception:
                # The partition was taken away meanwhile; its new owner will see these messages again.
                logger.warning(
                    "route=%s %s[%d]@%d: offset not stored (%s); the messages will be delivered again",
                    self._route,
                    where[0],
                    where[1],
                    offset - 1,
                    kafka.unwrap(exception)[1],
                    extra=logs.at(self._route, where[0], where[1], offset - 1),
                )
                continue
            stored[where] = offset
