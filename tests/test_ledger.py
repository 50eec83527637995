"""The offsets ledger: per partition, only the offset below which every message is done is stored, done meaning
decided and its writes acknowledged; offsets never go back."""

from __future__ import annotations

from typing import Any

import pytest
from confluent_kafka import KafkaError, TopicPartition
from fakes import FakeConsumer, FakeRaw

from zig_cli.errors import KafkaFatalError
from zig_cli.producer import Delivery
from zig_cli.worker.lanes import Item
from zig_cli.worker.ledger import MAX_PENDING_BATCHES, OffsetsLedger
from zig_cli.worker.pipeline import Handled


class ManualProducer:
    """Deliveries are acknowledged only when the test says so."""

    def poll(self, timeout: float = 0) -> int:
        return 0

    def produce(self, *args: Any, **kwargs: Any) -> None:
        raise AssertionError("the ledger never produces")

    def flush(self, timeout: float = 0) -> int:
        return 0


def item(*offsets: int, partition: int = 0) -> Item:
    raws = [FakeRaw("orders", partition, offset, b"") for offset in offsets]
    return Item(raws, None, None, {("orders", partition): offsets[0]}, {("orders", partition): offsets[-1]})


def handled(done: Item, delivery: Delivery | None = None, decided: int | None = None) -> Handled:
    return Handled(done.raws[:decided], delivery, None, 0, 0, 0)


def register(ledger: OffsetsLedger, *items: Item) -> None:
    """Items cut from one consumed batch, in consumption order."""
    ledger.register(items)


def finish(ledger: OffsetsLedger, consumer: FakeConsumer, done: Item, result: Handled) -> None:
    """An item decided, as the worker applies it: done, then what that allows stored."""
    ledger.done(consumer, done, result)
    ledger.settle(consumer, block=False)


def acknowledge(delivery: Delivery, error: str = "") -> None:
    delivery.report(KafkaError(KafkaError._MSG_TIMED_OUT, error) if error else None, FakeRaw("retry", 0, 0, b""))


def test_an_item_without_writes_is_stored_at_once():
    consumer = FakeConsumer()
    ledger = OffsetsLedger("orders", ManualProducer(), 5)
    first, second = item(0, 1, 2), item(5, 6, partition=1)
    register(ledger, first, second)
    finish(ledger, consumer, first, handled(first))
    finish(ledger, consumer, second, handled(second))
    assert consumer.stored == [("orders", 0, 3), ("orders", 1, 7)]
    assert not ledger.pending


def test_items_finishing_out_of_order_store_only_what_is_contiguous():
    consumer = FakeConsumer()
    ledger = OffsetsLedger("orders", ManualProducer(), 5)
    a, b, c = item(0, 1, 2), item(3, 4), item(5, 6)
    register(ledger, a, b, c)
    finish(ledger, consumer, c, handled(c))
    assert consumer.stored == [], "0..4 are not done"
    finish(ledger, consumer, a, handled(a))
    assert consumer.stored == [("orders", 0, 3)], "3 and 4 are still in the handler"
    finish(ledger, consumer, b, handled(b))
    assert consumer.stored == [("orders", 0, 3), ("orders", 0, 7)]


def test_interleaved_keys_store_up_to_the_lowest_unfinished_message():
    consumer = FakeConsumer()
    ledger = OffsetsLedger("orders", ManualProducer(), 5)
    one, two = item(0, 2, 4), item(1, 3, 5)  # two keys of one partition
    register(ledger, one, two)
    finish(ledger, consumer, one, handled(one))
    assert consumer.stored == [("orders", 0, 1)]
    finish(ledger, consumer, two, handled(two))
    assert consumer.stored[-1] == ("orders", 0, 6)


def test_an_item_waits_for_its_writes_and_holds_back_every_later_offset():
    consumer = FakeConsumer()
    ledger = OffsetsLedger("orders", ManualProducer(), 5)
    first, second = item(0, 1), item(2, 3)
    delivery = Delivery(1)
    register(ledger, first, second)
    finish(ledger, consumer, first, handled(first, delivery))
    finish(ledger, consumer, second, handled(second))
    assert consumer.stored == [] and ledger.pending
    acknowledge(delivery)
    ledger.settle(consumer, block=False)
    assert consumer.stored == [("orders", 0, 4)]
    assert not ledger.pending


def test_a_failed_write_holds_back_its_item_and_every_later_one():
    consumer = FakeConsumer()
    ledger = OffsetsLedger("orders", ManualProducer(), 5)
    ok, failed, later = item(0), item(1), item(2)
    register(ledger, ok, failed, later)
    deliveries = Delivery(1), Delivery(1)
    finish(ledger, consumer, ok, handled(ok))
    finish(ledger, consumer, failed, handled(failed, deliveries[0]))
    finish(ledger, consumer, later, handled(later, deliveries[1]))
    acknowledge(deliveries[1])
    acknowledge(deliveries[0], "broker gone")
    with pytest.raises(KafkaFatalError, match="could not write 1 record"):
        ledger.settle(consumer, block=False)
    assert consumer.stored == [("orders", 0, 1)]
    ledger.close(consumer)  # logs the failure; stores nothing more
    assert consumer.stored == [("orders", 0, 1)]


def test_a_partly_decided_item_stores_up_to_its_first_undecided_message():
    consumer = FakeConsumer()
    ledger = OffsetsLedger("orders", ManualProducer(), 5)
    stopped = item(0, 1, 2, 3)
    register(ledger, stopped)
    finish(ledger, consumer, stopped, handled(stopped, decided=2))
    assert consumer.stored == [("orders", 0, 2)]


def test_too_many_items_with_writes_in_flight_wait_for_the_oldest():
    consumer = FakeConsumer()
    ledger = OffsetsLedger("orders", ManualProducer(), 0.2)
    items = [item(offset) for offset in range(MAX_PENDING_BATCHES + 1)]
    register(ledger, *items)
    for waiting in items[:-1]:
        finish(ledger, consumer, waiting, handled(waiting, Delivery(1)))
    assert consumer.stored == []
    with pytest.raises(KafkaFatalError, match="no delivery report for a write within"):
        ledger.done(consumer, items[-1], handled(items[-1], Delivery(1)))  # one too many: waits, in vain here


def test_a_revoked_partition_s_late_outcome_stores_nothing_and_says_so():
    consumer = FakeConsumer()
    ledger = OffsetsLedger("orders", ManualProducer(), 5)
    late = item(0, 1)
    register(ledger, late)
    ledger.forget([TopicPartition("orders", 0)])
    assert ledger.gone(late) == [("orders", 0)]
    finish(ledger, consumer, late, handled(late))
    assert consumer.stored == []


def test_offsets_start_again_from_the_group_s_once_a_partition_is_assigned_anew():
    consumer = FakeConsumer()
    ledger = OffsetsLedger("orders", ManualProducer(), 5)
    first = item(10, 11)
    register(ledger, first)
    finish(ledger, consumer, first, handled(first))
    ledger.forget([TopicPartition("orders", 0)])  # lost, then assigned again: the group's committed offset rules
    again = item(5, 6)
    register(ledger, again)
    finish(ledger, consumer, again, handled(again))
    assert consumer.stored == [("orders", 0, 12), ("orders", 0, 7)]


def test_revoke_waits_for_the_writes_then_commits():
    consumer = FakeConsumer()
    commits: list[bool] = []
    consumer.commit = lambda message=None, offsets=None, asynchronous=True: commits.append(asynchronous)  # type: ignore[method-assign]
    ledger = OffsetsLedger("orders", ManualProducer(), 0.2)
    written = item(0, 1)
    delivery = Delivery(1)
    register(ledger, written)
    finish(ledger, consumer, written, handled(written, delivery))
    acknowledge(delivery)
    ledger.revoke(consumer, [TopicPartition("orders", 0)])
    assert consumer.stored == [("orders", 0, 2)]
    assert commits == [False], "one synchronous commit"
