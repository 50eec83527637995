"""The messages in hand: what a handler call is working on, given to the handler's own log records as fields.

A worker sets `IN_HAND` around each handler call (a context variable: each thread and each asyncio task sees its
own, and a task or thread started from a call takes the call's object with it). A sync stream route moves `index`
to the message in hand, one attribute store per message, so the object is right only in the thread that moves it:
elsewhere (a thread the handler started, which may log after the index has moved on) the records get the call's
batch fields. An `async def` stream handler is given a fixed object per message instead, since the tasks it starts
outlive the message. The fields are worked out only when a record is logged (the batch's once per call), by
`InHandFilter` on the CLI's JSON log handler, and only for records that do not carry zig's own context already
(every zig line gives `route` with extra=).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from contextvars import ContextVar
from typing import Any


class InHand:
    """One handler call: its route, the raw messages it was given, and, on a stream route, the one in hand."""

    __slots__ = ("_batch", "index", "mover", "raws", "route")

    def __init__(self, route: str, raws: list[Any], index: int | None = None) -> None:
        self.route = route
        self.raws = raws
        self.index = index  # a stream route's message in hand; None: the whole batch
        self.mover: int | None = None  # the thread that moves `index`, if it moves: elsewhere it is not the truth
        self._batch: dict[str, Any] | None = None

    def fields(self) -> Mapping[str, Any]:
        """route, topic, partition and offset of the message in hand; for a batch (or read away from the thread
        moving the index), route and `batch` (each partition's offsets, `orders[0]@10..19`), with topic and
        partition when it is one partition's."""
        index = self.index
        if index is not None and (self.mover is None or self.mover == threading.get_ident()):
            raw = self.raws[index]
            return {"route": self.route, "topic": raw.topic(), "partition": raw.partition(), "offset": raw.offset()}
        if self._batch is None:
            self._batch = self._batch_fields()
        return self._batch

    def _batch_fields(self) -> dict[str, Any]:
        fields: dict[str, Any] = {"route": self.route}
        spans: dict[tuple[str, int], tuple[int, int]] = {}
        for raw in self.raws:
            where, offset = (raw.topic(), raw.partition()), raw.offset()
            low, high = spans.get(where, (offset, offset))
            spans[where] = (min(low, offset), max(high, offset))
        if len(spans) == 1:
            [(topic, partition)] = spans
            fields.update(topic=topic, partition=partition)
        fields["batch"] = ", ".join(f"{t}[{p}]@{low}..{high}" for (t, p), (low, high) in spans.items())
        return fields


IN_HAND: ContextVar[InHand | None] = ContextVar("zig_in_hand", default=None)


class InHandFilter(logging.Filter):
    """Adds the fields of the messages in hand to records logged during a handler call (zig's own carry theirs)."""

    FIELDS = ("route", "topic", "partition", "offset", "batch")  # what it may add

    def filter(self, record: logging.LogRecord) -> bool:
        in_hand = IN_HAND.get()
        if in_hand is not None and "route" not in record.__dict__:
            record.__dict__.update(in_hand.fields())
        return True
