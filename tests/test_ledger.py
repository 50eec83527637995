"""The offsets ledger: offsets stored in consumption order, only past acknowledged writes, never going back."""

from __future__ import annotations

from typing import Any

import pytest
from confluent_kafka import KafkaError, TopicPartition
from fakes import FakeConsumer, FakeRaw

from zig_cli.errors import KafkaFatalError
from zig_cli.producer import Delivery
from zig_cli.worker.ledger import MAX_PENDING_BATCHES, OffsetsLedger


class ManualProducer:
    """Deliveries are acknowledged only when the test says so."""

    def poll(self, timeout: float = 0) -> int:
        return 0

    def produce(self, *args: Any, **kwargs: Any) -> None:
        raise AssertionError("the ledger never produces")

    def flush(self, timeout: float = 0) -> int:
        return 0


def lasts(*offsets: tuple[int, int]) -> dict[tuple[str, int], Any]:
    return {("orders", partition): FakeRaw("orders", partition, offset, b"") for partition, offset in offsets}


def acknowledge(delivery: Delivery, error: str = "") -> None:
    delivery.report(KafkaError(KafkaError._MSG_TIMED_OUT, error) if error else None, FakeRaw("retry", 0, 0, b""))


def test_a_batch_without_writes_is_stored_at_once():
    consumer = FakeConsumer()
    ledger = OffsetsLedger("orders", ManualProducer(), 5)
    ledger.add(consumer, None, lasts((0, 9), (1, 4)))
    assert consumer.stored == [("orders", 0, 10), ("orders", 1, 5)]
    assert not ledger.pending


def test_acknowledgements_out_of_order_store_offsets_in_consumption_order():
    consumer = FakeConsumer()
    ledger = OffsetsLedger("orders", ManualProducer(), 5)
    first, second = Delivery(1), Delivery(1)
    ledger.add(consumer, first, lasts((0, 9)))
    ledger.add(consumer, second, lasts((0, 19)))
    ledger.add(consumer, None, lasts((0, 29)))  # no writes of its own, but behind two that are in flight
    acknowledge(second)
    ledger.settle(consumer, block=False)
    assert consumer.stored == [], "the second batch's writes are in, but not the first's"
    acknowledge(first)
    ledger.settle(consumer, block=False)
    assert consumer.stored == [("orders", 0, 10), ("orders", 0, 20), ("orders", 0, 30)]
    assert not ledger.pending


def test_a_failed_write_holds_back_its_batch_and_every_later_one():
    consumer = FakeConsumer()
    ledger = OffsetsLedger("orders", ManualProducer(), 5)
    failed, later = Delivery(1), Delivery(1)
    ledger.add(consumer, None, lasts((0, 4)))
    ledger.add(consumer, failed, lasts((0, 9)))
    ledger.add(consumer, later, lasts((0, 19)))
    acknowledge(later)
    acknowledge(failed, "broker gone")
    with pytest.raises(KafkaFatalError, match="could not write 1 record"):
        ledger.settle(consumer, block=False)
    assert consumer.stored == [("orders", 0, 5)]
    ledger.close(consumer)  # logs the failure; stores nothing more
    assert consumer.stored == [("orders", 0, 5)]


def test_too_many_batches_in_flight_wait_for_the_oldest():
    consumer = FakeConsumer()
    ledger = OffsetsLedger("orders", ManualProducer(), 0.2)
    for offset in range(MAX_PENDING_BATCHES):
        ledger.add(consumer, Delivery(1), lasts((0, offset)))
    assert consumer.stored == []
    with pytest.raises(KafkaFatalError, match="no delivery report for a write within"):
        ledger.add(consumer, Delivery(1), lasts((0, MAX_PENDING_BATCHES)))  # one too many: waits, in vain here


def test_offsets_never_go_back_until_the_partition_is_assigned_anew(caplog: pytest.LogCaptureFixture):
    consumer = FakeConsumer()
    ledger = OffsetsLedger("orders", ManualProducer(), 5)
    ledger.add(consumer, None, lasts((0, 19)))
    ledger.add(consumer, None, lasts((0, 9), (1, 3)))
    assert consumer.stored == [("orders", 0, 20), ("orders", 1, 4)]
    assert "orders[0]: offset 10 not stored, 20 is stored already; offsets never go back" in caplog.text
    ledger.forget([TopicPartition("orders", 0)])  # lost, then assigned again: the group's committed offset rules
    ledger.add(consumer, None, lasts((0, 9)))
    assert consumer.stored[-1] == ("orders", 0, 10)


def test_revoke_waits_for_the_writes_then_commits():
    consumer = FakeConsumer()
    commits: list[bool] = []
    consumer.commit = lambda message=None, offsets=None, asynchronous=True: commits.append(asynchronous)  # type: ignore[method-assign]
    ledger = OffsetsLedger("orders", ManualProducer(), 0.2)
    delivery = Delivery(1)
    ledger.add(consumer, delivery, lasts((0, 9)))
    acknowledge(delivery)
    ledger.revoke(consumer, [TopicPartition("orders", 0)])
    assert consumer.stored == [("orders", 0, 10)]
    assert commits == [False], "one synchronous commit"
