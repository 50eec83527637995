"""Retry and dead-letter records: the original message plus zig's metadata headers, and how to read them back.

A message handed to a retry or dead-letter topic keeps its key, value and headers byte for byte; zig adds headers
named `zig-*` saying where it came from, how often it was retried, when it is due and the last error. Reading a
record back strips them again, so the handler sees the original message.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from zig_cli.config import Retry

ORIGIN_TOPIC = "zig-origin-topic"
ORIGIN_PARTITION = "zig-origin-partition"
ORIGIN_OFFSET = "zig-origin-offset"
ORIGIN_TIMESTAMP = "zig-origin-timestamp"
RETRY_COUNT = "zig-retry-count"
DUE_MS = "zig-due-ms"
ERROR = "zig-error"
ROUTE = "zig-route"
_PREFIX = "zig-"
_MAX_ERROR = 2000

RawHeaders = Sequence[tuple[str, bytes | None]]


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a message first came from, and what zig knows of its retries."""

    topic: str
    partition: int
    offset: int
    timestamp: int | None
    retry_count: int
    due_ms: int | None
    headers: tuple[tuple[str, bytes | None], ...]  # the original headers, without zig's


@dataclass(frozen=True, slots=True)
class Record:
    """A message to produce."""

    topic: str
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]


def read(topic: str, partition: int, offset: int, timestamp: int | None, headers: RawHeaders | None) -> Origin:
    """The origin of a consumed message: its own coordinates, unless zig's headers say it was forwarded."""
    zig: dict[str, bytes | None] = {}
    own: list[tuple[str, bytes | None]] = []
    for name, data in headers or ():
        if name.startswith(_PREFIX):
            zig[name] = data
        else:
            own.append((name, data))
    if ORIGIN_TOPIC not in zig:
        return Origin(topic, partition, offset, timestamp, 0, None, tuple(own))
    return Origin(
        topic=_text(zig.get(ORIGIN_TOPIC)) or topic,
        partition=_int(zig.get(ORIGIN_PARTITION), partition),
        offset=_int(zig.get(ORIGIN_OFFSET), offset),
        timestamp=_int(zig.get(ORIGIN_TIMESTAMP), timestamp) if zig.get(ORIGIN_TIMESTAMP) else timestamp,
        retry_count=_int(zig.get(RETRY_COUNT), 0),
        due_ms=_int(zig.get(DUE_MS), 0) if DUE_MS in zig else None,
        headers=tuple(own),
    )


def forward(
    topic: str,
    origin: Origin,
    key: bytes | None,
    value: bytes | None,
    route: str,
    retry_count: int,
    error: str,
    due_ms: int | None = None,
) -> Record:
    """A record for a retry (with `due_ms`) or dead-letter topic carrying the original message and its metadata."""
    headers: list[tuple[str, bytes]] = [(name, data if data is not None else b"") for name, data in origin.headers]
    headers += [
        (ORIGIN_TOPIC, origin.topic.encode()),
        (ORIGIN_PARTITION, str(origin.partition).encode()),
        (ORIGIN_OFFSET, str(origin.offset).encode()),
        (RETRY_COUNT, str(retry_count).encode()),
        (ROUTE, route.encode()),
        (ERROR, error[:_MAX_ERROR].encode("utf-8", "replace")),
    ]
    if origin.timestamp is not None:
        headers.append((ORIGIN_TIMESTAMP, str(origin.timestamp).encode()))
    if due_ms is not None:
        headers.append((DUE_MS, str(due_ms).encode()))
    return Record(topic, key, value, headers)


def backoff_ms(retry: Retry, retry_count: int) -> int:
    """Delay before retry number `retry_count` (1 for the first): fixed for linear, (2^n - 1) * base, capped."""
    if retry.type == "exponential":
        return int(min((2 ** min(retry_count, 62) - 1) * retry.backoff_ms, retry.max_backoff_ms))
    return retry.backoff_ms


def _text(data: bytes | None) -> str:
    return data.decode("utf-8", "replace") if data else ""


def _int(data: bytes | None, default: int | None) -> int:
    try:
        return int(_text(data))
    except ValueError:
        return int(default or 0)
