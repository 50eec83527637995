"""The keeper: an inline worker's consumer keeps polling while a handler call runs long on the loop's thread.

At concurrency 1 a sync handler runs on the loop's own thread (no thread handoff per batch), so during a call
nobody would poll, and a call longer than `max-poll-interval-ms` would cost a rebalance. The loop thread holds
`lock` whenever it may use the consumer or the worker's state, and lets go of it only for the handler call. When a
call has run `KEEP_AFTER_S`, the keeper thread takes the lock and polls until the call returns: the consumer stays
in its group, and librdkafka's callbacks (a rebalance) run on the keeper's thread while the loop thread is in the
call. What it polls is kept in order (`carry`) for the loop, which handles it before polling again; once it holds a
buffer's worth, the keeper pauses the partitions the retry gate has not paused, and resumes them when the call
returns.
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

logger = logging.getLogger(__name__)

# A call running this long gets the keeper polling: well short of any max-poll-interval-ms.
KEEP_AFTER_S = 0.5
# How often the keeper looks at the call in hand: on its own clock, so a call wakes no thread (a wake per batch
# would cost a fast handler the interpreter-lock handoffs running calls here saves).
LOOK_EVERY_S = 0.1
# How long each of the keeper's polls waits.
POLL_S = 0.1


class Keeper:
    """Polls one worker's consumer while its loop thread is in a long handler call."""

    def __init__(
        self,
        route: str,
        name: str,
        limit: int,
        paused_by_gate: Collection[Where],
        watch: Callable[[], None],
    ) -> None:
        self._route = route
        self._name = name
        self._limit = limit  # messages it may carry before it pauses
        self._paused_by_gate = paused_by_gate
        self._watch = watch  # the worker's handler-timeout check, which the busy loop thread cannot make
        self.lock = threading.Lock()
        self._state = threading.Lock()  # guards `_call` and `kept` between the two threads
        self._call: float | None = None  # when the call in hand started (monotonic), None between calls
        self.kept = False  # the keeper took over during the call in hand
        self._closing = threading.Event()
        self._consumer: Any = None
        self._thread: threading.Thread | None = None
        self.carry: list[Any] = []  # polled during a call, for the loop, in order

    def start(self, consumer: Any) -> None:
        """The loop thread takes the lock, and the keeper waits for long calls."""
        self._consumer = consumer
        self.lock.acquire()
        self._thread = threading.Thread(target=self._serve, name=f"{self._name}-keeper", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._closing.set()
        if self._thread is not None:
            self.lock.release()
            self._thread.join(POLL_S * 10)

    @property
    def active(self) -> bool:
        return self._thread is not None and not self._closing.is_set()

    def enter_call(self) -> None:
        """The loop thread is about to call the handler: the consumer is the keeper's to poll, if the call is long."""
        with self._state:
            self._call, self.kept = time.monotonic(), False
        self.lock.release()

    def end_call(self) -> bool:
        """The call returned: True when the keeper took over meanwhile (then its outcome goes where the keeper's
        callbacks can apply it). The keeper polls no more after this."""
        with self._state:
            self._call = None
            return self.kept

    def resume_loop(self) -> None:
        """The loop thread takes the consumer back, once the keeper is done with it."""
        self.lock.acquire()

    def take_carry(self) -> list[Any]:
        carried, self.carry = self.carry, []
        return carried

    def drop(self, partitions: Iterable[Where]) -> None:
        """Forget carried messages of partitions taken away: their next owner reads them again."""
        gone = set(partitions)
        if self.carry:
            self.carry = [raw for raw in self.carry if (raw.topic(), raw.partition()) not in gone]

    def _serve(self) -> None:
        while not self._closing.wait(LOOK_EVERY_S):
            with self._state:
                started = self._call
                if started is None or time.monotonic() - started < KEEP_AFTER_S:
                    continue
                self.kept = True
            with self.lock:
                if not self._closing.is_set():
                    self._keep(started)

    def _keep(self, started: float) -> None:
        consumer = self._consumer
        paused: set[Where] = set()
        logger.info(
            "route=%s a handler call is taking over %g s; polling on meanwhile", self._route, KEEP_AFTER_S,
            extra=logs.context(self._route),
        )  # fmt: skip
        try:
            while self._call == started:
                room = self._limit - len(self.carry)
                if room <= 0:
                    held = [
                        (tp.topic, tp.partition)
                        for tp in consumer.assignment()
                        if (tp.topic, tp.partition) not in paused
                        and (tp.topic, tp.partition) not in self._paused_by_gate
                    ]
                    if held:
                        consumer.pause([TopicPartition(t, p) for t, p in held])
                        paused.update(held)
                self.carry.extend(consumer.consume(num_messages=max(room, 1), timeout=POLL_S))
                self._watch()
        finally:
            owned = {(tp.topic, tp.partition) for tp in consumer.assignment()}
            resumed = [TopicPartition(t, p) for t, p in paused if (t, p) in owned]
            if resumed:
                consumer.resume(resumed)
