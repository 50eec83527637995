"""One consumed batch through a route: build the messages, decide, forward what did not succeed, account for it.

Needs no consumer: the loop hands it raw messages and takes back what to store once the writes are acknowledged.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from zig_cli import envelope
from zig_cli.producer import Delivery
from zig_cli.stats import BatchReport
from zig_cli.worker.batch import Builder
from zig_cli.worker.deciding import Decide, Decision, Verdict
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


class Pipeline:
    """Build, decide and forward, for one route with the decider the runner chose for it."""

    def __init__(self, runtime: RouteRuntime, decide: Decide) -> None:
        self._builder = Builder(runtime.key_decoder, runtime.value_decoder)
        self._decide = decide
        self._forwarder = Forwarder(runtime)

    def handle(self, raws: list[Any], origins: list[envelope.Origin] | None = None) -> Handled:
        batch = self._builder.build(raws, origins)
        decision = self._decide(batch)
        if decision is None:  # the common case: every message of the batch succeeded
            return Handled(raws, None, None, 0, 0, len(batch.reasons))
        verdicts = decision.verdicts
        records, retried = self._forwarder.records(batch, verdicts)
        # Writes are not waited for here: the loop goes on, and the ledger stores these offsets once they are in.
        delivery = self._forwarder.send(batch, verdicts, records) if records else None
        # a stream worker told to stop leaves the rest for the next owner; copied only then
        decided = raws if decision.decided == len(raws) else raws[: decision.decided]
        return Handled(decided, delivery, decision, retried, len(records) - retried, len(batch.reasons))
