"""What happened to each message of a batch: the handler is called and its answer read into verdicts.

Two deciders, one per kind of route, chosen once by the runner: `decide_batch` calls a batch route's handler once
with the whole batch, `decide_each` calls a stream route's handler once per message, in order. Both are plain
functions of a `Batch` that need no consumer. They return None when every message succeeded (the common case,
without a verdict per message), else a `Decision` whose verdicts are sparse: only the messages that did not simply
succeed.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from operator import itemgetter
from typing import Any, cast

from zig_cli import contract
from zig_cli.contract import Message, Outcome
from zig_cli.errors import ContractError
from zig_cli.inhand import IN_HAND, InHand
from zig_cli.tallies import Bins
from zig_cli.worker import logs
from zig_cli.worker.batch import Batch, ranges
from zig_cli.worker.runtime import Clock, now_ms

logger = logging.getLogger(__name__)


class Verdict(StrEnum):
    """What zig does with a message; the value is the `code` label of its outcome metric."""

    SUCCESS = "success"
    RETRY = "retry"  # the handler asked: to the retry topic (or the dead letters when retries are spent)
    FAILED = "failure"  # the handler raised or answered nonsense: retried like RETRY
    SKIP = "skip"
    TOO_OLD = "too_old"  # a stream route's message older than its limit, skipped before the handler
    DEAD_LETTER = "dead_letter"


Reasoned = tuple[Verdict, str]  # a verdict and why, for the zig-error header
SUCCEEDED: Reasoned = (Verdict.SUCCESS, "")
ASKED_RETRY = "the handler asked for a retry"
ASKED_DEAD_LETTER = "the handler asked for a dead letter"
_FROM_OUTCOME: dict[Outcome, Reasoned] = {
    Outcome.SUCCESS: SUCCEEDED,
    Outcome.RETRY: (Verdict.RETRY, ASKED_RETRY),
    Outcome.SKIP: (Verdict.SKIP, ""),
    Outcome.DEAD_LETTER: (Verdict.DEAD_LETTER, ASKED_DEAD_LETTER),
}
SUCCESS_TEXT = "success"  # the answer most stream handlers give: recognised before any parsing


@dataclass(slots=True)
class Decision:
    """How many messages of the batch were decided (a stopping stream worker leaves the rest), the verdict of each
    one that did not simply succeed, by index, and how many handler calls failed."""

    decided: int
    verdicts: dict[int, Reasoned]
    handler_errors: int


Decide = Callable[[Batch], Decision | None]
DecideAsync = Callable[[Batch], Awaitable[Decision | None]]


def decide_batch(
    batch: Batch, route: str, handler: Callable[[Any], Any], observe_time: Callable[[float], None] | None = None
) -> Decision | None:
    """One handler call for the batch. What did not decode is a dead letter; a handler that raises retries every
    message it was given; an answer zig cannot read raises ContractError."""
    handed, verdicts = handed_of(batch)
    if not handed:
        return Decision(len(batch.raws), verdicts, 0) if verdicts else None
    started = time.perf_counter()
    try:
        result = handler(handed)
    except Exception as error:  # the handler's own failure: the whole batch is retried
        return batch_raised(batch, route, verdicts, error)
    finally:
        if observe_time is not None:
            observe_time(time.perf_counter() - started)
    return batch_answered(batch, route, handed, verdicts, result)


async def decide_batch_async(
    batch: Batch,
    route: str,
    handler: Callable[[Any], Awaitable[Any]],
    observe_time: Callable[[float], None] | None = None,
) -> Decision | None:
    """`decide_batch` for an `async def` handler."""
    handed, verdicts = handed_of(batch)
    if not handed:
        return Decision(len(batch.raws), verdicts, 0) if verdicts else None
    started = time.perf_counter()
    try:
        result = await handler(handed)
    except Exception as error:
        return batch_raised(batch, route, verdicts, error)
    finally:
        if observe_time is not None:
            observe_time(time.perf_counter() - started)
    return batch_answered(batch, route, handed, verdicts, result)


def handed_of(batch: Batch) -> tuple[list[Message], dict[int, Reasoned]]:
    """What the handler is given, and the verdicts of what did not decode."""
    # A copy: what a handler does to its list must not change what zig applies and stores.
    messages = batch.messages
    if not batch.reasons and not batch.foreign:  # every message handed: copied in C
        handed = cast(list[Message], messages.copy())
    else:
        handed = [m for m in messages if m is not None]
    verdicts = {index: (Verdict.DEAD_LETTER, reason) for index, reason in batch.reasons.items()}
    if batch.foreign:
        verdicts.update((index, _foreign(group)) for index, group in batch.foreign.items())
    return handed, verdicts


def _unhanded(batch: Batch, index: int) -> Reasoned:
    """The verdict of a message the handler is not given: another group's retry is skipped, one that did not
    decode is a dead letter."""
    group = batch.foreign.get(index)
    return _foreign(group) if group is not None else (Verdict.DEAD_LETTER, batch.reasons[index])


def _foreign(group: str) -> Reasoned:
    return (Verdict.SKIP, f"a retry of consumer group {group!r}")


def batch_raised(batch: Batch, route: str, verdicts: dict[int, Reasoned], error: Exception) -> Decision:
    """Called while the handler's exception is handled: every message it was given fails (a retry)."""
    failed: Reasoned = (Verdict.FAILED, contract.describe_error(error))
    logger.error(
        "route=%s handler raised on %s; the batch failed (retried, or dead-lettered when retry is off or spent)",
        route,
        ranges(batch.raws),
        exc_info=True,
        extra=logs.context(route),
    )
    for index, message in enumerate(batch.messages):
        if message is not None:
            verdicts[index] = failed
    return Decision(len(batch.raws), verdicts, 1)


def batch_answered(
    batch: Batch, route: str, handed: list[Message], verdicts: dict[int, Reasoned], result: Any
) -> Decision | None:
    if result is None and not verdicts:
        return None
    answer = contract.interpret_batch_result(route, result, handed)
    if answer is not contract.NO_ANSWER:
        # positions in `handed` are batch indexes unless some message was not handed (it did not decode, or it is
        # another group's retry)
        some_not_handed = len(handed) < len(batch.messages)
        index_of = [i for i, m in enumerate(batch.messages) if m is not None] if some_not_handed else None
        apply_answer(answer, verdicts, index_of)
    return Decision(len(batch.raws), verdicts, 0) if verdicts else None


def apply_answer(answer: contract.Answer, verdicts: dict[int, Reasoned], index_of: list[int] | None) -> None:
    """Record a batch answer's verdicts, each with the handler's reason or zig's words; `index_of` maps positions
    in what the handler was given to batch indexes (None: the same)."""
    for kind, default, named in (
        (Verdict.SKIP, "", answer.skip),
        (Verdict.RETRY, ASKED_RETRY, answer.retry),
        (Verdict.DEAD_LETTER, ASKED_DEAD_LETTER, answer.dead_letter),
    ):
        for position, reason in named.items():
            verdicts[index_of[position] if index_of is not None else position] = (kind, reason or default)


def decide_each(
    batch: Batch,
    route: str,
    handler: Callable[[Any], Any],
    stop: threading.Event,
    oldest_ms: int | None = None,
    clock: Clock = now_ms,
    times: Bins | None = None,
) -> Decision | None:
    """One handler call per message, in order; stops between messages once `stop` is set. Messages older than
    `oldest_ms` by `clock` are skipped as too old. The hot loop of a stream route: the handler is called inline, and
    each call is timed by one clock reading at its end, which starts the next call's time (so a call's time holds
    zig's own step between two calls, well under a microsecond), binned once the batch is decided: a Python call
    per message is most of zig's own cost here. After a message skipped, failed or answered with anything but a
    success, the clock is read again: skipping it, or logging why, is no call's time."""
    verdicts: dict[int, Reasoned] = {}
    messages = batch.messages
    decided = len(messages)
    failures = 0
    limit = None if oldest_ms is None else _too_old_limit(batch, clock() - oldest_ms)
    timer = time.perf_counter
    laps = [timer()]
    lap = laps.append
    stopped = stop.is_set
    in_hand = IN_HAND.get() or InHand(route, batch.raws)  # the pipeline's, which the handler's log records read
    in_hand.mover = threading.get_ident()  # its index is the truth in this thread only
    for index, message in enumerate(messages):
        if stopped():
            decided = index  # the rest is left undecided, for the next owner
            break
        in_hand.index = index
        if message is None:
            verdicts[index] = _unhanded(batch, index)
            _restart(laps, times, timer)
            continue
        if limit is not None and (timestamp := message.timestamp) is not None and timestamp < limit:
            verdicts[index] = (Verdict.TOO_OLD, "")
            _restart(laps, times, timer)
            continue
        try:
            value = handler(message)
        except Exception as error:  # counted as a failure and retried, as Ziggurat does
            lap(timer())
            verdicts[index] = _message_raised(route, batch.raws[index], error)
            failures += 1
            _restart(laps, times, timer)
            continue
        lap(timer())
        # The common answer first, asking nothing of the value itself: a returned object's own `!=` or truth value
        # may raise (or be an array), and only zig's reading of it may decide what happens.
        if value is not SUCCESS_TEXT and (type(value) is not str or value != SUCCESS_TEXT):
            verdict = stream_verdict(route, batch.raws[index], value)
            if verdict is not SUCCEEDED:
                verdicts[index] = verdict
                failures += verdict[0] is Verdict.FAILED
                _restart(laps, times, timer)
    if times is not None:
        times.laps(laps)
    if decided == len(messages) and not verdicts:
        return None
    return Decision(decided, verdicts, failures)


async def decide_each_async(
    batch: Batch,
    route: str,
    handler: Callable[[Any], Awaitable[Any]],
    stop: threading.Event,
    oldest_ms: int | None = None,
    clock: Clock = now_ms,
    times: Bins | None = None,
) -> Decision | None:
    """`decide_each` for an `async def` handler: each message awaited in turn, with its own object in hand (the
    tasks a handler starts take it along and may log after the next message is in hand)."""
    verdicts: dict[int, Reasoned] = {}
    decided = failures = 0
    limit = None if oldest_ms is None else _too_old_limit(batch, clock() - oldest_ms)
    timer = time.perf_counter
    raws = batch.raws
    outer = IN_HAND.set(IN_HAND.get())
    try:
        for index, message in enumerate(batch.messages):
            if stop.is_set():
                break
            decided = index + 1
            IN_HAND.set(InHand(route, raws, index))
            if message is None:
                verdicts[index] = _unhanded(batch, index)
                continue
            if limit is not None and (timestamp := message.timestamp) is not None and timestamp < limit:
                verdicts[index] = (Verdict.TOO_OLD, "")
                continue
            started = timer()
            try:
                value = await handler(message)
            except Exception as error:
                verdicts[index] = _message_raised(route, batch.raws[index], error)
                failures += 1
                continue
            finally:
                if times is not None:
                    times.observe(timer() - started)
            if value is not SUCCESS_TEXT and (type(value) is not str or value != SUCCESS_TEXT):
                verdict = stream_verdict(route, batch.raws[index], value)
                if verdict is not SUCCEEDED:
                    verdicts[index] = verdict
                    failures += verdict[0] is Verdict.FAILED
    finally:
        IN_HAND.reset(outer)
    if decided == len(batch.raws) and not verdicts:
        return None
    return Decision(decided, verdicts, failures)


def _restart(laps: list[float], times: Bins | None, timer: Callable[[], float]) -> None:
    """Bin the calls timed so far and start timing again now (in place: the loop holds `laps.append`)."""
    if times is not None:
        times.laps(laps)
    laps.clear()
    laps.append(timer())


def _message_raised(route: str, raw: Any, error: Exception) -> Reasoned:
    """Called while a stream handler's exception is handled: the message fails (a retry)."""
    logger.error(
        "route=%s %s handler raised; the message failed (retried, or dead-lettered when retry is off or spent)",
        route,
        logs.where(raw),
        exc_info=True,
        extra=logs.context(route, raw),
    )
    return (Verdict.FAILED, contract.describe_error(error))


def _too_old_limit(batch: Batch, oldest_before_ms: int) -> int | None:
    """The timestamp below which a message is skipped as too old, or None when no message of the batch can be:
    one pass over the broker's timestamps in C saves a check per message in the common case."""
    raws = batch.raws
    if batch.origins or not raws:  # forwarded messages carry their first timestamp: check each one
        return oldest_before_ms
    stamps = map(itemgetter(1), map(type(raws[0]).timestamp, raws))
    return oldest_before_ms if min(stamps) < oldest_before_ms else None  # no timestamp is -1: checked


def stream_verdict(route: str, raw: Any, value: Any) -> Reasoned:
    """The verdict for a stream handler's answer other than "success"."""
    outcome = contract.interpret_stream_result(value)
    if outcome is not None:  # a plain outcome, as most answers are: no reason to read
        return _FROM_OUTCOME[outcome]
    try:
        outcome, reason = contract.interpret_stream_answer(value)
    except ContractError as error:
        logger.error(
            "route=%s %s %s; the message failed (retried, or dead-lettered when retry is off or spent)",
            route,
            logs.where(raw),
            error,
            extra=logs.context(route, raw),
        )
        return (Verdict.FAILED, f"the {error}")
    verdict = _FROM_OUTCOME[outcome]
    return verdict if outcome is Outcome.SUCCESS or not reason else (verdict[0], reason)
