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


class RouteStats:
    """Thread-safe counters for one route; updated once per batch, so the lock is cheap."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._now = Snapshot()

    def add(self, report: BatchReport) -> None:
        with self._lock:
            now = self._now
            self._now = Snapshot(
                consumed=now.consumed + report.consumed,
                succeeded=now.succeeded + report.succeeded,
                retried=now.retried + report.retried,
                skipped=now.skipped + report.skipped + report.too_old,
                dead_lettered=now.dead_lettered + report.dead_lettered,
                batches=now.batches + 1,
                handler_errors=now.handler_errors + report.handler_errors,
                too_old=now.too_old + report.too_old,
                last_batch_ms=report.duration_ms,
            )

    def snapshot(self) -> Snapshot:
        with self._lock:
            return self._now
