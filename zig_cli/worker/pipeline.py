"""One consumed batch through a route: build the messages, decide, forward what did not succeed, account for it.

Needs no consumer: the loop hands it raw messages and takes back what to store once the writes are acknowledged.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any, NamedTuple

from zig_cli import envelope
from zig_cli.inhand import IN_HAND, InHand
from zig_cli.producer import Delivery
from zig_cli.stats import BatchReport
from zig_cli.worker.batch import Batch, Builder
from zig_cli.worker.deciding import Decide, DecideAsync, Decision, Verdict
from zig_cli.worker.forwarding import Forwarder
from zig_cli.worker.runtime import RouteRuntime


@dataclass(slots=True)
class Handled:
    """A batch once decided: the messages decided, the writes in flight for it, and what happened."""

    raws: list[Any]
    delivery: Delivery | None
    decision: Decision | None  # None: every message succeeded
    retried: int
    dead: int
    decode_failures: int
    dead_letters: list[envelope.Record] | None = None  # the dead-letter records written, told once acknowledged

    def report(self, duration_ms: float) -> BatchReport:
        decided = len(self.raws)
        if self.decision is None:
            return BatchReport(decided, decided, 0, 0, 0, 0, 0, self.decode_failures, 0, duration_ms)
        verdicts = self.decision.verdicts
        counts = Counter(verdict for verdict, _ in verdicts.values())
        return BatchReport(
            consumed=decided,
            succeeded=counts[Verdict.SUCCESS] + decided - len(verdicts),
            retried=self.retried,
            skipped=counts[Verdict.SKIP],
            too_old=counts[Verdict.TOO_OLD],
            failed=counts[Verdict.FAILED],
            dead_lettered=self.dead,
            decode_failures=self.decode_failures,
            handler_errors=self.decision.handler_errors,
            duration_ms=duration_ms,
        )


class Decided(NamedTuple):
    """A batch and what its handler call made of it: the part of the pipeline that runs where handlers run."""

    batch: Batch
    decision: Decision | None  # None: every message succeeded


class Pipeline:
    """Build and decide (where handlers run), then forward (on the loop's thread), for one route with the decider
    the runner chose for it."""

    def __init__(self, runtime: RouteRuntime, decide: Decide | None = None) -> None:
        self._route = runtime.name
        self._builder = Builder(runtime.key_decoder, runtime.value_decoder, runtime.group, runtime.name)
        self._decide = decide
        self._forwarder = Forwarder(runtime)
        self._dead_letter_topic = runtime.dead_letter_topic

    def handle(self, raws: list[Any], origins: list[envelope.Origin] | None = None) -> Handled:
        """Build, decide and forward at once."""
        return self.forward(self.decide(raws, origins))

    def decide(self, raws: list[Any], origins: list[envelope.Origin] | None, decide: Decide | None = None) -> Decided:
        """Build the messages and call the handler (through the decider given, or the pipeline's own)."""
        batch = self._builder.build(raws, origins)
        decider = decide or self._decide
        assert decider is not None, "a pipeline without a decider is given one per call"
        in_hand = IN_HAND.set(InHand(self._route, raws))  # for the handler's own log records
        try:
            return Decided(batch, decider(batch))
        finally:
            IN_HAND.reset(in_hand)

    async def decide_async(
        self, raws: list[Any], origins: list[envelope.Origin] | None, decide: DecideAsync
    ) -> Decided:
        """Build the messages and await an `async def` handler."""
        batch = self._builder.build(raws, origins)
        in_hand = IN_HAND.set(InHand(self._route, raws))  # the task's own context: other calls keep theirs
        try:
            return Decided(batch, await decide(batch))
        finally:
            IN_HAND.reset(in_hand)

    def forward(self, decided: Decided) -> Handled:
        """Write the retry and dead-letter copies of what did not succeed; the writes are not waited for here."""
        batch, decision = decided
        raws = batch.raws
        if decision is None:  # the common case: every message of the batch succeeded
            return Handled(raws, None, None, 0, 0, len(batch.reasons))
        verdicts = decision.verdicts
        records, retried = self._forwarder.records(batch, verdicts)
        # The loop goes on, and the ledger stores these offsets once they are in.
        delivery = self._forwarder.send(batch, verdicts, records) if records else None
        # a stream worker told to stop leaves the rest for the next owner; copied only then
        decided_raws = raws if decision.decided == len(raws) else raws[: decision.decided]
        dead = len(records) - retried
        letters = [r for r in records if r.topic == self._dead_letter_topic] if dead else None
        return Handled(decided_raws, delivery, decision, retried, dead, len(batch.reasons), letters)
