"""zig_cli.testing: handlers run without Kafka, read by zig's own code, so a test sees what zig run would apply."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import pytest
from fakes import FakeConsumer, FakeProducer, FakeRaw
from test_worker import RETRY, make_worker

import zig_cli
from zig_cli import BatchResult, Message, producer, testing
from zig_cli.errors import ContractError


def test_messages_are_built_at_consecutive_offsets_with_their_keys_and_headers():
    batch = testing.messages("a", "b", keys=["k1", "k2"], topic="orders", partition=3, first_offset=10)
    assert [(m.topic, m.partition, m.offset, m.key, m.value) for m in batch] == [
        ("orders", 3, 10, "k1", "a"),
        ("orders", 3, 11, "k2", "b"),
    ]
    one = testing.message({"id": 1}, headers={"trace": "abc"}, retry_count=2, timestamp=5)
    assert (one.headers, one.retry_count, one.timestamp, one.offset) == ((("trace", b"abc"),), 2, 5, 0)
    with pytest.raises(ValueError, match="1 keys for 2 values"):
        testing.messages("a", "b", keys=["k"])


def orders(batch: list[Message]) -> Any:
    return {
        "retry": {m: "stock service timeout" for m in batch if m.value == "slow"},
        "skip": [m for m in batch if m.value == "test"],
        "dead-letter": {m: "no customer" for m in batch if m.value == "anonymous"},
    }


def test_a_batch_answer_comes_back_as_what_zig_applies_to_the_very_messages_given():
    batch = testing.messages("ok", "slow", "test", "anonymous")
    result = testing.run_batch(orders, batch)
    assert result == testing.Applied(
        succeeded=[batch[0]],
        retried=[batch[1]],
        skipped=[batch[2]],
        dead_lettered=[batch[3]],
        reasons={batch[1]: "stock service timeout", batch[3]: "no customer"},
    )


def test_a_handler_that_raises_fails_the_batch_or_with_split_only_the_message_that_raises_alone():
    def poisoned(batch: list[Message]) -> None:
        if any(m.value == "poison" for m in batch):
            raise ValueError("cannot parse")

    batch = testing.messages("a", "poison", "b")
    whole = testing.run_batch(poisoned, batch)
    assert (whole.failed, whole.handler_errors) == (batch, 1)
    assert set(whole.reasons.values()) == {"ValueError: cannot parse"}
    split = testing.run_batch(poisoned, batch, on_handler_error="split")
    assert (split.succeeded, split.failed, split.handler_errors) == ([batch[0], batch[2]], [batch[1]], 2)
    with pytest.raises(ValueError, match="on_handler_error is 'retry-batch' or 'split', not 'retry'"):
        testing.run_batch(poisoned, batch, on_handler_error="retry")


def test_an_answer_zig_cannot_read_raises_the_contract_error_zig_run_stops_on():
    batch = testing.messages("a")
    stranger = testing.message("a")
    with pytest.raises(ContractError, match="which is not a message of this batch"):
        testing.run_batch(lambda given: BatchResult(retry=[stranger]), batch)


def test_named_deserializers_decode_as_zig_does_and_what_does_not_decode_never_reaches_the_handler():
    given: list[Any] = []

    def handler(batch: list[Message]) -> None:
        given.extend((m.key, m.value, m.retry_count) for m in batch)

    batch = [testing.message('{"id": 1}', key="k", retry_count=1), testing.message(b"{", key=b"k")]
    result = testing.run_batch(handler, batch, key_deserializer="string", value_deserializer="json")
    assert given == [("k", {"id": 1}, 1)]
    assert result.succeeded == [batch[0]] and result.dead_lettered == [batch[1]]
    assert result.reasons[batch[1]].startswith("value is not JSON")


def test_async_handlers_run_as_zig_runs_them_in_a_loop_or_awaited_from_one():
    async def batch_handler(batch: list[Message]) -> Any:
        await asyncio.sleep(0)
        return orders(batch)

    async def stream_handler(message: Message) -> Any:
        await asyncio.sleep(0)
        return ("retry", "later") if message.value == "slow" else "success"

    batch = testing.messages("ok", "slow")
    assert testing.run_batch(batch_handler, batch).retried == [batch[1]]
    assert asyncio.run(testing.run_batch_async(batch_handler, batch)).retried == [batch[1]]
    assert testing.run_stream(stream_handler, batch).reasons == {batch[1]: "later"}
    assert asyncio.run(testing.run_stream_async(stream_handler, batch)).retried == [batch[1]]


def test_a_stream_handler_s_answers_each_become_what_zig_applies():
    answers: dict[str, Any] = {
        "ok": "success",
        "slow": ("retry", "db timeout"),
        "test": "skip",
        "bad": ("dead-letter", "no customer id"),
        "weird": 42,
    }

    def handler(message: Message) -> Any:
        if message.value == "boom":
            raise KeyError("customer")
        return answers[message.value]

    stream = testing.messages(*answers, "boom")
    result = testing.run_stream(handler, stream)
    assert result == testing.Applied(
        succeeded=[stream[0]],
        retried=[stream[1]],
        failed=[stream[4], stream[5]],
        skipped=[stream[2]],
        dead_lettered=[stream[3]],
        reasons={
            stream[1]: "db timeout",
            stream[3]: "no customer id",
            stream[4]: "the handler returned 42, not success, retry, skip or dead-letter",
            stream[5]: "KeyError: 'customer'",
        },
        handler_errors=2,
    )


def test_sends_records_what_the_handler_publishes_and_restores_what_was_active():
    def enrich(batch: list[Message]) -> None:
        for m in batch:
            topic, partition, offset = zig_cli.send("forward", "enriched", m.key, {"order": m.value}).result(1)
            assert (topic, partition) == ("enriched", 0) and offset == m.offset
        zig_cli.send("forward", "audit", 4, None, "done", headers={"by": "enrich"})

    active = testing._Recorder()  # what zig run would have activated: its producers
    before = producer.activate(active)
    try:
        with testing.sends() as sent:
            testing.run_batch(enrich, testing.messages(1, 2, keys=["a", "b"]))
        assert producer.activate(before) is active, "what was active before is active again"
    finally:
        producer.activate(before)
    assert sent == [
        testing.Sent("forward", "enriched", "a", {"order": 1}, None, None),
        testing.Sent("forward", "enriched", "b", {"order": 2}, None, None),
        testing.Sent("forward", "audit", None, "done", 4, {"by": "enrich"}),
    ]
    assert active.sent == [], "nothing reached the producers that were active"


@pytest.mark.parametrize("stream", [False, True], ids=["batch", "stream"])
def test_what_testing_reports_is_what_a_worker_forwards(stream: bool):
    """No drift: the same handler through a worker (retry off) dead-letters exactly what testing says, with the same
    reasons."""

    def batch_handler(batch: list[Message]) -> Any:
        return {"retry": {batch[0]: "db timeout"}, "dead-letter": [batch[2]]}

    def stream_handler(message: Message) -> Any:
        return [("retry", "db timeout"), "success", "dead-letter", 42][message.offset]

    handler = stream_handler if stream else batch_handler
    values = [b"1", b"2", b"3", b"4"]
    given = testing.messages(*values)
    result = testing.run_stream(handler, given) if stream else testing.run_batch(handler, given)
    producer = FakeProducer()
    retry_off = dataclasses.replace(RETRY, enabled=False)
    worker = make_worker(handler, producer, retry=retry_off, value="bytes", stream=stream)
    worker.handle(FakeConsumer(producer), [FakeRaw("orders", 0, n, v) for n, v in enumerate(values)])
    forwarded = sorted((r["value"], r["headers"]["zig-error"].decode()) for r in producer.produced)
    retried = [(m.value, f"{result.reasons[m]} (retry is disabled)") for m in result.retried + result.failed]
    dead = [(m.value, result.reasons[m]) for m in result.dead_lettered]
    assert forwarded == sorted(retried + dead)
    assert len(forwarded) == (3 if stream else 2)
