"""The retry gate: a retry worker hands a message to the handler only once it is due.

Once a partition's next message is not yet due, it and everything after it in that partition is held in memory,
in order, until due. A partition holding `hold_limit` messages, or adding to held messages past `max_held_bytes`
in all, is paused until its held messages are out; the consumer keeps polling, so it stays in its group. Pausing
at once, or rewinding to the message, would make librdkafka throw away and fetch again the whole not-yet-due tail
of the retry topic each time.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterable
from typing import Any, Protocol

from confluent_kafka import TopicPartition

from zig_cli import envelope
from zig_cli.worker import logs
from zig_cli.worker.batch import Where
from zig_cli.worker.runtime import Clock

logger = logging.getLogger(__name__)

# Retry messages one partition may hold in memory while waiting for the first to fall due, before it is paused.
HOLD_LIMIT = 10_000

Held = tuple[Any, envelope.Origin]  # a consumed message and its origin (read once: its headers say when it is due)


class Pausable(Protocol):
    """The part of a consumer the gate uses."""

    def pause(self, partitions: list[TopicPartition]) -> None: ...
    def resume(self, partitions: list[TopicPartition]) -> None: ...


class OpenGate:
    """The gate of a route's main worker: every message passes at once, and nothing is ever held."""

    paused: frozenset[Where] = frozenset()  # the gate never pauses a partition

    def __bool__(self) -> bool:
        return False

    def next_due_ms(self) -> int | None:
        return None

    def admit(self, consumer: Pausable, raws: list[Any]) -> tuple[list[Any], list[envelope.Origin] | None]:
        return raws, None

    def release(self, consumer: Pausable) -> tuple[list[Any], list[envelope.Origin] | None]:
        return [], None

    def drop(self, partitions: Iterable[TopicPartition]) -> None:
        pass  # nothing held


class RetryGate:
    """Per-partition hold queues of one retry worker, with their due times and pauses."""

    def __init__(self, route: str, max_held_bytes: int, clock: Clock, hold_limit: int = HOLD_LIMIT) -> None:
        self._route = route
        self._max_bytes = max_held_bytes
        self._clock = clock
        self._hold_limit = hold_limit
        self._held: dict[Where, deque[Held]] = {}
        self._due: dict[Where, int] = {}  # when the first held message of each partition is due (ms)
        self.paused: set[Where] = set()  # partitions paused by the gate, until their held messages are out
        self.held_bytes = 0  # keys and values of every held message

    def __bool__(self) -> bool:
        """True while some message is held."""
        return bool(self._held)

    def next_due_ms(self) -> int | None:
        """When the first held message falls due, or None when nothing is held."""
        return min(self._due.values()) if self._due else None

    def admit(self, consumer: Pausable, raws: list[Any]) -> tuple[list[Any], list[envelope.Origin]]:
        """The consumed messages that are due now, with their origins; the others are held, in order."""
        due_now: list[Any] = []
        origins: list[envelope.Origin] = []
        now = self._clock()
        for raw in raws:
            topic, partition = where = (raw.topic(), raw.partition())
            kind, timestamp = raw.timestamp()
            origin = envelope.read(topic, partition, raw.offset(), timestamp if kind else None, raw.headers())
            held = self._held.get(where)
            if held is None:
                due = origin.due_ms
                if due is None or is_due(due, now):
                    due_now.append(raw)
                    origins.append(origin)
                    continue
                held = self._held[where] = deque()
                self._due[where] = due
            held.append((raw, origin))  # behind a message not yet due: waits its turn, in order
            self.held_bytes += _size(raw)
            if (len(held) >= self._hold_limit or self.held_bytes >= self._max_bytes) and where not in self.paused:
                logger.info(
                    "route=%s %s[%d] paused: %d retries of it held until due, %d bytes held in all",
                    self._route,
                    topic,
                    partition,
                    len(held),
                    self.held_bytes,
                    extra=logs.at(self._route, topic, partition),
                )
                consumer.pause([TopicPartition(topic, partition)])
                self.paused.add(where)
        return due_now, origins

    def release(self, consumer: Pausable) -> tuple[list[Any], list[envelope.Origin]]:
        """The held messages now due, in order per partition; a paused partition resumes once its held are out."""
        now = self._clock()
        released: list[Any] = []
        origins: list[envelope.Origin] = []
        emptied: list[Where] = []
        for where, held in self._held.items():
            if not is_due(self._due[where], now):
                continue
            while held and is_due(held[0][1].due_ms or 0, now):
                raw, origin = held.popleft()
                released.append(raw)
                origins.append(origin)
                self.held_bytes -= _size(raw)
            if held:
                self._due[where] = held[0][1].due_ms or 0
            else:
                emptied.append(where)
        for where in emptied:
            del self._held[where]
            del self._due[where]
        resumed = [where for where in emptied if where in self.paused]
        if resumed:
            # fetching goes on after the last message consumed: the held ones were all consumed already
            consumer.resume([TopicPartition(topic, partition) for topic, partition in resumed])
            self.paused.difference_update(resumed)
        return released, origins

    def drop(self, partitions: Iterable[TopicPartition]) -> None:
        """Forget the held messages of partitions taken away: uncommitted, their next owner reads them again."""
        for p in partitions:
            where = (p.topic, p.partition)
            dropped = self._held.pop(where, None)
            if dropped:
                self.held_bytes -= sum(_size(raw) for raw, _ in dropped)
            self._due.pop(where, None)
            self.paused.discard(where)


Gate = OpenGate | RetryGate


def is_due(due_ms: int, now_ms: int) -> bool:
    # Both are truncated to the millisecond: only a strictly later now guarantees the whole backoff has passed.
    return due_ms < now_ms


def _size(raw: Any) -> int:
    """The bytes a consumed message holds in memory, near enough: its key and value."""
    return len(raw.value() or b"") + len(raw.key() or b"")
