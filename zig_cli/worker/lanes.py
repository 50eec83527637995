"""Ordering lanes: a consumed batch split into work items, and which items may be in a handler at once.

A lane is a run of items that must be handled one at a time, in the order they were consumed: one per key and
partition (`ordering key`; a message without a key is in its partition's lane), one per partition (`ordering
partition`), none at all (`ordering none`). A batch route's lanes are `concurrency` slots a key hashes to, so a
consumed batch becomes at most `concurrency` sub-batches and a key's messages stay in one of them. At concurrency 1
the whole batch is one item with no lane: a single handler thread takes items in order.

The state is shared by the loop's thread, which admits items and drops those of revoked partitions, and the threads
or event loop that run handler calls, which begin and finish them: one lock guards it.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field
from typing import Any

from zig_cli import envelope
from zig_cli.worker import batch as batches
from zig_cli.worker.batch import Where


@dataclass(slots=True, eq=False)
class Item:
    """Messages for one handler call (a batch route) or one run of calls (a stream route), in offset order."""

    raws: list[Any]
    origins: list[envelope.Origin] | None
    lane: Hashable | None  # None: no order to keep with any other item
    firsts: dict[Where, int]  # the lowest offset of each partition in the item
    lasts: dict[Where, int] = field(default_factory=dict)  # the highest
    spans: dict[Where, tuple[Any, Any]] = field(default_factory=dict)  # the first and last raw message of each
    consumed: float = field(default_factory=time.monotonic)
    started: float = 0.0  # monotonic, once a handler took it
    overdue: bool = False  # reported as running past handler-timeout-ms


ORDERINGS = ("key", "partition", "none")


Split = Callable[[list[Any], list[Any] | None], list[Item]]


def splitter(ordering: str, concurrency: int, stream: bool, one_topic: bool = True) -> Split:
    """How a worker cuts its consumed batches into items, chosen once. A worker of several topics (a pattern route)
    first puts each topic's messages together, in their order: the first and the last message of an item then tell
    whether it is all one topic's (batch.spans)."""
    split = _splitter(ordering, concurrency, stream)
    return split if one_topic else lambda raws, origins: split(*_in_topic_runs(raws, origins))


def _splitter(ordering: str, concurrency: int, stream: bool) -> Split:
    if concurrency == 1:
        return _whole
    if ordering == "none":
        return lambda raws, origins: _chunks(raws, origins, concurrency)
    lane_of: Callable[[Any], Hashable]
    if stream:
        lane_of = _key_lane if ordering == "key" else _partition_lane
    else:
        lane_of = _key_slot(concurrency) if ordering == "key" else _partition_slot(concurrency)
    return lambda raws, origins: _grouped(raws, origins, lane_of)


def _in_topic_runs(raws: list[Any], origins: list[Any] | None) -> tuple[list[Any], list[Any] | None]:
    """The messages sorted by topic, each topic's (and so each partition's) in the order they came."""
    if not raws:
        return raws, origins
    topics = list(map(type(raws[0]).topic, raws))
    order = sorted(range(len(raws)), key=topics.__getitem__)  # a stable sort
    return [raws[i] for i in order], None if origins is None else [origins[i] for i in order]


def _whole(raws: list[Any], origins: list[Any] | None) -> list[Item]:
    return [_item(raws, origins, None)]


def _item(raws: list[Any], origins: list[Any] | None, lane: Hashable | None) -> Item:
    return Item(raws, origins, lane, *_ends(raws))


def _ends(raws: list[Any]) -> tuple[dict[Where, int], dict[Where, int], dict[Where, tuple[Any, Any]]]:
    """The lowest and the highest offset of each partition in `raws`, and its first and last message (kept, so the
    item's account does not look at its messages again)."""
    spans = batches.spans(raws)
    return (
        {where: first.offset() for where, (first, _) in spans.items()},
        {where: last.offset() for where, (_, last) in spans.items()},
        spans,
    )


def _chunks(raws: list[Any], origins: list[Any] | None, concurrency: int) -> list[Item]:
    count = min(concurrency, len(raws))
    return [_item(raws[i::count], origins[i::count] if origins is not None else None, None) for i in range(count)]


def _key_lane(raw: Any) -> Hashable:
    key = raw.key()
    return (raw.topic(), raw.partition()) if key is None else (raw.topic(), raw.partition(), key)


def _partition_lane(raw: Any) -> Hashable:
    return (raw.topic(), raw.partition())


def _key_slot(slots: int) -> Callable[[Any], Hashable]:
    def slot(raw: Any) -> Hashable:
        key = raw.key()
        return hash((raw.topic(), raw.partition()) if key is None else key) % slots

    return slot


def _partition_slot(slots: int) -> Callable[[Any], Hashable]:
    return lambda raw: hash((raw.topic(), raw.partition())) % slots


def _grouped(raws: list[Any], origins: list[Any] | None, lane_of: Callable[[Any], Hashable]) -> list[Item]:
    groups: dict[Hashable, list[int]] = {}
    for index, raw in enumerate(raws):
        lane = lane_of(raw)
        group = groups.get(lane)
        if group is None:
            groups[lane] = [index]
        else:
            group.append(index)
    items = []
    for lane, indexes in groups.items():
        items.append(
            _item([raws[i] for i in indexes], [origins[i] for i in indexes] if origins is not None else None, lane)
        )
    return items


class Lanes:
    """Which items wait behind another of their lane, which are ready, and which are in a handler."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiting: dict[Hashable, deque[Item]] = {}  # a lane with an item ready or running: the items behind it
        self._ready: set[Item] = set()  # may start: handed to the handler threads or event loop
        self.running: set[Item] = set()

    def admit(self, items: Iterable[Item]) -> list[Item]:
        """The items that may start now; the others wait behind the item of their lane already admitted."""
        startable = []
        with self._lock:
            waiting = self._waiting
            for item in items:
                lane = item.lane
                if lane is not None:
                    behind = waiting.get(lane)
                    if behind is not None:
                        behind.append(item)
                        continue
                    waiting[lane] = deque()
                startable.append(item)
            self._ready.update(startable)
        return startable

    def begin(self, item: Item) -> bool:
        """A handler takes the item; False when all its messages were dropped meanwhile."""
        with self._lock:
            self._ready.discard(item)
            if not item.raws:
                return False
            item.started = time.monotonic()
            self.running.add(item)
            return True

    def finish(self, item: Item) -> Item | None:
        """The item is out of the handler (or was dropped): the next item of its lane, now ready, if any."""
        with self._lock:
            self.running.discard(item)
            lane = item.lane
            if lane is None:
                return None
            behind = self._waiting[lane]
            if not behind:
                del self._waiting[lane]
                return None
            following = behind.popleft()
            self._ready.add(following)
            return following

    def drop(self, partitions: set[Where] | None) -> int:
        """Take the messages of `partitions` (None: all) out of every item not yet begun; how many were taken."""
        dropped = 0
        with self._lock:
            for item in self._not_begun():
                kept_origins: list[Any] | None
                if partitions is None:
                    kept, kept_origins = [], None if item.origins is None else []
                else:
                    indexes = [i for i, raw in enumerate(item.raws) if (raw.topic(), raw.partition()) not in partitions]
                    if len(indexes) == len(item.raws):
                        continue
                    kept = [item.raws[i] for i in indexes]
                    kept_origins = None if item.origins is None else [item.origins[i] for i in indexes]
                dropped += len(item.raws) - len(kept)
                item.raws, item.origins = kept, kept_origins
                item.firsts, item.lasts, item.spans = _ends(kept)
        return dropped

    def running_on(self, partitions: set[Where] | None) -> bool:
        """True while some item in a handler holds messages of `partitions` (None: any)."""
        with self._lock:
            if partitions is None:
                return bool(self.running)
            return any(where in partitions for item in self.running for where in item.firsts)

    def snapshot(self) -> list[Item]:
        """The items in a handler now."""
        with self._lock:
            return list(self.running)

    def _not_begun(self) -> Iterable[Item]:
        yield from self._ready
        for behind in self._waiting.values():
            yield from behind
