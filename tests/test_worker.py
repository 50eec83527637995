"""Worker: outcomes applied before offsets are stored, with fakes for the consumer and producer."""

from __future__ import annotations

import dataclasses
import json
import re
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from confluent_kafka import KafkaError, TopicPartition
from fakes import FakeConsumer, FakeProducer, FakeRaw
from helpers import flat_config

from zig_cli import codecs, config
from zig_cli.config import Retry
from zig_cli.contract import Message, Outcome
from zig_cli.errors import ContractError, KafkaFatalError
from zig_cli.runner import build_worker
from zig_cli.stats import RouteStats
from zig_cli.worker import RouteRuntime, Worker
from zig_cli.worker import batch as batches
from zig_cli.worker.gate import RetryGate

RETRY = Retry(enabled=True, count=2, type="linear", backoff_ms=1000, max_backoff_ms=10_000, max_held_bytes=1 << 26)


def make_worker(
    handler: Callable[[list[Message]], Any],
    producer: FakeProducer,
    retry: Retry = RETRY,
    value: str = "json",
    delayed: bool = False,
    stream: bool = False,
    oldest_ms: int | None = None,
    **overrides: Any,
) -> Worker:
    fields: dict[str, Any] = {
        "name": "orders",
        "handler": handler,
        "subscription": "orders",
        "plain_topic": True,
        "max_records": 500,
        "poll_timeout_s": 0.1,
        "key_decoder": codecs.decoder("string"),
        "value_decoder": codecs.decoder(value),
        "retry": retry,
        "retry_topic": "shop-orders-retry",
        "dead_letter_topic": "shop-orders-dead-letter",
        "producer": producer,
        "stats": RouteStats(),
        "delivery_deadline_s": 5,
        "stream": stream,
        "oldest_ms": oldest_ms,
    }
    runtime = RouteRuntime(**(fields | overrides))
    return build_worker(runtime, lambda callbacks: FakeConsumer(producer), threading.Event(), retrying=delayed)


def raws(*values: bytes | None, partition: int = 0, start: int = 10) -> list[FakeRaw]:
    return [FakeRaw("orders", partition, start + i, v, f"k{i}".encode()) for i, v in enumerate(values)]


def test_success_stores_the_next_offset_of_each_partition():
    producer = FakeProducer()
    consumer = FakeConsumer(producer)
    seen: list[Message] = []
    worker = make_worker(lambda batch: seen.extend(batch), producer)
    worker.handle(consumer, raws(b"1", b"2") + raws(b"3", partition=1, start=5))
    assert [(m.partition, m.offset, m.key, m.value) for m in seen] == [
        (0, 10, "k0", 1),
        (0, 11, "k1", 2),
        (1, 5, "k0", 3),
    ]
    assert sorted(consumer.stored) == [("orders", 0, 12), ("orders", 1, 6)]
    assert producer.produced == []
    assert worker.runtime.stats.snapshot().succeeded == 3


def test_a_message_of_another_partition_filling_an_offset_gap_is_still_its_partitions():
    # A transaction's commit marker leaves offset 15 of partition 0 out; partition 1's one message takes its place in
    # the batch, so the first and last messages alone look like one unbroken run of partition 0.
    producer = FakeProducer()
    consumer = FakeConsumer(producer)
    worker = make_worker(lambda batch: None, producer)
    batch = raws(b"1", b"2", b"3", b"4", b"5", start=10) + raws(b"6", partition=1, start=7)
    batch += raws(b"7", b"8", b"9", b"10", b"11", start=16)
    worker.handle(consumer, batch)
    assert sorted(consumer.stored) == [("orders", 0, 21), ("orders", 1, 8)]


@pytest.mark.parametrize("concurrency", [1, 4])
def test_a_pattern_routes_batch_with_another_topic_between_one_partitions_messages_stores_both(concurrency: int):
    # orders[0] and payments[0] interleaved: the first and the last message are both orders[0]
    producer = FakeProducer()
    consumer = FakeConsumer(producer)
    seen: list[tuple[str, int]] = []
    worker = make_worker(
        lambda batch: seen.extend((m.topic, m.offset) for m in batch) or None,
        producer,
        subscription="^(orders|payments)$",
        plain_topic=False,
        concurrency=concurrency,
        ordering="partition",
    )
    batch = [FakeRaw("orders", 0, 10, b"1"), FakeRaw("payments", 0, 5, b"2"), FakeRaw("orders", 0, 11, b"3")]
    worker.handle(consumer, batch)
    assert sorted(consumer.stored) == [("orders", 0, 12), ("payments", 0, 6)]
    assert [offset for topic, offset in seen if topic == "orders"] == [10, 11], "each partition's order kept"


def test_retry_is_written_and_acknowledged_before_offsets_are_stored():
    producer = FakeProducer()
    consumer = FakeConsumer(producer)
    worker = make_worker(lambda batch: {"retry": [batch[1]], "skip": [batch[0]]}, producer)
    before = int(time.time() * 1000)
    worker.handle(consumer, raws(b"1", b"2", b"3"))
    [record] = producer.produced
    assert record["topic"] == "shop-orders-retry"
    assert (record["key"], record["value"]) == (b"k1", b"2")
    assert record["headers"]["zig-retry-count"] == b"1"
    assert record["headers"]["zig-origin-offset"] == b"11"
    assert int(record["headers"]["zig-due-ms"]) >= before + 1000
    assert consumer.stored == [("orders", 0, 13)]
    assert consumer.delivered_when_stored == [1]
    snapshot = worker.runtime.stats.snapshot()
    assert (snapshot.succeeded, snapshot.retried, snapshot.skipped) == (1, 1, 1)


def test_handler_exception_retries_the_whole_batch(caplog: pytest.LogCaptureFixture):
    producer = FakeProducer()
    consumer = FakeConsumer(producer)

    def boom(batch: list[Message]) -> None:
        raise ValueError("database down")

    worker = make_worker(boom, producer)
    worker.handle(consumer, raws(b"1", b"2"))
    assert [r["topic"] for r in producer.produced] == ["shop-orders-retry"] * 2
    assert producer.produced[0]["headers"]["zig-error"] == b"ValueError: database down"
    assert consumer.stored == [("orders", 0, 12)]
    [logged] = [r for r in caplog.records if r.levelname == "ERROR"]
    assert logged.getMessage() == (
        "route=orders handler raised on orders[0]@10..11; the batch failed "
        "(retried, or dead-lettered when retry is off or spent)"
    )
    assert worker.runtime.stats.snapshot().handler_errors == 1


def test_contract_error_stores_nothing():
    producer = FakeProducer()
    consumer = FakeConsumer(producer)
    worker = make_worker(lambda batch: "oops", producer)
    with pytest.raises(ContractError, match="route 'orders': handler returned 'oops'"):
        worker.handle(consumer, raws(b"1"))
    assert consumer.stored == []
    assert producer.produced == []


def test_message_that_does_not_decode_goes_to_the_dead_letter_topic():
    producer = FakeProducer()
    consumer = FakeConsumer(producer)
    seen: list[Message] = []
    worker = make_worker(lambda batch: seen.extend(batch), producer)
    worker.handle(consumer, raws(b'{"a": 1}', b"not json", b"2"))
    assert [m.value for m in seen] == [{"a": 1}, 2]
    [record] = producer.produced
    assert record["topic"] == "shop-orders-dead-letter"
    assert record["value"] == b"not json"
    assert record["headers"]["zig-error"].startswith(b"value is not JSON: Expecting value")
    assert consumer.stored == [("orders", 0, 13)]


def test_a_retried_message_that_does_not_decode_is_dead_lettered_with_its_first_origin():
    producer = FakeProducer()
    worker = make_worker(lambda batch: None, producer, delayed=True)
    headers = [
        ("zig-origin-topic", b"orders"),
        ("zig-origin-partition", b"3"),
        ("zig-origin-offset", b"41"),
        ("zig-retry-count", b"0"),
        ("zig-due-ms", b"0"),
    ]
    worker.handle(FakeConsumer(producer), [FakeRaw("shop-orders-retry", 0, 7, b"not json", b"k", headers)])
    [record] = producer.produced
    assert record["topic"] == "shop-orders-dead-letter"
    origin = (record["headers"]["zig-origin-topic"], record["headers"]["zig-origin-partition"])
    assert (*origin, record["headers"]["zig-origin-offset"]) == (b"orders", b"3", b"41")


def test_a_retry_worker_hands_over_only_its_own_groups_retries(caplog: pytest.LogCaptureFixture):
    caplog.set_level("INFO")
    producer = FakeProducer()
    consumer = FakeConsumer(producer)
    seen: list[Message] = []
    worker = make_worker(lambda batch: seen.extend(batch), producer, delayed=True, group="orders-group")

    def retried(offset: int, group: bytes | None) -> FakeRaw:
        headers = [
            ("zig-origin-topic", b"orders"),
            ("zig-origin-partition", b"0"),
            ("zig-origin-offset", b"%d" % offset),
        ]
        headers += [("zig-retry-count", b"1"), ("zig-due-ms", b"0")] + ([("zig-group", group)] if group else [])
        return FakeRaw("shop-orders-retry", 0, offset, b"1", b"k", headers)

    worker.handle(consumer, [retried(0, b"orders-group"), retried(1, b"old-group"), retried(2, None), retried(3, None)])
    assert [m.offset for m in seen] == [0, 2, 3]  # written before zig named the group: handled as before
    assert producer.produced == [] and consumer.stored == [("shop-orders-retry", 0, 4)]
    assert worker.runtime.stats.snapshot().skipped == 1
    [logged] = [r.getMessage() for r in caplog.records if "belong to the group" in r.getMessage()]
    assert "skipped 1 retry written by consumer group(s) 'old-group'" in logged
    handed = [r.getMessage() for r in caplog.records if "handed back" in r.getMessage()]
    assert [line.split()[1] for line in handed] == ["orders[0]@0", "orders[0]@2", "orders[0]@3"]


def test_a_handlers_answer_names_the_messages_it_was_given_past_another_groups_retry():
    producer = FakeProducer()
    consumer = FakeConsumer(producer)
    worker = make_worker(lambda batch: {"retry": [batch[-1]]}, producer, delayed=True, group="orders-group")

    def retried(offset: int, group: bytes) -> FakeRaw:
        headers = [
            ("zig-origin-topic", b"orders"),
            ("zig-origin-partition", b"0"),
            ("zig-origin-offset", b"%d" % offset),
        ]
        headers += [("zig-retry-count", b"0"), ("zig-due-ms", b"0"), ("zig-group", group)]
        return FakeRaw("shop-orders-retry", 0, offset, b"1", b"k", headers)

    worker.handle(consumer, [retried(0, b"old-group"), retried(1, b"orders-group"), retried(2, b"orders-group")])
    [record] = producer.produced
    assert record["headers"]["zig-origin-offset"] == b"2"  # the message named, not the one before it


def test_retries_and_dead_letters_name_the_group_of_the_route_that_wrote_them():
    producer = FakeProducer()
    worker = make_worker(lambda batch: {"retry": batch}, producer, group="orders-group")
    worker.handle(FakeConsumer(producer), raws(b"1"))
    assert [r["headers"]["zig-group"] for r in producer.produced] == [b"orders-group"]


def test_headers_named_like_zigs_on_the_origin_topic_are_the_messages_own():
    producer = FakeProducer()
    consumer = FakeConsumer(producer)
    seen: list[Message] = []
    forged = [("zig-origin-topic", b"evil"), ("zig-retry-count", b"7"), ("zig-origin-offset", b"1")]
    worker = make_worker(lambda batch: seen.extend(batch) or {"retry": batch}, producer)
    worker.handle(consumer, [FakeRaw("orders", 0, 10, b"1", b"k", forged)])
    [message] = seen
    assert (message.topic, message.offset, message.retry_count) == ("orders", 10, 0)
    assert message.headers == tuple(forged)
    [record] = producer.produced  # its headers as a dict: zig's, written last, win
    assert record["headers"]["zig-origin-topic"] == b"orders"
    assert (record["headers"]["zig-origin-offset"], record["headers"]["zig-retry-count"]) == (b"10", b"1")


def test_retries_exhausted_go_to_the_dead_letter_topic():
    producer = FakeProducer()
    consumer = FakeConsumer(producer)
    worker = make_worker(lambda batch: {"retry": batch}, producer, delayed=True)
    headers = [
        ("zig-origin-topic", b"orders"),
        ("zig-origin-partition", b"0"),
        ("zig-origin-offset", b"4"),
        ("zig-retry-count", b"2"),
        ("zig-due-ms", b"0"),
    ]
    worker.handle(consumer, [FakeRaw("shop-orders-retry", 0, 0, b"1", b"k", headers)])
    [record] = producer.produced
    assert record["topic"] == "shop-orders-dead-letter"
    assert record["headers"]["zig-retry-count"] == b"2"
    assert record["headers"]["zig-error"] == b"the handler asked for a retry (retried 2 time(s))"


def test_retry_disabled_sends_retries_to_the_dead_letter_topic():
    producer = FakeProducer()
    off = Retry(enabled=False, count=5, type="linear", backoff_ms=1, max_backoff_ms=1, max_held_bytes=1 << 26)
    worker = make_worker(lambda batch: {"retry": batch}, producer, retry=off)
    worker.handle(FakeConsumer(producer), raws(b"1"))
    assert [r["topic"] for r in producer.produced] == ["shop-orders-dead-letter"]
    assert producer.produced[0]["headers"]["zig-error"] == b"the handler asked for a retry (retry is disabled)"


def test_without_retry_settings_a_raising_handler_dead_letters_the_batch_with_the_reason():
    """Retry is off by default, as in Ziggurat; unlike Ziggurat, which dropped such messages, zig dead-letters them."""
    default_retry = config.validate(flat_config(), "c.edn", {}).route("orders").retry
    assert default_retry.enabled is False

    def raises(batch: list[Message]) -> None:
        raise ValueError("db down")

    producer = FakeProducer()
    consumer = FakeConsumer(producer)
    make_worker(raises, producer, retry=default_retry).handle(consumer, raws(b"1", b"2"))
    assert [r["topic"] for r in producer.produced] == ["shop-orders-dead-letter"] * 2
    assert {r["headers"]["zig-error"] for r in producer.produced} == {b"ValueError: db down (retry is disabled)"}
    assert consumer.stored == [("orders", 0, 12)]


def test_retry_topic_messages_wait_until_due():
    producer = FakeProducer()
    consumer = FakeConsumer(producer)
    seen: list[Message] = []
    worker = make_worker(lambda batch: seen.extend(batch), producer, delayed=True)
    later = str(int(time.time() * 1000) + 60_000).encode()

    def retried(offset: int, partition: int, due: bytes) -> FakeRaw:
        headers = [
            ("h", b"1"),
            ("zig-origin-topic", b"orders"),
            ("zig-origin-partition", b"2"),
            ("zig-origin-offset", str(100 + offset).encode()),
            ("zig-retry-count", b"1"),
            ("zig-due-ms", due),
        ]
        return FakeRaw("shop-orders-retry", partition, offset, json.dumps(offset).encode(), b"k", headers)

    worker.handle(consumer, [retried(0, 0, b"0"), retried(1, 0, later), retried(2, 0, b"0"), retried(0, 1, b"0")])
    assert [(m.topic, m.partition, m.offset, m.retry_count, m.headers) for m in seen] == [
        ("orders", 2, 100, 1, (("h", b"1"),)),
        ("orders", 2, 100, 1, (("h", b"1"),)),
    ]
    assert sorted(consumer.stored) == [("shop-orders-retry", 0, 1), ("shop-orders-retry", 1, 1)]
    worker.handle_due(consumer)  # not due for a minute: still held
    assert len(seen) == 2
    assert consumer.paused == []  # a few held messages do not stop fetching


def test_held_retry_messages_are_handled_in_order_once_due_then_the_partition_resumes():
    producer = FakeProducer()
    consumer = FakeConsumer(producer)
    seen: list[int] = []
    clock = {"ms": 1_000_000}
    worker = make_worker(
        lambda batch: seen.extend(m.offset for m in batch), producer, delayed=True, clock=lambda: clock["ms"]
    )
    now = clock["ms"]

    def retried(offset: int, due_ms: int) -> FakeRaw:
        headers = [
            ("zig-origin-topic", b"orders"),
            ("zig-origin-partition", b"0"),
            ("zig-origin-offset", str(offset).encode()),
            ("zig-retry-count", b"1"),
            ("zig-due-ms", str(due_ms).encode()),
        ]
        return FakeRaw("shop-orders-retry", 0, offset, b"1", b"k", headers)

    # 1 falls due soon; 2 is already due but waits behind it; 3 is due in a minute
    worker.handle(consumer, [retried(0, 0), retried(1, now + 300), retried(2, 0), retried(3, now + 60_000)])
    assert seen == [0]
    clock["ms"] = now + 301
    worker.handle_due(consumer)
    assert seen == [0, 1, 2]
    assert consumer.stored[-1] == ("shop-orders-retry", 0, 3)
    worker._on_revoke(consumer, [TopicPartition("shop-orders-retry", 0)])
    worker.handle_due(consumer)
    assert seen == [0, 1, 2]  # a revoked partition's held messages are left for its next owner


def test_a_cooperative_revoke_takes_only_the_partitions_that_move():
    """The consumer protocol (and cooperative-sticky) revokes only what moves: the rest goes on, held retries too."""
    producer = FakeProducer()
    consumer = FakeConsumer(producer)
    seen: list[tuple[int, int]] = []
    clock = {"ms": 1_000_000}
    worker = make_worker(
        lambda batch: seen.extend((m.partition, m.offset) for m in batch),
        producer,
        delayed=True,
        clock=lambda: clock["ms"],
    )
    due = clock["ms"] + 100

    def retried(partition: int, offset: int) -> FakeRaw:
        headers = [("zig-origin-topic", b"orders"), ("zig-origin-partition", str(partition).encode())]
        headers += [("zig-origin-offset", str(offset).encode()), ("zig-retry-count", b"1")]
        headers += [("zig-due-ms", str(due).encode())]
        return FakeRaw("shop-orders-retry", partition, offset, b"1", b"k", headers)

    def retry_partitions(*numbers: int) -> list[TopicPartition]:
        return [TopicPartition("shop-orders-retry", n) for n in numbers]

    worker._on_assign(consumer, retry_partitions(0, 1, 2, 3))
    worker.handle(consumer, [retried(0, 5), retried(2, 7)])
    assert seen == []  # both held until due
    worker._on_revoke(consumer, retry_partitions(2, 3))
    assert worker.assignment.unready is None, "it still consumes partitions 0 and 1"
    clock["ms"] = due + 1
    worker.handle_due(consumer)
    assert seen == [(0, 5)], "partition 0's held retry stays; partition 2's is left to its next owner"
    assert consumer.stored[-1] == ("shop-orders-retry", 0, 6)
    worker._on_assign(consumer, retry_partitions(4))  # only the partition added
    worker._on_revoke(consumer, retry_partitions(0, 1))
    assert worker.assignment.unready is None, "it still consumes partition 4"
    worker._on_revoke(consumer, retry_partitions(4))
    assert worker.assignment.unready == "was revoked and is rejoining its group"


def test_a_paused_partition_that_leaves_is_resumed_so_it_fetches_again_if_it_comes_back():
    producer = FakeProducer()
    consumer = FakeConsumer(producer)
    clock = {"ms": 1_000_000}
    worker = make_worker(lambda batch: None, producer, delayed=True, clock=lambda: clock["ms"])
    worker.gate = RetryGate("orders", RETRY.max_held_bytes, worker.runtime.clock, hold_limit=1)
    headers = [("zig-origin-topic", b"orders"), ("zig-retry-count", b"1"), ("zig-due-ms", str(clock["ms"] + 200))]
    held = [FakeRaw("shop-orders-retry", p, 0, b"1", b"k", [(k, str(v).encode()) for k, v in headers]) for p in (0, 1)]
    worker.handle(consumer, held)
    assert sorted(consumer.paused) == [("shop-orders-retry", 0), ("shop-orders-retry", 1)]
    worker._on_revoke(consumer, [TopicPartition("shop-orders-retry", 0)])
    assert consumer.resumed == [("shop-orders-retry", 0)], "librdkafka would keep it paused if it came back"
    worker._on_lost(consumer, [TopicPartition("shop-orders-retry", 1)])
    assert consumer.resumed == [("shop-orders-retry", 0), ("shop-orders-retry", 1)]


def test_a_partition_holding_too_many_messages_is_paused_until_they_are_out():
    producer = FakeProducer()
    consumer = FakeConsumer(producer)
    seen: list[int] = []
    clock = {"ms": 1_000_000}
    worker = make_worker(
        lambda batch: seen.extend(m.offset for m in batch), producer, delayed=True, clock=lambda: clock["ms"]
    )
    worker.gate = RetryGate("orders", RETRY.max_held_bytes, worker.runtime.clock, hold_limit=3)
    soon = clock["ms"] + 200

    def retried(offset: int) -> FakeRaw:
        headers = [("zig-origin-topic", b"orders"), ("zig-retry-count", b"1"), ("zig-due-ms", str(soon).encode())]
        return FakeRaw("shop-orders-retry", 0, offset, b"1", b"k", headers)

    worker.handle(consumer, [retried(0), retried(1)])
    assert consumer.paused == []
    worker.handle(consumer, [retried(2), retried(3)])  # the third held message pauses the partition, once
    assert consumer.paused == [("shop-orders-retry", 0)]
    assert seen == []
    clock["ms"] = soon + 1
    worker.handle_due(consumer)
    assert seen == [0, 1, 2, 3]
    assert consumer.resumed == [("shop-orders-retry", 0)]
    assert consumer.stored[-1] == ("shop-orders-retry", 0, 4)


def test_held_messages_past_the_byte_cap_pause_their_partitions_until_they_are_out():
    producer = FakeProducer()
    consumer = FakeConsumer(producer)
    seen: list[tuple[int, int]] = []
    clock = {"ms": 1_000_000}
    worker = make_worker(
        lambda batch: seen.extend((m.partition, m.offset) for m in batch),
        producer,
        retry=dataclasses.replace(RETRY, max_held_bytes=250),
        value="bytes",
        delayed=True,
        clock=lambda: clock["ms"],
    )
    soon = clock["ms"] + 200

    def retried(partition: int, offset: int) -> FakeRaw:
        headers = [("zig-origin-topic", b"orders"), ("zig-retry-count", b"1"), ("zig-due-ms", str(soon).encode())]
        return FakeRaw("shop-orders-retry", partition, offset, b"v" * 99, b"k", headers)  # 100 bytes each

    worker.handle(consumer, [retried(0, 0), retried(1, 0)])
    assert consumer.paused == []
    worker.handle(consumer, [retried(1, 1)])  # 300 bytes held in all: the partition that added them pauses
    assert consumer.paused == [("shop-orders-retry", 1)]
    worker.handle(consumer, [retried(0, 1)])  # still over the cap: so does the next one
    assert consumer.paused == [("shop-orders-retry", 1), ("shop-orders-retry", 0)]
    clock["ms"] = soon + 1
    worker.handle_due(consumer)
    assert len(seen) == 4
    assert sorted(consumer.resumed) == [("shop-orders-retry", 0), ("shop-orders-retry", 1)]
    assert worker.gate.held_bytes == 0
    worker.handle(consumer, [retried(0, 2), retried(0, 3)])
    assert len(consumer.paused) == 2, "the count starts again from nothing once the held messages are out"


def test_failed_delivery_is_fatal_and_stores_nothing():
    producer = FakeProducer(fail="broker gone")
    consumer = FakeConsumer(producer)
    worker = make_worker(lambda batch: {"retry": batch}, producer)
    with pytest.raises(KafkaFatalError, match="could not write 1 record"):
        worker.handle(consumer, raws(b"1"))
    assert consumer.stored == []


def test_fatal_consumer_error_stops_the_worker():
    producer = FakeProducer()
    worker = make_worker(lambda batch: None, producer)
    denied = KafkaError(KafkaError.TOPIC_AUTHORIZATION_FAILED, "Not authorized to access topics: [orders]")
    with pytest.raises(KafkaFatalError, match="Not authorized"):
        worker.handle(FakeConsumer(producer), [FakeRaw("orders", 0, 0, None, _error=denied)])
    assert worker.stop.is_set()


def test_a_session_timeout_the_broker_refuses_stops_the_worker_naming_the_setting():
    producer = FakeProducer()
    worker = make_worker(lambda batch: None, producer)
    refused = KafkaError(KafkaError.INVALID_SESSION_TIMEOUT, "JoinGroup failed: Broker: Invalid session timeout")
    with pytest.raises(KafkaFatalError) as raised:
        worker.handle(FakeConsumer(producer), [FakeRaw("orders", 0, 0, None, _error=refused)])
    assert str(raised.value) == (
        "route 'orders': JoinGroup failed: Broker: Invalid session timeout: the broker refuses the route's "
        "session-timeout-ms-config: set it between the broker's group.min.session.timeout.ms and "
        "group.max.session.timeout.ms (Apache Kafka's defaults: 6000 and 1800000)"
    )
    assert worker.stop.is_set()


def test_stream_outcomes_each_do_what_they_say(caplog: pytest.LogCaptureFixture):
    producer = FakeProducer()
    consumer = FakeConsumer(producer)
    answers: dict[int, Any] = {
        1: "success",
        2: "retry",
        3: "skip",
        4: "dead-letter",
        5: ":success",
        6: Outcome.SKIP,
        7: "sideways",
        8: ValueError("nope"),
    }
    seen: list[int] = []

    def handle(message: Message) -> Any:
        seen.append(message.value)
        answer = answers[message.value]
        if isinstance(answer, Exception):
            raise answer
        return answer

    worker = make_worker(handle, producer, stream=True)
    worker.handle(consumer, raws(*[str(n).encode() for n in answers]))
    assert seen == list(answers)
    assert [(r["topic"], r["value"], r["headers"]["zig-error"]) for r in producer.produced] == [
        ("shop-orders-retry", b"2", b"the handler asked for a retry"),
        ("shop-orders-dead-letter", b"4", b"the handler asked for a dead letter"),
        ("shop-orders-retry", b"7", b"the handler returned 'sideways', not success, retry, skip or dead-letter"),
        ("shop-orders-retry", b"8", b"ValueError: nope"),
    ]
    assert consumer.stored == [("orders", 0, 18)]
    snapshot = worker.runtime.stats.snapshot()
    assert (snapshot.succeeded, snapshot.retried, snapshot.skipped, snapshot.dead_lettered) == (2, 3, 2, 1)
    assert snapshot.handler_errors == 2
    logged = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert logged == [
        "route=orders orders[0]@16 handler returned 'sideways', not success, retry, skip or dead-letter; "
        "the message failed (retried, or dead-lettered when retry is off or spent)",
        "route=orders orders[0]@17 handler raised; the message failed "
        "(retried, or dead-lettered when retry is off or spent)",
    ]


def test_stream_skips_messages_older_than_the_limit_before_the_handler():
    producer = FakeProducer()
    consumer = FakeConsumer(producer)
    seen: list[Any] = []
    worker = make_worker(lambda m: seen.append(m.value) or "success", producer, stream=True, oldest_ms=60_000)
    now = int(time.time() * 1000)
    old = FakeRaw("orders", 0, 0, b"1", _timestamp=now - 120_000)
    fresh = FakeRaw("orders", 0, 1, b"2", _timestamp=now)
    worker.handle(consumer, [old, fresh])
    assert seen == [2]
    assert consumer.stored == [("orders", 0, 2)]
    snapshot = worker.runtime.stats.snapshot()
    assert (snapshot.too_old, snapshot.skipped, snapshot.succeeded) == (1, 1, 1)


def test_a_stopping_stream_worker_finishes_the_message_in_hand_only():
    producer = FakeProducer()
    consumer = FakeConsumer(producer)
    seen: list[Any] = []
    worker = make_worker(lambda m: seen.append(m.value) or worker.stop.set() or "success", producer, stream=True)
    worker.handle(consumer, raws(b"1", b"2", b"3"))
    assert seen == [1]
    assert consumer.stored == [("orders", 0, 11)]


def test_later_batches_wait_for_an_earlier_batch_s_writes_before_storing():
    producer = FakeProducer(hold=True)
    consumer = FakeConsumer(producer)
    worker = make_worker(lambda batch: {"retry": [m for m in batch if m.value == 1]}, producer)
    worker.handle(consumer, raws(b"1", b"2"))  # a retry: its offsets wait for the write
    worker.handle(consumer, raws(b"3", start=12))  # all succeeded, but may not pass the batch before it
    assert consumer.stored == []
    producer.hold = False
    producer.poll()
    worker.handle(consumer, raws(b"4", start=13))
    assert consumer.stored == [("orders", 0, 14)]
    assert consumer.delivered_when_stored == [1]


def test_a_retry_due_this_very_millisecond_waits_for_the_next():
    # Times are whole milliseconds: handling at the due millisecond could be up to 1 ms before the backoff ends.
    now = {"ms": 1_000}
    producer = FakeProducer()
    consumer = FakeConsumer(producer)
    seen: list[int] = []
    worker = make_worker(
        lambda batch: seen.extend(m.offset for m in batch), producer, delayed=True, clock=lambda: now["ms"]
    )
    headers = [("zig-origin-topic", b"orders"), ("zig-retry-count", b"1"), ("zig-due-ms", b"1000")]
    worker.handle(consumer, [FakeRaw("shop-orders-retry", 0, 7, b"1", b"k", headers)])
    worker.handle_due(consumer)
    assert seen == []
    now["ms"] = 1_001
    worker.handle_due(consumer)
    assert seen == [7]


@pytest.mark.parametrize(
    ("batch", "firsts", "lasts"),
    [
        ([], {}, {}),
        (raws(b"1", b"2", b"3"), {("orders", 0): 10}, {("orders", 0): 12}),
        # first and last of one partition, offsets close enough, but another partition's message in between
        (
            raws(b"1") + raws(b"2", partition=1) + raws(b"3", start=11),
            {("orders", 0): 10, ("orders", 1): 10},
            {("orders", 0): 11, ("orders", 1): 10},
        ),
        # a gap in the offsets (a compacted topic): still one partition, found the long way
        (raws(b"1") + raws(b"2", start=15), {("orders", 0): 10}, {("orders", 0): 15}),
        (
            raws(b"1", b"2") + raws(b"3", b"4", partition=2, start=3),
            {("orders", 0): 10, ("orders", 2): 3},
            {("orders", 0): 11, ("orders", 2): 4},
        ),
    ],
    ids=["empty", "one run", "interleaved", "gap", "two runs"],
)
def test_first_and_last_message_of_each_partition(
    batch: list[FakeRaw], firsts: dict[tuple[str, int], int], lasts: dict[tuple[str, int], int]
):
    assert {where: raw.offset() for where, raw in batches.firsts(batch).items()} == firsts
    assert {where: raw.offset() for where, raw in batches.lasts(batch).items()} == lasts


def test_a_deserializer_that_raises_anything_sends_the_message_to_the_dead_letter_topic():
    producer = FakeProducer()
    consumer = FakeConsumer(producer)
    seen: list[Message] = []

    def fragile(data: bytes | None) -> Any:
        if data == b"poison":
            raise MemoryError("the decoder gave up")
        return data

    worker = make_worker(lambda batch: seen.extend(batch), producer, value_decoder=fragile)
    worker.handle(consumer, raws(b"1", b"poison", b"2"))
    assert [m.value for m in seen] == [b"1", b"2"]
    [record] = producer.produced
    assert (record["topic"], record["value"]) == ("shop-orders-dead-letter", b"poison")
    assert record["headers"]["zig-error"] == b"value could not be decoded: MemoryError: the decoder gave up"
    assert consumer.stored == [("orders", 0, 13)]


def test_a_stream_handler_s_exception_that_cannot_be_shown_is_still_a_retry():
    class Unprintable(Exception):
        def __str__(self) -> str:
            raise RuntimeError("no")

    def handle(message: Message) -> Any:
        raise Unprintable()

    producer = FakeProducer()
    consumer = FakeConsumer(producer)
    worker = make_worker(handle, producer, stream=True)
    worker.handle(consumer, raws(b"1"))
    [record] = producer.produced
    assert record["headers"]["zig-error"] == b"Unprintable: <its message raised RuntimeError>"
    assert consumer.stored == [("orders", 0, 11)]


def test_a_retry_copy_the_producer_refuses_stops_the_route_naming_the_message_and_storing_nothing():
    producer = FakeProducer(max_value_bytes=1000)
    consumer = FakeConsumer(producer)
    worker = make_worker(
        lambda batch: {"skip": [batch[0]], "retry": [batch[1], batch[2]]},
        producer,
        value="bytes",
        max_message_bytes=1000,
    )
    big = b"x" * 1001
    with pytest.raises(KafkaFatalError) as caught:
        worker.handle(consumer, raws(b"1", b"2", big))
    found = re.fullmatch(
        r"route 'orders': cannot write the retry copy of orders\[0\]@12 to 'shop-orders-retry': (\d),(\d{3}) bytes "
        r"of key, value and headers \(zig's included\) and the record's own overhead are over the producer's "
        r"message.max.bytes of 1,000; raise it in the route's :producer kafka-properties \(and the topic's "
        r"max.message.bytes on the broker\)",
        str(caught.value),
    )
    assert found, str(caught.value)
    assert int(found[1] + found[2]) > len(big) + len(b"k2"), "the size counts the value, the key and the headers"
    assert consumer.stored == []


def test_readiness_follows_the_assignment():
    producer = FakeProducer()
    consumer = FakeConsumer(producer)
    worker = make_worker(lambda batch: None, producer)
    assert worker.assignment.unready == "has not joined its group yet"
    partitions = [TopicPartition("orders", 0)]
    worker._on_assign(consumer, partitions)
    assert worker.assignment.unready is None
    worker._on_lost(consumer, partitions)
    assert worker.assignment.unready == "lost its partitions and is rejoining its group"
    worker._on_assign(consumer, [])  # assigned nothing (more members than partitions) is still in the group
    assert worker.assignment.unready is None
    worker._on_revoke(consumer, partitions)
    assert worker.assignment.unready == "was revoked and is rejoining its group"
