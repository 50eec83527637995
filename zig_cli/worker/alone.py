"""on-handler-error split: a batch whose handler raised is handed to it again one message at a time (each as a batch
of one), so only the messages that raise alone fail, and the others are what the handler says of each.

The runner chooses these deciders once, in place of `decide_batch`: a batch whose handler does not raise costs the
same one call, and nothing downstream knows a batch was split.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

from zig_cli import contract
from zig_cli.contract import Message
from zig_cli.inhand import IN_HAND, InHand
from zig_cli.worker import logs
from zig_cli.worker.batch import Batch, ranges
from zig_cli.worker.deciding import (
    Decision,
    Reasoned,
    Verdict,
    apply_answer,
    batch_answered,
    batch_raised,
    handed_of,
)

logger = logging.getLogger(__name__)

# How many of the messages that raised alone one log line names.
NAMED_IN_LOG = 10


def decide_split(
    batch: Batch,
    route: str,
    handler: Callable[[Any], Any],
    observe_time: Callable[[float], None] | None = None,
    stop: threading.Event | None = None,
) -> Decision | None:
    """`decide_batch`, except that when the handler raises on two or more messages, it is called again with each;
    once `stop` is set, no more calls: the rest is left undecided, for the next owner."""
    handed, verdicts = handed_of(batch)
    if not handed:
        return Decision(len(batch.raws), verdicts, 0) if verdicts else None
    alone: Alone | None = None
    started = time.perf_counter()
    try:
        result = handler(handed)
    except Exception as error:
        if len(handed) == 1:  # alone already: calling it again would tell nothing new
            return batch_raised(batch, route, verdicts, error)
        alone = Alone(batch, route, handed, verdicts)
    finally:
        if observe_time is not None:
            observe_time(time.perf_counter() - started)
    if alone is None:
        return batch_answered(batch, route, handed, verdicts, result)
    in_hand = IN_HAND.get() or InHand(route, batch.raws)  # the pipeline's: the handler's log records read it
    in_hand.mover = threading.get_ident()
    try:
        for position, message in enumerate(handed):
            if stop is not None and stop.is_set():
                return alone.stopped(position)
            in_hand.index = alone.index_of[position]
            started = time.perf_counter()
            try:
                result = handler([message])
            except Exception as error:
                alone.raised(position, error)
            else:
                alone.answered(position, result)
            finally:
                if observe_time is not None:
                    observe_time(time.perf_counter() - started)
    finally:
        in_hand.index = None
    return alone.decision()


async def decide_split_async(
    batch: Batch,
    route: str,
    handler: Callable[[Any], Awaitable[Any]],
    observe_time: Callable[[float], None] | None = None,
    stop: threading.Event | None = None,
) -> Decision | None:
    """`decide_split` for an `async def` handler; each message alone has its own object in hand (see inhand)."""
    handed, verdicts = handed_of(batch)
    if not handed:
        return Decision(len(batch.raws), verdicts, 0) if verdicts else None
    alone: Alone | None = None
    started = time.perf_counter()
    try:
        result = await handler(handed)
    except Exception as error:
        if len(handed) == 1:
            return batch_raised(batch, route, verdicts, error)
        alone = Alone(batch, route, handed, verdicts)
    finally:
        if observe_time is not None:
            observe_time(time.perf_counter() - started)
    if alone is None:
        return batch_answered(batch, route, handed, verdicts, result)
    outer = IN_HAND.set(IN_HAND.get())
    try:
        for position, message in enumerate(handed):
            if stop is not None and stop.is_set():
                return alone.stopped(position)
            IN_HAND.set(InHand(route, batch.raws, alone.index_of[position]))
            started = time.perf_counter()
            try:
                result = await handler([message])
            except Exception as error:
                alone.raised(position, error)
            else:
                alone.answered(position, result)
            finally:
                if observe_time is not None:
                    observe_time(time.perf_counter() - started)
    finally:
        IN_HAND.reset(outer)
    return alone.decision()


class Alone:
    """The verdicts of a batch handed over one message at a time. Made while the batch's exception is handled: it
    logs that traceback once; the messages that raise again alone are summed up in one line at the end."""

    def __init__(self, batch: Batch, route: str, handed: list[Message], verdicts: dict[int, Reasoned]) -> None:
        self._batch = batch
        self._route = route
        self._handed = handed
        self._verdicts = verdicts
        self.index_of = [i for i, m in enumerate(batch.messages) if m is not None]  # position in handed -> index
        self._failed: list[int] = []
        self._first_error = ""
        logger.error(
            "route=%s handler raised on %s; handing its %d messages to it one at a time (on-handler-error split)",
            route,
            ranges(batch.raws),
            len(handed),
            exc_info=True,
            extra=logs.context(route),
        )

    def raised(self, position: int, error: Exception) -> None:
        index = self.index_of[position]
        described = contract.describe_error(error)
        self._verdicts[index] = (Verdict.FAILED, described)
        self._failed.append(index)
        if not self._first_error:
            self._first_error = described

    def answered(self, position: int, result: Any) -> None:
        if result is not None:
            answer = contract.interpret_batch_result(self._route, result, [self._handed[position]])
            apply_answer(answer, self._verdicts, [self.index_of[position]])

    def stopped(self, position: int) -> Decision:
        """The decision when a stop comes before the message at `position` is handed over: what comes before it
        (and was not handed over) is decided, the rest is left to the next owner of its partitions, who hands it
        over again."""
        decided = self.index_of[position]
        logger.info(
            "route=%s stopping: %d of %d message(s) of %s not handed over alone; left for the next owner",
            self._route,
            len(self._handed) - position,
            len(self._handed),
            ranges(self._batch.raws),
            extra=logs.context(self._route),
        )
        self._verdicts = {index: verdict for index, verdict in self._verdicts.items() if index < decided}
        return dataclasses.replace(self.decision(), decided=decided)

    def decision(self) -> Decision:
        failed = self._failed
        if failed:
            raws = self._batch.raws
            named = ", ".join(logs.where(raws[i]) for i in failed[:NAMED_IN_LOG])
            more = f" and {len(failed) - NAMED_IN_LOG} more" if len(failed) > NAMED_IN_LOG else ""
            logger.error(
                "route=%s %d of %d message(s) raised again alone (%s%s; first %s); they failed (retried, or "
                "dead-lettered when retry is off or spent)",
                self._route,
                len(failed),
                len(self._handed),
                named,
                more,
                self._first_error,
                extra=logs.context(self._route),
            )
        return Decision(len(self._batch.raws), self._verdicts, 1 + len(failed))
