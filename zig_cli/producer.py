"""Produce with delivery tracking: a write counts only once the broker has acknowledged it.

Retry and dead-letter writes go through `produce_all`, which returns only when every record has its delivery
report, so the caller can then safely store the consumed offsets (at-least-once).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any, Protocol

from zig_cli.envelope import Record
from zig_cli.errors import KafkaFatalError


class ProducerLike(Protocol):
    """The part of confluent_kafka.Producer zig uses."""

    def produce(self, topic: str, value: Any = ..., key: Any = ..., **kwargs: Any) -> None: ...
    def poll(self, timeout: float = ...) -> int: ...
    def flush(self, timeout: float = ...) -> int: ...


class Delivery:
    """Collects the delivery reports of one group of records; reports arrive on whichever thread polls."""

    def __init__(self, expected: int) -> None:
        self._lock = threading.Lock()
        self._remaining = expected
        self.errors: list[str] = []
        self.done = threading.Event()
        if expected == 0:
            self.done.set()

    def report(self, error: Any, message: Any) -> None:
        with self._lock:
            if error is not None:
                self.errors.append(f"{message.topic()}: {error.str() if hasattr(error, 'str') else error}")
            self._remaining -= 1
            if self._remaining <= 0:
                self.done.set()


def produce_all(producer: ProducerLike, records: Sequence[Record], deadline_s: float) -> None:
    """Produce every record and wait for all their delivery reports; raises KafkaFatalError if any failed."""
    delivery = Delivery(len(records))
    for record in records:
        while True:
            try:
                producer.produce(
                    record.topic, record.value, record.key, headers=record.headers, on_delivery=delivery.report
                )
                break
            except BufferError:  # the local queue is full: let deliveries drain, then try again
                producer.poll(0.1)
    give_up = time.monotonic() + deadline_s
    while not delivery.done.is_set():
        producer.poll(0.05)
        if time.monotonic() > give_up:
            raise KafkaFatalError(f"no delivery report for {len(records)} record(s) within {deadline_s:.0f} s")
    if delivery.errors:
        raise KafkaFatalError(f"could not write {len(delivery.errors)} record(s): {delivery.errors[0]}")
