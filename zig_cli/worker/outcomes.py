"""Finished handler calls, applied on the loop's thread: forwarded, stored and counted.

An outcome that arrives after its partition was taken away is dropped (its new owner handles the message again),
so nothing is forwarded or stored for a partition this worker no longer owns.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from zig_cli.worker import batch as batches
from zig_cli.worker import logs
from zig_cli.worker.accounting import Accounted, account
from zig_cli.worker.batch import Where
from zig_cli.worker.calls import Done
from zig_cli.worker.deciding import Decision
from zig_cli.worker.dispatch import Dispatch
from zig_cli.worker.ledger import OffsetsLedger
from zig_cli.worker.pipeline import Decided, Pipeline
from zig_cli.worker.runtime import RouteRuntime

logger = logging.getLogger(__name__)

# While waiting for handler calls, how often the loop applies what they finished.
LOOK_EVERY_S = 0.05


class Outcomes:
    """Takes back one worker's finished items and applies them."""

    def __init__(
        self,
        runtime: RouteRuntime,
        pipeline: Pipeline,
        dispatch: Dispatch,
        ledger: OffsetsLedger,
        observe_delay: bool,
    ) -> None:
        self._runtime = runtime
        self._pipeline = pipeline
        self._dispatch = dispatch
        self._ledger = ledger
        self._observe_delay = observe_delay
        self._tally = runtime.metrics.tally() if runtime.metrics is not None else None  # this worker's own counts

    def collect(self, consumer: Any, timeout: float) -> None:
        """Apply what the handlers finished, waiting up to `timeout` for a first one; store what the writes allow."""
        self.apply(consumer, self._dispatch.finished(timeout))
        self._runtime.notices.flush()  # "and N more" once an interval is over, even when nothing else comes

    def apply(self, consumer: Any, finished: list[Done]) -> None:
        """Forward, store and count finished items."""
        handled: list[Accounted] = []
        try:
            for done in finished:
                self._apply(consumer, done, handled)
        finally:
            account(self._runtime, consumer, handled, self._observe_delay, self._tally)
        self._ledger.settle(consumer, block=False)

    def wait_all(self, consumer: Any) -> None:
        """Apply every item handed over, waiting for each."""
        while self._dispatch.buffered:
            self.collect(consumer, LOOK_EVERY_S)

    def drain(self, consumer: Any, partitions: set[Where] | None) -> int:
        """Wait, up to the graceful timeout, for the handler calls holding `partitions` (None: any) and apply what
        they give; how many are still running at the end."""
        deadline = time.monotonic() + self._runtime.graceful_timeout_s
        lanes = self._dispatch.lanes
        while lanes.running_on(partitions):
            left = deadline - time.monotonic()
            if left <= 0:
                running = [item for item in lanes.snapshot() if partitions is None or set(item.firsts) & partitions]
                if partitions is not None:
                    logger.warning(
                        "route=%s %d handler call(s) on %s still running after the graceful timeout; their outcomes "
                        "will be dropped, and the new owner handles those messages again",
                        self._runtime.name,
                        len(running),
                        ", ".join(f"{t}[{p}]" for t, p in sorted(partitions)),
                        extra=logs.context(self._runtime.name),
                    )
                return len(running)
            self.collect(consumer, min(left, LOOK_EVERY_S))
        self.collect(consumer, 0)
        return 0

    def _apply(self, consumer: Any, done: Done, handled: list[Accounted]) -> None:
        item, result, seconds = done
        if isinstance(result, BaseException):
            raise result  # what escaped the handler's call and zig's reading of its answer stops the worker
        gone = self._ledger.gone(item)
        if gone:
            route = self._runtime.name
            logger.info(
                "route=%s the outcomes of %s arrived after %s was taken away; its new owner handles them again",
                route,
                batches.ranges(item.raws),
                ", ".join(f"{t}[{p}]" for t, p in gone),
                extra=logs.context(route),
            )
            result = _without(result, set(gone))
            if result is None:
                return
        forwarded = self._pipeline.forward(result)
        self._ledger.done(consumer, item, forwarded)
        # the item's spans are the handled messages' when all of them were decided (no stop came between)
        handled.append((forwarded, seconds, item.spans if forwarded.raws is item.raws else None))


def _without(decided: Decided, gone: set[Where]) -> Decided | None:
    """What is left of a decided item once the partitions in `gone` are taken out: None when nothing is."""
    batch, decision = decided
    raws = batch.raws
    if all((raw.topic(), raw.partition()) in gone for raw in raws):
        return None
    if decision is None:
        return decided
    verdicts = {i: v for i, v in decision.verdicts.items() if (raws[i].topic(), raws[i].partition()) not in gone}
    return Decided(batch, Decision(decision.decided, verdicts, decision.handler_errors))
