"""The messages in hand: what a handler call is working on, given to the handler's own log records as fields.

A worker sets `IN_HAND` around each handler call (a context variable: each thread and each asyncio task sees its
own); a stream route moves `index` to the message in hand, one attribute store per message. The fields are
worked out only when a record is logged, by `InHandFilter` on the CLI's log handler, and only for records that do
not carry zig's own context already (every zig line gives `route` with extra=).
"""

from __future__ import annotations

import logging
from contextvars import ContextVar
from typing import Any


class InHand:
    """One handler call: its route, the raw messages it was given, and, on a stream route, the one in hand."""

    __slots__ = ("index", "raws", "route")

    def __init__(self, route: str, raws: list[Any]) -> None:
        self.route = route
        self.raws = raws
        self.index: int | None = None  # a stream route's message in hand; None: the whole batch

    def fields(self) -> dict[str, Any]:
        """route, topic, partition and offset of the message in hand; for a batch, route and `batch` (each
        partition's offsets, `orders[0]@10..19`), with topic and partition when it is one partition's."""
        fields: dict[str, Any] = {"route": self.route}
        raws = self.raws
        if self.index is not None:
            raw = raws[self.index]
            fields.update(topic=raw.topic(), partition=raw.partition(), offset=raw.offset())
            return fields
        spans: dict[tuple[str, int], tuple[int, int]] = {}
        for raw in raws:
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
