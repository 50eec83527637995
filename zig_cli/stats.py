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


class RouteStats:
    """Thread-safe counters for one route; updated once per batch, so the lock is cheap."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._now = Snapshot()

    def add_batch(
        self,
        consumed: int,
        succeeded: int,
        retried: int,
        skipped: int,
        dead_lettered: int,
        handler_errors: int,
        duration_ms: float,
        too_old: int = 0,
    ) -> None:
        with self._lock:
            now = self._now
            self._now = Snapshot(
                consumed=now.consumed + consumed,
                succeeded=now.succeeded + succeeded,
                retried=now.retried + retried,
                skipped=now.skipped + skipped,
                dead_lettered=now.dead_lettered + dead_lettered,
                batches=now.batches + 1,
                handler_errors=now.handler_errors + handler_errors,
                too_old=now.too_old + too_old,
                last_batch_ms=duration_ms,
            )

    def snapshot(self) -> Snapshot:
        with self._lock:
            return self._now
