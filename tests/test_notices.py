"""The lines that tell what happened to messages: each dead letter once written, each retry handed back, and the
"and N more" line of what a route's rate limit held back."""

from __future__ import annotations

import json
import logging

import pytest
from fakes import FakeConsumer, FakeProducer, FakeRaw
from test_worker import RETRY, make_worker

from zig_cli import cli, envelope
from zig_cli.config import Retry
from zig_cli.worker.notices import Notices

NOTICES = "zig_cli.worker.notices"
NO_RETRY = Retry(enabled=False, count=0, type="linear", backoff_ms=100, max_backoff_ms=100, max_held_bytes=1 << 20)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def told(caplog: pytest.LogCaptureFixture) -> list[tuple[str, str]]:
    return [(r.levelname, r.getMessage()) for r in caplog.records if r.name == NOTICES]


def failing(batch: list[object]) -> None:
    raise ValueError("no such customer")


def test_a_dead_letter_is_told_once_its_write_is_acknowledged(caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.INFO, logger=NOTICES)
    producer = FakeProducer(hold=True)
    consumer = FakeConsumer(producer)
    worker = make_worker(failing, producer, retry=NO_RETRY)
    given = [FakeRaw("orders", 3, 41, b"1", b"customer-7"), FakeRaw("orders", 3, 42, b"2")]
    worker.handle(consumer, given[:1])
    assert told(caplog) == [], "not written yet"
    producer.hold = False
    worker.handle(consumer, given[1:])
    reason = "ValueError: no such customer (retry is disabled)"
    assert told(caplog) == [
        ("WARNING", f"route=orders orders[3]@41 key='customer-7' dead-lettered to shop-orders-dead-letter: {reason}"),
        ("WARNING", f"route=orders orders[3]@42 key=None dead-lettered to shop-orders-dead-letter: {reason}"),
    ]
    first = next(r for r in caplog.records if r.name == NOTICES)
    assert (first.route, first.topic, first.partition, first.offset) == ("orders", "orders", 3, 41)  # type: ignore[attr-defined]


def test_a_retry_is_told_as_it_is_handed_back_to_the_handler(caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.INFO, logger=NOTICES)
    producer = FakeProducer()
    worker = make_worker(lambda batch: None, producer, retry=RETRY, delayed=True)
    origin = envelope.Origin("orders", 2, 104, None, 0, None, ())
    record = envelope.forward("shop-orders-retry", origin, b"k", b"1", "orders", 1, "ValueError: x", due_ms=0)
    worker.handle(FakeConsumer(producer), [FakeRaw("shop-orders-retry", 0, 7, b"1", b"k", record.headers)])
    assert told(caplog) == [("INFO", "route=orders orders[2]@104 key='k' handed back to the handler (retry 1)")]
    assert producer.produced == []  # handled: nothing forwarded again


def letter(offset: int) -> envelope.Record:
    origin = envelope.Origin("orders", 0, offset, None, 0, None, ())
    return envelope.forward("dead", origin, b"k", b"v", "orders", 0, "why")


def test_past_the_limit_a_route_tells_how_many_more_once_the_interval_is_over(caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.INFO, logger=NOTICES)
    clock = Clock()
    notices = Notices("orders", limit=2, interval_s=10, clock=clock)
    notices.dead_lettered([letter(1), letter(2), letter(3)])
    notices.dead_lettered([letter(4)])
    notices.flush()  # the interval is not over
    assert [message for _, message in told(caplog)] == [
        "route=orders orders[0]@1 key='k' dead-lettered to dead: why",
        "route=orders orders[0]@2 key='k' dead-lettered to dead: why",
    ]
    caplog.clear()
    clock.now = 10
    notices.flush()
    notices.flush()  # told once
    notices.dead_lettered([letter(5)])  # a new interval
    assert told(caplog) == [
        ("WARNING", "route=orders and 2 more dead-lettered message(s) (at most 2 lines of each kind per 10 s)"),
        ("WARNING", "route=orders orders[0]@5 key='k' dead-lettered to dead: why"),
    ]


def test_what_is_held_back_is_told_when_the_next_interval_begins_or_the_worker_stops(
    caplog: pytest.LogCaptureFixture,
):
    caplog.set_level(logging.INFO, logger=NOTICES)
    clock = Clock()
    notices = Notices("orders", limit=1, interval_s=10, clock=clock)
    raw = FakeRaw("shop-orders-retry", 0, 7, b"1", b"k")
    origin = envelope.Origin("orders", 1, 5, None, 2, 0, ())
    notices.handed_back([raw, raw], [origin, origin])
    clock.now = 11
    notices.handed_back([raw], [origin])  # the held-back count comes first
    notices.handed_back([raw, raw, raw], [origin, origin, origin])
    notices.flush(everything=True)
    more = "handed back to the handler (at most 1 lines of each kind per 10 s)"
    assert [message for _, message in told(caplog)] == [
        "route=orders orders[1]@5 key='k' handed back to the handler (retry 2)",
        f"route=orders and 1 more retried message(s) {more}",
        "route=orders orders[1]@5 key='k' handed back to the handler (retry 2)",
        f"route=orders and 3 more retried message(s) {more}",
    ]


def test_a_route_with_nothing_to_tell_logs_nothing(caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.DEBUG, logger=NOTICES)
    producer = FakeProducer()
    worker = make_worker(lambda batch: None, producer)
    worker.handle(FakeConsumer(producer), [FakeRaw("orders", 0, i, b"1") for i in range(5)])
    worker.runtime.notices.flush(everything=True)
    assert told(caplog) == []


def test_a_reason_on_several_lines_is_one_line_of_text_and_whole_in_the_json_field(caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.INFO, logger=NOTICES)
    origin = envelope.Origin("orders", 0, 9, None, 0, None, ())
    reason = "stock service said:\n500 Internal Server Error"
    Notices("orders").dead_lettered([envelope.forward("dead", origin, b"k", b"v", "orders", 0, reason)])
    assert told(caplog) == [
        (
            "WARNING",
            "route=orders orders[0]@9 key='k' dead-lettered to dead: stock service said:\\n500 Internal Server Error",
        )
    ]
    [record] = caplog.records
    assert json.loads(cli.JsonLines().format(record))["reason"] == reason
