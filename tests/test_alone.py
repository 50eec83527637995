"""on-handler-error split: a batch whose handler raised is handed over one message at a time, on every path a batch
route takes (inline, a pool of threads, an event loop)."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import threading
from typing import Any

import pytest
from fakes import FakeConsumer, FakeProducer, FakeRaw
from test_deciding import batch_of
from test_worker import RETRY, make_worker

from zig_cli.contract import Message
from zig_cli.errors import ContractError
from zig_cli.worker.alone import decide_split, decide_split_async
from zig_cli.worker.deciding import Decision, Verdict


def poisoned(batch: list[Message]) -> Any:
    """Raises on any batch holding the poison order (value 3); of the others, asks to retry value 2 with a reason."""
    if any(m.value == 3 for m in batch):
        raise ValueError("cannot parse order 3")
    return {"retry": {m: "stock service timeout" for m in batch if m.value == 2}}


def test_only_the_message_that_raises_alone_fails_and_the_others_say_what_they_say(caplog: pytest.LogCaptureFixture):
    calls: list[int] = []

    def handle(batch: list[Message]) -> Any:
        calls.append(len(batch))
        return poisoned(batch)

    times: list[float] = []
    decision = decide_split(batch_of(b"1", b"2", b"3", b"oops", b"4"), "orders", handle, times.append)
    assert decision == Decision(
        5,
        {
            1: (Verdict.RETRY, "stock service timeout"),
            2: (Verdict.FAILED, "ValueError: cannot parse order 3"),
            3: (Verdict.DEAD_LETTER, "value is not JSON: Expecting value: line 1 column 1 (char 0)"),
        },
        2,
    )
    assert calls == [4, 1, 1, 1, 1], "the batch once, then each decoded message alone"
    assert len(times) == 5, "every call is timed"
    logged = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert logged == [
        "route=orders handler raised on orders[0]@0..4; handing its 4 messages to it one at a time "
        "(on-handler-error split)",
        "route=orders 1 of 4 message(s) raised again alone (orders[0]@2; first ValueError: cannot parse order 3); "
        "they failed (retried, or dead-lettered when retry is off or spent)",
    ]
    assert caplog.records[0].exc_info is not None, "the batch's traceback is logged once"


def test_a_batch_that_does_not_raise_is_one_call_and_a_batch_of_one_is_not_called_twice():
    calls: list[int] = []

    def handle(batch: list[Message]) -> Any:
        calls.append(len(batch))
        return poisoned(batch)

    assert decide_split(batch_of(b"1", b"2"), "orders", handle) == Decision(
        2, {1: (Verdict.RETRY, "stock service timeout")}, 0
    )
    assert decide_split(batch_of(b"3"), "orders", handle) == Decision(
        1, {0: (Verdict.FAILED, "ValueError: cannot parse order 3")}, 1
    )
    assert calls == [2, 1]


def test_when_every_message_raises_alone_one_line_names_the_first_ten(caplog: pytest.LogCaptureFixture):
    def handle(batch: list[Message]) -> Any:
        raise ConnectionError("database down")

    decision = decide_split(batch_of(*[b"1"] * 12), "orders", handle)
    assert decision is not None and decision.handler_errors == 13
    assert set(decision.verdicts.values()) == {(Verdict.FAILED, "ConnectionError: database down")}
    summary = [r.getMessage() for r in caplog.records][-1]
    named = ", ".join(f"orders[0]@{n}" for n in range(10))
    assert summary == (
        f"route=orders 12 of 12 message(s) raised again alone ({named} and 2 more; first ConnectionError: database "
        "down); they failed (retried, or dead-lettered when retry is off or spent)"
    )


def test_an_answer_zig_cannot_read_from_a_message_alone_is_a_contract_error():
    def handle(batch: list[Message]) -> Any:
        if len(batch) > 1:
            raise ValueError("no")
        return "oops"

    with pytest.raises(ContractError, match="route 'orders': handler returned 'oops'"):
        decide_split(batch_of(b"1", b"2"), "orders", handle)


def test_the_async_decider_splits_the_same_way():
    async def handle(batch: list[Message]) -> Any:
        await asyncio.sleep(0)
        return poisoned(batch)

    decision = asyncio.run(decide_split_async(batch_of(b"1", b"2", b"3"), "orders", handle))
    assert decision == Decision(
        3, {1: (Verdict.RETRY, "stock service timeout"), 2: (Verdict.FAILED, "ValueError: cannot parse order 3")}, 2
    )


def _async(handler: Any) -> Any:
    async def handle(batch: list[Message]) -> Any:
        return handler(batch)

    return handle


@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("concurrency", [1, 3], ids=["concurrency 1", "concurrency 3"])
def test_a_route_with_split_dead_letters_only_the_poison_order(concurrency: int, asynchronous: bool):
    producer = FakeProducer()
    consumer = FakeConsumer(producer)
    worker = make_worker(
        _async(poisoned) if asynchronous else poisoned,
        producer,
        retry=dataclasses.replace(RETRY, enabled=False),
        concurrency=concurrency,
        ordering="none",
        split_on_error=True,
    )
    worker.handle(consumer, [FakeRaw("orders", 0, n, str(n).encode(), f"k{n}".encode()) for n in range(1, 7)])
    producer.poll()
    worker.handle(consumer, [])
    dead = sorted((r["value"], r["headers"]["zig-error"]) for r in producer.produced)
    assert dead == [
        (b"2", b"stock service timeout (retry is disabled)"),
        (b"3", b"ValueError: cannot parse order 3 (retry is disabled)"),
    ]
    assert consumer.stored[-1] == ("orders", 0, 7)


def test_without_split_the_poison_order_fails_its_whole_batch():
    producer = FakeProducer()
    consumer = FakeConsumer(producer)
    worker = make_worker(poisoned, producer)
    worker.handle(consumer, [FakeRaw("orders", 0, n, str(n).encode()) for n in range(1, 5)])
    assert [(r["value"], r["headers"]["zig-error"]) for r in producer.produced] == [
        (str(n).encode(), b"ValueError: cannot parse order 3") for n in range(1, 5)
    ]


@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "async"])
def test_a_stop_ends_the_calls_alone_and_leaves_the_rest_undecided(
    asynchronous: bool, caplog: pytest.LogCaptureFixture
):
    stop = threading.Event()
    calls: list[list[Any]] = []

    def handle(batch: list[Message]) -> Any:
        calls.append([m.value for m in batch])
        if len(batch) == 1 and batch[0].value == 2:
            stop.set()  # during the outage, zig is told to stop
        raise ConnectionError("database down")

    # 0..4: 1, 2, not JSON, 3, not JSON: the stop comes after the call of message 1 (value 2)
    batch = batch_of(b"1", b"2", b"oops", b"3", b"oops")
    with caplog.at_level(logging.INFO, logger="zig_cli.worker.alone"):
        if asynchronous:
            decision = asyncio.run(decide_split_async(batch, "orders", _async(handle), stop=stop))
        else:
            decision = decide_split(batch, "orders", handle, stop=stop)
    assert calls == [[1, 2, 3], [1], [2]], "no call after the stop"
    failed = (Verdict.FAILED, "ConnectionError: database down")
    not_json = (Verdict.DEAD_LETTER, "value is not JSON: Expecting value: line 1 column 1 (char 0)")
    assert decision == Decision(3, {0: failed, 1: failed, 2: not_json}, 3), "3 and the second not-JSON are undecided"
    assert (
        "route=orders stopping: 1 of 3 message(s) of orders[0]@0..4 not handed over alone; left for the next owner"
        in [r.getMessage() for r in caplog.records]
    )


def test_what_a_stop_leaves_undecided_in_a_split_batch_is_not_written_nor_committed():
    producer = FakeProducer()
    consumer = FakeConsumer(producer)
    values: list[int] = []

    def handle(batch: list[Message]) -> Any:
        if len(batch) > 1:
            raise ConnectionError("database down")
        values.append(batch[0].value)
        worker.stop.set()
        raise ConnectionError("database down")

    worker = make_worker(handle, producer, retry=dataclasses.replace(RETRY, enabled=False), split_on_error=True)
    worker.handle(consumer, [FakeRaw("orders", 0, n, str(n).encode()) for n in range(10, 15)])
    producer.poll()
    worker.handle(consumer, [])
    assert values == [10]
    assert [r["value"] for r in producer.produced] == [b"10"]  # its dead letter, the only one
    assert consumer.stored == [("orders", 0, 11)]  # 11..14 are read again by the next owner
