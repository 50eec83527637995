"""Lines that tell what happened to messages: one per dead letter (once its write is acknowledged) and one per
retried message handed back to the handler, at most `LINES_PER_INTERVAL` of each kind per route every
`INTERVAL_S`; what is held back is told in one "and N more" line once the interval is over.

Nothing here runs for a message that succeeds: a route with no dead letter and no retry never calls it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from zig_cli import envelope
from zig_cli.errors import one_line, shortened
from zig_cli.worker import logs

logger = logging.getLogger(__name__)

LINES_PER_INTERVAL = 10
INTERVAL_S = 10.0
# How much of a key a line shows.
KEY_CHARS = 60


class RateLimit:
    """At most `limit` lines per `interval_s` window; counts what it holds back. Shared by a route's threads."""

    def __init__(self, limit: int, interval_s: float, clock: Callable[[], float]) -> None:
        self._limit = limit
        self._interval_s = interval_s
        self._clock = clock
        self._lock = threading.Lock()
        self._started: float | None = None  # when the window began; None: no window open
        self._shown = 0
        self.held = 0  # lines held back in the window

    def take(self, count: int) -> tuple[int, int]:
        """Of `count` lines to log now, how many may be, and how many an ended window held back (told first)."""
        with self._lock:
            ended = self._end(self._clock())
            if self._started is None:
                self._started, self._shown = self._clock(), 0
            allowed = min(count, self._limit - self._shown)
            self._shown += allowed
            self.held += count - allowed
            return allowed, ended

    def ended(self, everything: bool = False) -> int:
        """How many lines a window now over held back (all of them with `everything`), once each."""
        if not self.held:  # the common case, without the lock: a count seen late is told at the next call
            return 0
        with self._lock:
            return self._end(float("inf") if everything else self._clock())

    def _end(self, now: float) -> int:
        if self._started is None or now - self._started < self._interval_s:
            return 0
        held, self.held, self._started = self.held, 0, None
        return held


class Notices:
    """One route's lines about dead letters and retries handed back."""

    def __init__(
        self,
        route: str,
        limit: int = LINES_PER_INTERVAL,
        interval_s: float = INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._route = route
        self._unlisted = f" (at most {limit} lines of each kind per {interval_s:g} s)"
        self._dead = RateLimit(limit, interval_s, clock)
        self._handed = RateLimit(limit, interval_s, clock)

    def dead_lettered(self, records: Sequence[envelope.Record]) -> None:
        """A WARNING per dead-letter record written (as the broker acknowledged it): where its message came from,
        its key and why."""
        allowed, held = self._dead.take(len(records))
        self._more_dead(held)
        route = self._route
        for record in records[:allowed]:
            origin = envelope.read(record.topic, -1, -1, None, record.headers)
            reason = envelope.decoded(dict(record.headers).get(envelope.ERROR))  # zig's, written after the message's
            logger.warning(
                "route=%s %s[%d]@%d key=%s dead-lettered to %s: %s",
                route,
                origin.topic,
                origin.partition,
                origin.offset,
                _key(record.key),
                record.topic,
                reason if reason is None else one_line(reason),  # a handler's reason may hold newlines
                extra=logs.at(route, origin.topic, origin.partition, origin.offset) | {"reason": reason},
            )

    def handed_back(self, raws: Sequence[Any], origins: Sequence[envelope.Origin], group: str | None = None) -> None:
        """An INFO line per retried message handed to the handler again (not another consumer group's retries: the
        batch builder skips those)."""
        own = [(raw, o) for raw, o in zip(raws, origins, strict=True) if o.group is None or o.group == group]
        if not own:
            return
        allowed, held = self._handed.take(len(own))
        self._more_handed(held)
        route = self._route
        for raw, origin in own[:allowed]:
            logger.info(
                "route=%s %s[%d]@%d key=%s handed back to the handler (retry %d)",
                route,
                origin.topic,
                origin.partition,
                origin.offset,
                _key(raw.key()),
                origin.retry_count,
                extra=logs.at(route, origin.topic, origin.partition, origin.offset),
            )

    def flush(self, everything: bool = False) -> None:
        """The "and N more" lines of windows now over (all of them with `everything`, as a worker stops)."""
        self._more_dead(self._dead.ended(everything))
        self._more_handed(self._handed.ended(everything))

    def _more_dead(self, held: int) -> None:
        if held:
            logger.warning(
                "route=%s and %d more dead-lettered message(s)%s",
                self._route,
                held,
                self._unlisted,
                extra=logs.context(self._route),
            )

    def _more_handed(self, held: int) -> None:
        if held:
            logger.info(
                "route=%s and %d more retried message(s) handed back to the handler%s",
                self._route,
                held,
                self._unlisted,
                extra=logs.context(self._route),
            )


def _key(key: bytes | None) -> str:
    return shortened(repr(envelope.decoded(key)), KEY_CHARS)
