"""Retry and dead-letter records keep the original message and carry zig's metadata."""

from __future__ import annotations

import pytest

from zig_cli import envelope
from zig_cli.config import Retry


def test_forward_then_read_restores_the_original():
    origin = envelope.read("orders", 3, 42, 1_700_000_000_123, [("trace", b"abc"), ("empty", None)])
    assert origin.retry_count == 0 and origin.due_ms is None
    record = envelope.forward("shop-orders-retry", origin, b"k", b"v", "orders", 1, "ValueError: no", due_ms=99)
    assert (record.topic, record.key, record.value) == ("shop-orders-retry", b"k", b"v")
    headers = dict(record.headers)
    assert headers["zig-origin-topic"] == b"orders"
    assert headers["zig-origin-partition"] == b"3"
    assert headers["zig-origin-offset"] == b"42"
    assert headers["zig-origin-timestamp"] == b"1700000000123"
    assert headers["zig-retry-count"] == b"1"
    assert headers["zig-due-ms"] == b"99"
    assert headers["zig-error"] == b"ValueError: no"
    assert headers["zig-route"] == b"orders"

    again = envelope.read("shop-orders-retry", 0, 7, 5, record.headers)
    assert (again.topic, again.partition, again.offset, again.timestamp) == ("orders", 3, 42, 1_700_000_000_123)
    assert again.retry_count == 1 and again.due_ms == 99
    assert again.headers == (("trace", b"abc"), ("empty", b""))


LINEAR = Retry(enabled=True, count=5, type="linear", backoff_ms=100, max_backoff_ms=1000)
EXPONENTIAL = Retry(enabled=True, count=5, type="exponential", backoff_ms=100, max_backoff_ms=1000)


@pytest.mark.parametrize(
    ("retry", "count", "expected"),
    [
        (LINEAR, 1, 100),
        (LINEAR, 4, 100),
        (EXPONENTIAL, 1, 100),
        (EXPONENTIAL, 2, 300),
        (EXPONENTIAL, 3, 700),
        (EXPONENTIAL, 4, 1000),
        (EXPONENTIAL, 200, 1000),
    ],
)
def test_backoff(retry: Retry, count: int, expected: int):
    assert envelope.backoff_ms(retry, count) == expected
