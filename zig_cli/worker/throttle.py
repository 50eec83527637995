"""The buffer's bound: when handlers fall behind, the consumer stops fetching, yet keeps polling.

Past the buffer limit the loop first waits for handler calls to finish (a fast handler catches up at once); when
they do not within `PAUSE_AFTER_S`, the partitions whose messages fill the buffer are paused, so the consumer polls
on and stays in its group without fetching more, and they resume once the buffer is half empty. Pausing drops
librdkafka's prefetched messages of the partition, so it is kept for handlers that are really slow.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Collection, Iterable
from typing import Any

from confluent_kafka import TopicPartition

from zig_cli.worker import logs
from zig_cli.worker.batch import Where
from zig_cli.worker.dispatch import Dispatch

logger = logging.getLogger(__name__)

# How long the loop waits for handlers to drain a full buffer before it pauses the partitions they hold: well short
# of any max-poll-interval-ms.
PAUSE_AFTER_S = 1.0
# How often the waiting loop looks at what the handlers finished.
LOOK_EVERY_S = 0.05


class Throttle:
    """The partitions one worker paused because its buffer is full."""

    def __init__(self, route: str, dispatch: Dispatch, stop: threading.Event) -> None:
        self._route = route
        self._dispatch = dispatch
        self._stop = stop
        self.paused: set[Where] = set()

    def hold_back(
        self,
        consumer: Any,
        collect: Callable[[float], None],
        busy: Callable[[], Iterable[Where]],
        paused_by_gate: Collection[Where],
    ) -> None:
        """Before each poll: wait for handlers, pause or resume as the buffer says. `collect(timeout)` takes back
        what handlers finished; `busy()` names the partitions with messages in the buffer."""
        dispatch = self._dispatch
        if dispatch.buffered >= dispatch.limit:
            deadline = time.monotonic() + PAUSE_AFTER_S
            while dispatch.buffered >= dispatch.limit and not self._stop.is_set():
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                collect(min(left, LOOK_EVERY_S))
            if dispatch.buffered >= dispatch.limit:
                self._pause(consumer, [where for where in busy() if where not in self.paused])
        elif self.paused and dispatch.buffered <= dispatch.limit // 2:
            # a partition the retry gate holds stays paused: the gate resumes it once its held messages are out
            resumed = [where for where in self.paused if where not in paused_by_gate]
            consumer.resume([TopicPartition(topic, partition) for topic, partition in resumed])
            self.paused.clear()

    def forget(self, partitions: Iterable[Where]) -> None:
        """Partitions taken away: paused no more."""
        self.paused.difference_update(partitions)

    def _pause(self, consumer: Any, held: list[Where]) -> None:
        if not held:
            return
        consumer.pause([TopicPartition(topic, partition) for topic, partition in held])
        self.paused.update(held)
        logger.info(
            "route=%s %d messages wait for the handler; paused %s until half of them are done",
            self._route,
            self._dispatch.buffered,
            ", ".join(f"{t}[{p}]" for t, p in held),
            extra=logs.context(self._route),
        )
