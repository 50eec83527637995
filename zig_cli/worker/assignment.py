"""What one consumer holds of its group's partitions, and why it is not ready to consume while it holds nothing.

librdkafka's rebalance callbacks get the partitions that move: all of them in an eager rebalance (the classic
protocol's range and roundrobin assignors), only those added or taken away in a cooperative one (the consumer group
protocol, or the cooperative-sticky assignor). So a revoke may leave a consumer partitions it goes on consuming, and
it is not "rejoining its group" then. zig never calls assign() itself: confluent-kafka applies each change as the
rebalance protocol requires (assign and unassign, or incremental_assign and incremental_unassign).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence

from confluent_kafka import TopicPartition

from zig_cli.worker import logs
from zig_cli.worker.batch import Where

logger = logging.getLogger(__name__)


class Assignment:
    """The partitions one consumer holds; `unready` says why it is not ready, None while it is in its group."""

    def __init__(self, route: str = "", clock: Callable[[], float] = time.monotonic) -> None:
        self.held: set[Where] = set()
        # Written by the consumer's callbacks, read by /health: a plain attribute, replaced whole.
        self.unready: str | None = "has not joined its group yet"
        self._route = route
        self._clock = clock
        self._waiting_since: float | None = clock()  # since joining, or rejoining with nothing held

    def assigned(self, partitions: Sequence[TopicPartition]) -> None:
        """Partitions added (none, when the group has more members than partitions: still in the group); logged with
        how long the consumer waited for them when it held nothing."""
        self.held.update((p.topic, p.partition) for p in partitions)
        self.unready = None
        waited = ""
        if self._waiting_since is not None:
            waited = f" after {self._clock() - self._waiting_since:.1f} s"
            self._waiting_since = None
        logger.info("route=%s assigned %s%s", self._route, listed(partitions), waited, extra=logs.context(self._route))

    def revoked(self, partitions: Sequence[TopicPartition]) -> set[Where]:
        """Partitions taken away in a rebalance; returns them."""
        gone = {(p.topic, p.partition) for p in partitions}
        self.held -= gone
        if not self.held:
            self.unready = "was revoked and is rejoining its group"
            self._waiting_since = self._clock()
        return gone

    def lost(self, partitions: Sequence[TopicPartition]) -> set[Where]:
        """Partitions lost with the consumer's membership (a session timeout, a fenced member); returns them."""
        gone = {(p.topic, p.partition) for p in partitions}
        self.held -= gone
        self.unready = "lost its partitions and is rejoining its group"
        self._waiting_since = self._clock()
        return gone


def listed(partitions: Sequence[TopicPartition]) -> str:
    """`topic[partition], ...` for log lines."""
    return ", ".join(f"{p.topic}[{p.partition}]" for p in partitions) or "nothing"
