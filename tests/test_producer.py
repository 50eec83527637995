"""producer: the one wait for room in librdkafka's queue, and refusals named by record (no broker: fakes)."""

from __future__ import annotations

from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException

from zig_cli import producer
from zig_cli.envelope import Record
from zig_cli.errors import RecordRefused


class QueueFullFor:
    """A producer whose queue is full for its first `full` calls, and that refuses values over `max_bytes`."""

    def __init__(self, full: int, max_bytes: int = 1000) -> None:
        self.full = full
        self.max_bytes = max_bytes
        self.polls: list[float] = []
        self.produced: list[tuple[str, Any, Any, dict[str, Any]]] = []

    def produce(self, topic: str, value: Any = None, key: Any = None, **kwargs: Any) -> None:
        if self.full:
            self.full -= 1
            raise BufferError
        if len(value or b"") > self.max_bytes:
            raise KafkaException(KafkaError(KafkaError.MSG_SIZE_TOO_LARGE))
        self.produced.append((topic, value, key, kwargs))

    def poll(self, timeout: float = 0) -> int:
        self.polls.append(timeout)
        return 0

    def flush(self, timeout: float = 0) -> int:
        return 0


def test_produce_when_room_serves_reports_while_the_queue_is_full_and_drops_nothing():
    fake = QueueFullFor(full=3)
    refused = producer.produce_when_room(fake.produce, fake.poll, "t", b"v", b"k", partition=2)
    assert refused is None
    assert fake.produced == [("t", b"v", b"k", {"partition": 2})]
    assert fake.polls == [producer.QUEUE_FULL_POLL_S] * 3


def test_produce_when_room_returns_the_refusal_instead_of_raising():
    fake = QueueFullFor(full=1, max_bytes=1)
    refused = producer.produce_when_room(fake.produce, fake.poll, "t", b"too large", None)
    assert refused is not None and refused.code() == KafkaError.MSG_SIZE_TOO_LARGE
    assert fake.produced == []


@pytest.mark.parametrize("full", [0, 2], ids=["room at once", "queue full at first"])
def test_produce_async_queues_every_record_in_order(full: int):
    fake = QueueFullFor(full=full)
    records = [Record("t", b"k1", b"v1", []), Record("u", None, b"v2", [("h", b"1")])]
    delivery = producer.produce_async(fake, records)
    assert [(topic, value, key, kwargs["headers"]) for topic, value, key, kwargs in fake.produced] == [
        ("t", b"v1", b"k1", []),
        ("u", b"v2", None, [("h", b"1")]),
    ]
    assert not delivery.done.is_set()


def test_produce_async_names_the_record_librdkafka_refuses():
    fake = QueueFullFor(full=0, max_bytes=5)
    records = [Record("t", None, b"small", []), Record("t", None, b"much too large", [])]
    with pytest.raises(RecordRefused) as refused:
        producer.produce_async(fake, records)
    assert (refused.value.index, refused.value.code) == (1, KafkaError.MSG_SIZE_TOO_LARGE)
    assert refused.value.reason == "Broker: Message size too large"
