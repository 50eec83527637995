"""Retry and dead-letter records: the original message plus zig's metadata headers, and how to read them back.

A message handed to a retry or dead-letter topic keeps its key, value and headers byte for byte; zig adds headers
named `zig-*` saying where it came from, how often it was retried, when it is due and the last error, after the
message's own headers. Reading a record back strips them again, so the handler sees the original message.

Those headers are trusted only where zig wrote them: on a route's retry topic, its dead-letter topic and in replays.
A message on an origin topic never reaches `read`: headers it carries under zig's names are its own, kept as they
came, and say nothing about where it came from.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import NamedTuple

from zig_cli.config import Retry

ORIGIN_TOPIC = "zig-origin-topic"
ORIGIN_PARTITION = "zig-origin-partition"
ORIGIN_OFFSET = "zig-origin-offset"
ORIGIN_TIMESTAMP = "zig-origin-timestamp"
RETRY_COUNT = "zig-retry-count"
DUE_MS = "zig-due-ms"
ERROR = "zig-error"
ROUTE = "zig-route"
GROUP = "zig-group"  # the consumer group of the route that wrote it: a retry is that group's to handle
_MAX_ERROR = 2000

RawHeaders = Sequence[tuple[str, bytes | None]]


# NamedTuples, not frozen dataclasses: one of each is built per retried message, and a frozen dataclass's
# __init__ makes a setattr call per field.
class Origin(NamedTuple):
    """Where a message first came from, and what zig knows of its retries."""

    topic: str
    partition: int
    offset: int
    timestamp: int | None
    retry_count: int
    due_ms: int | None
    headers: tuple[tuple[str, bytes | None], ...]  # the original headers, without zig's
    group: str | None = None  # the consumer group whose route forwarded it (None: written before zig said)


class Record(NamedTuple):
    """A message to produce."""

    topic: str
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]


def read(topic: str, partition: int, offset: int, timestamp: int | None, headers: RawHeaders | None) -> Origin:
    """The origin of a message read from a topic zig writes (retry or dead-letter): its own coordinates, unless
    zig's headers say it was forwarded."""
    if not headers:
        return Origin(topic, partition, offset, timestamp, 0, None, ())
    named = dict(headers)  # one pass in C
    if headers[0][0] == ORIGIN_TOPIC and len(named) == len(headers):
        own: tuple[tuple[str, bytes | None], ...] = ()  # the usual retry: zig's headers alone, each once
    else:
        start = _zigs(headers)
        if start < 0:  # not forwarded by zig: every header is the message's own
            return Origin(topic, partition, offset, timestamp, 0, None, tuple(headers))
        # zig's block alone says where it came from: the message's own headers may carry zig's names too
        named = dict(headers[start:])
        own = tuple(headers[:start])
    try:  # what zig wrote, read at full speed: this runs for every message of a retry topic
        return Origin(
            named[ORIGIN_TOPIC].decode() or topic,  # type: ignore[union-attr]  # None is caught below
            int(named[ORIGIN_PARTITION]),  # type: ignore[arg-type]
            int(named[ORIGIN_OFFSET]),  # type: ignore[arg-type]
            int(named[ORIGIN_TIMESTAMP]) if ORIGIN_TIMESTAMP in named else timestamp,  # type: ignore[arg-type]
            int(named[RETRY_COUNT]),  # type: ignore[arg-type]
            int(named[DUE_MS]) if DUE_MS in named else None,  # type: ignore[arg-type]
            own,
            named[GROUP].decode() if GROUP in named else None,  # type: ignore[union-attr]
        )
    except (KeyError, AttributeError, TypeError, ValueError):  # edited or damaged on the way: read field by field
        stamp = named.get(ORIGIN_TIMESTAMP)
        return Origin(
            topic=decoded(named[ORIGIN_TOPIC]) or topic,
            partition=_int(named.get(ORIGIN_PARTITION), partition),
            offset=_int(named.get(ORIGIN_OFFSET), offset),
            timestamp=_int(stamp, timestamp) if stamp else timestamp,
            retry_count=_int(named.get(RETRY_COUNT), 0),
            due_ms=_int(named[DUE_MS], 0) if DUE_MS in named else None,
            headers=own,
            group=decoded(named.get(GROUP)),
        )


def _zigs(headers: RawHeaders) -> int:
    """Where zig's headers start (-1: none): `forward` writes them last, ORIGIN_TOPIC first, after the message's own,
    which may use zig's names too; so zig's start at the last ORIGIN_TOPIC."""
    for index in range(len(headers) - 1, -1, -1):
        if headers[index][0] == ORIGIN_TOPIC:
            return index
    return -1


def forward(
    topic: str,
    origin: Origin,
    key: bytes | None,
    value: bytes | None,
    route: str,
    retry_count: int,
    error: str,
    due_ms: int | None = None,
    group: str | None = None,
) -> Record:
    """A record for a retry (with `due_ms`) or dead-letter topic carrying the original message and its metadata,
    and the consumer `group` of the route writing it."""
    headers: list[tuple[str, bytes]] = [
        (ORIGIN_TOPIC, _encoded(origin.topic)),
        (ORIGIN_PARTITION, b"%d" % origin.partition),
        (ORIGIN_OFFSET, b"%d" % origin.offset),
        (RETRY_COUNT, b"%d" % retry_count),
        (ROUTE, _encoded(route)),
        (ERROR, _encoded(error[:_MAX_ERROR])),
    ]
    if origin.timestamp is not None:
        headers.append((ORIGIN_TIMESTAMP, b"%d" % origin.timestamp))
    if due_ms is not None:
        headers.append((DUE_MS, b"%d" % due_ms))
    if group is not None:
        headers.append((GROUP, _encoded(group)))
    if origin.headers:  # the message's own headers go first, as they came
        headers[:0] = [(name, data if data is not None else b"") for name, data in origin.headers]
    return Record(topic, key, value, headers)


@lru_cache(maxsize=256)
def _encoded(text: str) -> bytes:
    """Topic and route names and the usual reasons repeat on every retried message: encoded once each."""
    return text.encode("utf-8", "replace")


def backoff_ms(retry: Retry, retry_count: int) -> int:
    """Delay before retry number `retry_count` (1 for the first): fixed for linear, (2^n - 1) * base, capped."""
    if retry.type == "exponential":
        return int(min((2 ** min(retry_count, 62) - 1) * retry.backoff_ms, retry.max_backoff_ms))
    return retry.backoff_ms


def give_up_ms(retry: Retry) -> int:
    """How long a message that fails every time spends in retries before it is dead-lettered: the backoffs of its
    `count` retries, handling time aside; 0 with retry off."""
    if not retry.enabled:
        return 0
    return sum(backoff_ms(retry, number) for number in range(1, retry.count + 1))


def decoded(data: bytes | None) -> str | None:
    """Bytes of a message (a header, key or value) as text to show: what is not UTF-8 is replaced; None stays None."""
    return None if data is None else data.decode("utf-8", "replace")


def _int(data: bytes | None, default: int | None) -> int:
    try:
        return int(data)  # type: ignore[arg-type]  # None is caught below
    except (TypeError, ValueError):
        return int(default or 0)
