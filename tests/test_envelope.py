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


LINEAR = Retry(enabled=True, count=5, type="linear", backoff_ms=100, max_backoff_ms=1000, max_held_bytes=1 << 26)
EXPONENTIAL = Retry(
    enabled=True, count=5, type="exponential", backoff_ms=100, max_backoff_ms=1000, max_held_bytes=1 << 26
)


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


def test_a_forwarded_message_with_only_zigs_headers_has_no_own_headers():
    record = envelope.forward("r", envelope.read("orders", 0, 1, None, None), b"k", b"v", "orders", 1, "e", due_ms=5)
    origin = envelope.read("r", 2, 9, 77, record.headers)
    assert origin.headers == ()
    assert (origin.topic, origin.partition, origin.offset, origin.timestamp) == ("orders", 0, 1, 77)


def test_headers_zig_writes_that_this_zig_does_not_know_are_not_handed_back_as_the_messages_own():
    record = envelope.forward("r", envelope.read("orders", 0, 1, None, [("trace", b"t")]), b"k", b"v", "o", 1, "e")
    origin = envelope.read("r", 2, 9, 77, [*record.headers, ("zig-something-new", b"x")])
    assert origin.headers == (("trace", b"t"),) and origin.retry_count == 1


def test_a_messages_own_headers_named_like_zigs_are_kept_through_a_retry_and_never_read_as_zigs():
    forged = (("zig-origin-topic", b"evil"), ("zig-retry-count", b"7"), ("trace", b"t"))
    first = envelope.Origin("orders", 3, 42, 1_000, 0, None, forged)  # as the origin topic's message has them
    record = envelope.forward("r", first, b"k", b"v", "orders", 1, "e", due_ms=5)
    again = envelope.read("r", 0, 7, 5, record.headers)
    assert (again.topic, again.partition, again.offset, again.retry_count) == ("orders", 3, 42, 1)
    assert again.headers == forged
    twice = envelope.read("r", 0, 8, 6, envelope.forward("r", again, b"k", b"v", "orders", 2, "e").headers)
    assert (twice.topic, twice.retry_count, twice.headers) == ("orders", 2, forged)


def test_a_record_zig_did_not_forward_keeps_every_header_as_its_own():
    headers = [("zig-error", b"mine"), ("trace", b"t")]
    origin = envelope.read("r", 0, 1, None, headers)
    assert (origin.topic, origin.retry_count, origin.headers) == ("r", 0, tuple(headers))


@pytest.mark.parametrize(
    ("damaged", "expected"),
    [
        ({"zig-origin-partition": b"x"}, ("orders", 2, 42, 1_000, 1)),  # falls back to the consumed partition
        ({"zig-origin-topic": b""}, ("retry-topic", 3, 42, 1_000, 1)),
        ({"zig-origin-timestamp": b""}, ("orders", 3, 42, 5, 1)),
        ({"zig-retry-count": None}, ("orders", 3, 42, 1_000, 0)),
        ({"zig-origin-offset": b"\xff"}, ("orders", 3, 7, 1_000, 1)),
    ],
)
def test_damaged_zig_headers_fall_back_field_by_field(damaged: dict[str, bytes | None], expected: tuple):
    headers = {
        "zig-origin-topic": b"orders",
        "zig-origin-partition": b"3",
        "zig-origin-offset": b"42",
        "zig-origin-timestamp": b"1000",
        "zig-retry-count": b"1",
    } | damaged
    origin = envelope.read("retry-topic", 2, 7, 5, list(headers.items()))
    assert (origin.topic, origin.partition, origin.offset, origin.timestamp, origin.retry_count) == expected


@pytest.mark.parametrize(
    ("data", "text"),
    [(None, None), (b"", ""), ("café".encode(), "café"), (b"\xff-k", "\ufffd-k")],
    ids=["none", "empty", "utf-8", "not utf-8"],
)
def test_decoded_shows_any_bytes_and_keeps_none(data: bytes | None, text: str | None):
    assert envelope.decoded(data) == text


def test_zigs_fields_come_from_zigs_own_headers_only_never_from_the_messages():
    own = (("zig-due-ms", b"123"), ("zig-origin-timestamp", b"42"), ("zig-group", b"evil"))
    record = envelope.forward("dlt", envelope.Origin("orders", 0, 5, None, 0, None, own), b"k", b"v", "r", 5, "x")
    origin = envelope.read("dlt", 0, 9, 2000, record.headers)
    assert (origin.due_ms, origin.timestamp, origin.group, origin.headers) == (None, 2000, None, own)


def test_the_group_a_route_writes_is_read_back():
    origin = envelope.Origin("orders", 0, 5, None, 0, None, ())
    record = envelope.forward("r", origin, b"k", b"v", "o", 1, "x", due_ms=1, group="shop-orders")
    assert envelope.read("r", 0, 1, None, record.headers).group == "shop-orders"
