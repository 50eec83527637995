"""Per-route counters that workers add to and the CLI reads for its live table and summary lines."""

from __future__ import annotations

import threading
from dataclasses import dataclass, fields


@dataclass(frozen=True)
class Snapshot:
    consumed: int = 0
    succeeded: int = 0
    retried: int = 0
    skipped: int = 0
    dead_lettered: int = 0
    batches: int = 0
    handler_errors: int = 0
    too_old: int = 0  # stream routes: skipped for being older than oldest-processed-message-in-s
    last_batch_ms: float = 0.0


COLUMNS = tuple(f.name for f in fields(Snapshot))


@dataclass(frozen=True, slots=True)
class BatchReport:
    """What one handled batch did: the one account that feeds both the stats table and the Prometheus metrics."""

    consumed: int  # decided: a stopping stream worker leaves the rest of its batch undecided
    succeeded: int
    retried: int  # written to the retry topic
    skipped: int  # the handler skipped them
    too_old: int  # a stream route skipped them before the handler
    failed: int  # the handler raised on them or answered nonsense (they are also retried or dead-lettered)
    dead_lettered: int  # written to the dead-letter topic, undecodable ones included
    decode_failures: int
    handler_errors: int  # failed handler calls: one per batch for a batch route, one per message for a stream route
    duration_ms: float
    batches: int = 1  # handler calls (batch route) or runs of calls (stream route) it sums up

    def __add__(self, other: BatchReport) -> BatchReport:
        """Two reports as one, the later one's duration kept."""
        return BatchReport(
            self.consumed + other.consumed,
            self.succeeded + other.succeeded,
            self.retried + other.retried,
            self.skipped + other.skipped,
            self.too_old + other.too_old,
            self.failed + other.failed,
            self.dead_lettered + other.dead_lettered,
            self.decode_failures + other.decode_failures,
            self.handler_errors + other.handler_errors,
            other.duration_ms,
            self.batches + other.batches,
        )


class RouteStats:
    """Counters for one route: each worker thread adds to a snapshot of its own, replaced whole, so adding takes no
    lock that the route's other workers would queue on; reading sums them."""

    def __init__(self) -> None:
        self._by_thread: dict[int, Snapshot] = {}
        self._last_ms = 0.0

    def add(self, report: BatchReport) -> None:
        thread = threading.get_ident()
        now = self._by_thread.get(thread) or Snapshot()
        self._by_thread[thread] = Snapshot(
            consumed=now.consumed + report.consumed,
            succeeded=now.succeeded + report.succeeded,
            retried=now.retried + report.retried,
            skipped=now.skipped + report.skipped + report.too_old,
            dead_lettered=now.dead_lettered + report.dead_lettered,
            batches=now.batches + report.batches,
            handler_errors=now.handler_errors + report.handler_errors,
            too_old=now.too_old + report.too_old,
            last_batch_ms=report.duration_ms,
        )
        self._last_ms = report.duration_ms

    def snapshot(self) -> Snapshot:
        found = list(self._by_thread.values())
        total = {name: sum(getattr(s, name) for s in found) for name in COLUMNS if name != "last_batch_ms"}
        return Snapshot(**total, last_batch_ms=self._last_ms)
