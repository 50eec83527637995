"""Handler calls running past `handler-timeout-ms`: each logged and counted once, and named to /health until it
returns. zig cannot stop a call (Python cannot kill a thread), and does not pretend to."""

from __future__ import annotations

import logging

from zig_cli.metrics import RouteMetrics
from zig_cli.worker import logs
from zig_cli.worker.lanes import Lanes

logger = logging.getLogger(__name__)

# How often the loop looks for calls past their time: a scan of the calls in hand.
WATCH_EVERY_S = 0.1


class Watchdog:
    """The late handler calls of one worker."""

    def __init__(self, route: str, limit_s: float, lanes: Lanes, metrics: RouteMetrics | None) -> None:
        self._route = route
        self._limit_s = limit_s
        self._lanes = lanes
        self._metrics = metrics
        self._checked_at = 0.0
        self.overdue: str | None = None  # what /health says of this worker's oldest late call, or None

    def check(self, now: float) -> None:
        """Report calls newly past the limit; keep `overdue` current."""
        if now < self._checked_at + WATCH_EVERY_S:
            return
        self._checked_at = now
        limit = self._limit_s
        late = [item for item in self._lanes.snapshot() if now - item.started > limit]
        for item in late:
            if not item.overdue:
                item.overdue = True
                first = item.raws[0]
                logger.warning(
                    "route=%s %s handler call running for over %g s (handler-timeout-ms); zig cannot stop it",
                    self._route,
                    logs.where(first),
                    limit,
                    extra=logs.context(self._route, first),
                )
                if self._metrics is not None:
                    self._metrics.handler_timeouts.inc()
        if late:
            oldest = min(late, key=lambda item: item.started)
            self.overdue = (
                f"has a handler call running for {now - oldest.started:.0f} s on {logs.where(oldest.raws[0])}, "
                f"past handler-timeout-ms ({limit * 1000:.0f})"
            )
        else:
            self.overdue = None
