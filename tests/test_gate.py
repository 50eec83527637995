"""The retry gate, on a clock the test moves: due times, order, the hold limits, pause and resume."""

from __future__ import annotations

from dataclasses import dataclass, field

from confluent_kafka import TopicPartition
from fakes import FakeConsumer, FakeRaw

from zig_cli.worker.gate import RetryGate

TOPIC = "shop-orders-retry"


@dataclass
class Clock:
    ms: int = 1_000_000

    def __call__(self) -> int:
        return self.ms


@dataclass
class Gate:
    clock: Clock = field(default_factory=Clock)
    consumer: FakeConsumer = field(default_factory=FakeConsumer)

    def __post_init__(self) -> None:
        self.gate = RetryGate("orders", max_held_bytes=1000, clock=self.clock, hold_limit=3)

    def admit(self, *raws: FakeRaw) -> list[int]:
        due, origins = self.gate.admit(self.consumer, list(raws))
        assert [o.offset for o in origins] == [r.offset() for r in due]
        return [r.offset() for r in due]

    def release(self) -> list[int]:
        released, _ = self.gate.release(self.consumer)
        return [r.offset() for r in released]


def retried(offset: int, due_ms: int | None, partition: int = 0, size: int = 1) -> FakeRaw:
    headers = [("zig-origin-topic", b"orders"), ("zig-origin-offset", str(offset).encode())]
    if due_ms is not None:
        headers.append(("zig-due-ms", str(due_ms).encode()))
    return FakeRaw(TOPIC, partition, offset, b"v" * (size - 1), b"k", headers)


def test_a_message_due_passes_and_one_not_yet_due_is_held_with_everything_behind_it():
    g = Gate()
    now = g.clock.ms
    assert g.admit(retried(0, now - 1), retried(1, now + 500), retried(2, now - 1), retried(3, None)) == [0]
    assert g.gate and g.gate.next_due_ms() == now + 500
    assert g.release() == []
    g.clock.ms = now + 500
    assert g.release() == [], "due at this very millisecond: the backoff may not be over yet"
    g.clock.ms = now + 501
    assert g.release() == [1, 2, 3]
    assert not g.gate and g.gate.next_due_ms() is None


def test_partitions_are_held_apart():
    g = Gate()
    now = g.clock.ms
    assert g.admit(retried(0, now + 100, partition=0), retried(0, now - 1, partition=1)) == [0]
    assert g.consumer.paused == []
    g.clock.ms = now + 101
    assert g.release() == [0]


def test_a_partition_holding_the_limit_pauses_until_its_held_messages_are_out():
    g = Gate()
    now = g.clock.ms
    g.admit(retried(0, now + 100), retried(1, now + 100))
    assert g.consumer.paused == []
    g.admit(retried(2, now + 100), retried(3, now + 100))  # the third held message pauses the partition, once
    assert g.consumer.paused == [(TOPIC, 0)]
    g.clock.ms = now + 101
    assert g.release() == [0, 1, 2, 3]
    assert g.consumer.resumed == [(TOPIC, 0)]


def test_held_bytes_past_the_cap_pause_each_partition_that_adds_to_them():
    g = Gate()
    now = g.clock.ms
    g.admit(retried(0, now + 100, partition=0, size=400), retried(0, now + 200, partition=1, size=400))
    assert g.consumer.paused == [] and g.gate.held_bytes == 800
    g.admit(retried(1, now + 100, partition=1, size=400))
    assert g.consumer.paused == [(TOPIC, 1)]
    g.admit(retried(1, now + 100, partition=0, size=10))
    assert g.consumer.paused == [(TOPIC, 1), (TOPIC, 0)]
    g.clock.ms = now + 101
    assert g.release() == [0, 1], "partition 0's messages; partition 1's first is due later"
    assert g.consumer.resumed == [(TOPIC, 0)] and g.gate.held_bytes == 800
    g.clock.ms = now + 201
    assert g.release() == [0, 1]
    assert g.consumer.resumed == [(TOPIC, 0), (TOPIC, 1)] and g.gate.held_bytes == 0


def test_a_partition_taken_away_forgets_what_it_held():
    g = Gate()
    now = g.clock.ms
    g.admit(retried(0, now + 100, size=10), retried(1, now + 100, size=10), retried(2, now + 100, size=10))
    assert g.consumer.paused == [(TOPIC, 0)]
    g.gate.drop([TopicPartition(TOPIC, 0)])
    assert not g.gate and g.gate.held_bytes == 0
    g.clock.ms = now + 101
    assert g.release() == []
    assert g.admit(retried(0, now - 1)) == [0], "a new owner starts afresh"
