"""The offsets ledger: the one place a worker stores and commits offsets.

At-least-once by construction: the consumer never stores offsets by itself (`enable.auto.offset.store=false`).
Handler calls finish out of order, so the ledger keeps, per partition, the lowest offset of each item not yet done:
an item is done once decided and once its retry and dead-letter writes are acknowledged by the broker. It stores
the lowest offset still open, or the one after the last registered message when none is, so no offset passes a
message that is unfinished or whose write is unacknowledged. librdkafka commits what is stored every
`commit-interval-ms`; the ledger waits for every write and commits on revoke and on close. Offsets never go back.
"""

from __future__ import annotations

import heapq
import itertools
import logging
from collections.abc import Iterable
from typing import Any

from confluent_kafka import KafkaError, KafkaException, TopicPartition

from zig_cli import kafka
from zig_cli.errors import KafkaFatalError
from zig_cli.metrics import RouteMetrics
from zig_cli.producer import ProducerLike, wait_for
from zig_cli.worker import logs
from zig_cli.worker.batch import Where, firsts
from zig_cli.worker.lanes import Item
from zig_cli.worker.notices import Notices
from zig_cli.worker.pipeline import Handled

logger = logging.getLogger(__name__)

# Handled items whose writes may be in flight at once before the worker waits for the oldest.
MAX_PENDING_BATCHES = 100


class OffsetsLedger:
    """The open items of one consumer per partition, the writes they wait for, and the offsets stored."""

    def __init__(
        self,
        route: str,
        producer: ProducerLike,
        delivery_deadline_s: float,
        metrics: RouteMetrics | None = None,
        notices: Notices | None = None,
    ) -> None:
        self._route = route
        self._notices = notices
        self._producer = producer
        self._deadline_s = delivery_deadline_s
        self._metrics = metrics
        self._open: dict[Where, dict[Item, int]] = {}  # per partition: each open item's lowest unfinished offset
        # per partition, the same offsets in a heap, to find the lowest at once; an entry whose item is no longer
        # open at that offset is stale, and dropped when it comes to the top
        self._lowest: dict[Where, list[tuple[int, int, Item]]] = {}
        self._entries = itertools.count()  # ties between equal offsets, so items are never compared
        self._next: dict[Where, int] = {}  # per partition: the offset after the last message registered
        self._unacked: list[tuple[Item, Handled]] = []  # decided items whose writes are in flight, oldest first
        self._changed: set[Where] = set()
        self._stored: dict[Where, int] = {}  # the highest offset stored per partition since it was assigned

    @property
    def pending(self) -> bool:
        """True while some decided item waits for its writes."""
        return bool(self._unacked)

    def register(self, items: Iterable[Item]) -> None:
        """Consumed messages handed to handlers as `items`, in consumption order: open until each item is done."""
        opened, lowest, entries, following = self._open, self._lowest, self._entries, self._next
        lowest_of_batch: dict[Where, int] = {}
        for item in items:
            for where, last in item.lasts.items():
                if following.get(where, -1) <= last:
                    following[where] = last + 1
            for where, first in item.firsts.items():
                if lowest_of_batch.get(where, first) >= first:
                    lowest_of_batch[where] = first
                found = opened.get(where)
                if found is None:
                    opened[where] = {item: first}
                    lowest[where] = [(first, next(entries), item)]
                else:
                    found[item] = first
                    heapq.heappush(lowest[where], (first, next(entries), item))
        for where, first in lowest_of_batch.items():
            self._stored.setdefault(where, first)  # where the group's position stands already

    def gone(self, item: Item) -> list[Where]:
        """The partitions of `item` no longer open here: revoked or lost since it was registered."""
        return [where for where in item.firsts if item not in self._open.get(where, ())]

    def done(self, consumer: Any, item: Item, handled: Handled) -> None:
        """An item decided: done now if it wrote nothing, else once its writes are acknowledged; what that allows
        is stored at the next `settle`."""
        if handled.delivery is None:
            self._close(item, handled)
        else:
            self._unacked.append((item, handled))
            if len(self._unacked) > MAX_PENDING_BATCHES:
                self.settle(consumer, block=True)

    def settle(self, consumer: Any, block: bool) -> None:
        """Finish every item whose writes are acknowledged and store what that allows; with `block`, wait for
        them all. A write that failed raises KafkaFatalError, and its item's offsets stay unstored."""
        if self._unacked:
            self._producer.poll(0)  # serves delivery reports
            waiting = []
            for index, (item, handled) in enumerate(self._unacked):
                delivery = handled.delivery
                assert delivery is not None
                if not block and not delivery.done.is_set():
                    waiting.append((item, handled))
                    continue
                try:  # returns at once for a delivery already done, or raises its errors
                    wait_for(self._producer, delivery, self._deadline_s)
                except KafkaFatalError:
                    self._count_deliveries(handled, ok=False)
                    self._unacked = waiting + self._unacked[index + 1 :]
                    self._store(consumer)
                    raise
                self._count_deliveries(handled, ok=True)
                if handled.dead_letters and self._notices is not None:
                    self._notices.dead_lettered(handled.dead_letters)  # now that they are written
                self._close(item, handled)
            self._unacked = waiting
        self._store(consumer)

    def commit(self, consumer: Any) -> None:
        """Commit what is stored, now (librdkafka also commits it every commit-interval-ms)."""
        try:
            consumer.commit(asynchronous=False)
        except KafkaException as exception:
            error, text = kafka.unwrap(exception)
            if error.code() != KafkaError._NO_OFFSET:
                logger.warning("route=%s commit failed: %s", self._route, text, extra=logs.context(self._route))

    def revoke(self, consumer: Any, partitions: Iterable[TopicPartition]) -> None:
        """Partitions are taken away: wait for every write, store, commit, and forget them."""
        self.settle(consumer, block=True)
        self.commit(consumer)
        self.forget(partitions)

    def forget(self, partitions: Iterable[TopicPartition]) -> None:
        """Partitions assigned anew, or lost: their next offsets start from what the group committed."""
        for tp in partitions:
            where = (tp.topic, tp.partition)
            self._stored.pop(where, None)
            self._open.pop(where, None)
            self._lowest.pop(where, None)
            self._next.pop(where, None)
            self._changed.discard(where)

    def busy(self) -> list[Where]:
        """The partitions with open items."""
        return [where for where, opened in self._open.items() if opened]

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
        if self._notices is not None:
            self._notices.flush(everything=True)  # what the last interval held back, before the worker stops

    def _close(self, item: Item, handled: Handled) -> None:
        """The item is done up to what was decided: a stopping stream worker leaves the rest open."""
        undecided = firsts(item.raws[len(handled.raws) :]) if len(handled.raws) < len(item.raws) else {}
        for where in item.firsts:
            opened = self._open.get(where)
            if opened is None or item not in opened:
                continue  # revoked meanwhile: its new owner handles these messages again
            rest = undecided.get(where)
            if rest is None:
                del opened[item]
            else:
                opened[item] = rest.offset()
                heapq.heappush(self._lowest[where], (rest.offset(), next(self._entries), item))
            self._changed.add(where)

    def _count_deliveries(self, handled: Handled, ok: bool) -> None:
        if self._metrics is not None:
            self._metrics.delivered("retry", ok, handled.retried)
            self._metrics.delivered("dead_letter", ok, handled.dead)

    def _store(self, consumer: Any) -> None:
        """Store, per partition changed, the lowest offset still open, unless as high a one is stored."""
        if not self._changed:
            return
        stored = self._stored
        for where in self._changed:
            opened = self._open.get(where)
            offset = self._next.get(where)
            if opened:
                heap = self._lowest[where]
                while opened.get(heap[0][2]) != heap[0][0]:
                    heapq.heappop(heap)
                offset = heap[0][0]
            elif opened is not None:
                self._lowest[where].clear()  # only stale entries are left
            if offset is None or stored.get(where, -1) >= offset:
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
        self._changed.clear()
