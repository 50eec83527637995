"""The deciders, on built batches alone: no consumer, no producer."""

from __future__ import annotations

import logging
import threading
from typing import Any

import pytest
from fakes import FakeRaw

from zig_cli import codecs
from zig_cli.contract import Message, Outcome
from zig_cli.errors import ContractError
from zig_cli.metrics import SECONDS
from zig_cli.tallies import Bins
from zig_cli.worker import deciding
from zig_cli.worker.batch import Builder
from zig_cli.worker.deciding import ASKED_DEAD_LETTER, ASKED_RETRY, Decision, Verdict, decide_batch, decide_each

BUILD = Builder(codecs.decoder("bytes"), codecs.decoder("json"))


def batch_of(*values: bytes, timestamp: int = 1_700_000_000_000) -> Any:
    return BUILD.build([FakeRaw("orders", 0, i, v, _timestamp=timestamp) for i, v in enumerate(values)])


def test_a_batch_that_all_succeeds_has_no_verdicts():
    assert decide_batch(batch_of(b"1", b"2"), "orders", lambda batch: None) is None


def test_a_batch_handler_s_answer_becomes_sparse_verdicts_and_undecodable_messages_are_dead_letters():
    def handle(batch: list[Message]) -> Any:
        return {"retry": [batch[1]], "skip": [batch[0]]}

    decision = decide_batch(batch_of(b"1", b"not json", b"2", b"3"), "orders", handle)
    assert decision == Decision(
        4,
        {
            0: (Verdict.SKIP, ""),
            1: (Verdict.DEAD_LETTER, "value is not JSON: Expecting value: line 1 column 1 (char 0)"),
            2: (Verdict.RETRY, ASKED_RETRY),
        },
        0,
    )


def test_a_batch_handler_s_reasons_and_dead_letters_become_verdicts_and_zig_says_why_when_it_gives_none():
    def handle(batch: list[Message]) -> Any:
        return {"retry": {batch[0]: "db timeout"}, "dead-letter": [batch[1]], "skip": {batch[2]: "a test order"}}

    decision = decide_batch(batch_of(b"1", b"not json", b"2", b"3", b"4"), "orders", handle)
    assert decision is not None
    assert decision.verdicts == {
        0: (Verdict.RETRY, "db timeout"),
        1: (Verdict.DEAD_LETTER, "value is not JSON: Expecting value: line 1 column 1 (char 0)"),
        2: (Verdict.DEAD_LETTER, ASKED_DEAD_LETTER),
        3: (Verdict.SKIP, "a test order"),
    }


def test_a_batch_handler_that_raises_fails_every_message_it_was_given_once():
    times: list[float] = []

    def handle(batch: list[Message]) -> Any:
        raise ValueError("database down")

    decision = decide_batch(batch_of(b"1", b"2"), "orders", handle, times.append)
    assert decision == Decision(
        2, {0: (Verdict.FAILED, "ValueError: database down")} | {1: (Verdict.FAILED, "ValueError: database down")}, 1
    )
    assert len(times) == 1


def test_a_batch_answer_zig_cannot_read_is_a_contract_error():
    with pytest.raises(ContractError, match="route 'orders': handler returned 'oops'"):
        decide_batch(batch_of(b"1"), "orders", lambda batch: "oops")


@pytest.mark.parametrize(
    ("answer", "verdict"),
    [
        ("success", None),
        (":success", None),
        (Outcome.SUCCESS, None),
        ("retry", (Verdict.RETRY, ASKED_RETRY)),
        (Outcome.SKIP, (Verdict.SKIP, "")),
        ("dead-letter", (Verdict.DEAD_LETTER, "the handler asked for a dead letter")),
        (42, (Verdict.FAILED, "the handler returned 42, not success, retry, skip or dead-letter")),
        (("retry", "db timeout"), (Verdict.RETRY, "db timeout")),
        ((Outcome.DEAD_LETTER, "no customer id"), (Verdict.DEAD_LETTER, "no customer id")),
        (("skip", ""), (Verdict.SKIP, "")),
        (("dead-letter", ""), (Verdict.DEAD_LETTER, "the handler asked for a dead letter")),
        (("success", "all good"), None),
        (("retry", 5), (Verdict.FAILED, "the handler returned ('retry', 5), whose reason is not a string")),
    ],
)
def test_each_stream_answer_becomes_its_verdict(answer: Any, verdict: Any):
    decision = decide_each(batch_of(b"1"), "orders", lambda message: answer, threading.Event())
    assert decision == (None if verdict is None else Decision(1, {0: verdict}, int(verdict[0] is Verdict.FAILED)))


def test_a_stream_decider_skips_messages_too_old_and_stops_between_messages():
    stop = threading.Event()
    seen: list[int] = []

    def handle(message: Message) -> str:
        seen.append(message.offset)
        if message.offset == 1:
            stop.set()
        return "success"

    # stamped 1 s and 50 s; the clock says 100 s and the limit is 60 s: the first is too old
    mixed = BUILD.build(
        [FakeRaw("orders", 0, 0, b"1", _timestamp=1_000), FakeRaw("orders", 0, 1, b"2", _timestamp=50_000)]
    )
    decision = decide_each(mixed, "orders", handle, stop, oldest_ms=60_000, clock=lambda: 100_000)
    assert decision == Decision(2, {0: (Verdict.TOO_OLD, "")}, 0)
    assert seen == [1] and stop.is_set()
    decision = decide_each(batch_of(b"1", b"2", b"3"), "orders", handle, stop)
    assert decision == Decision(0, {}, 0), "stopped: nothing more is decided"
    stop.clear()
    assert decide_each(batch_of(b"1", b"2", b"3"), "orders", handle, stop) == Decision(2, {}, 0)
    assert seen == [1, 0, 1], "the handler stopped the worker at offset 1: offset 2 is left for the next owner"


def test_a_stream_handlers_time_leaves_out_what_zig_does_after_a_failed_call(monkeypatch: pytest.MonkeyPatch):
    now = [0.0]
    monkeypatch.setattr(deciding.time, "perf_counter", lambda: now[0])

    def handle(message: Message) -> str:
        now[0] += 0.001  # each call takes 1 ms
        if message.value == 2:
            raise ValueError("no")
        return "success"

    class SlowSink(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            now[0] += 10.0  # writing the failure's log line takes 10 s: zig's time, not the next call's

    sink, log = SlowSink(), logging.getLogger(deciding.__name__)
    log.addHandler(sink)
    times = Bins(SECONDS)
    try:
        decision = decide_each(batch_of(b"1", b"2", b"3", b"4"), "orders", handle, threading.Event(), times=times)
    finally:
        log.removeHandler(sink)
    assert decision is not None and decision.verdicts[1][0] is Verdict.FAILED
    assert sum(times.counts) == 4 and times.counts[0] == 4, times.counts  # four calls of 1 ms each
    assert times.total == pytest.approx(0.004)
