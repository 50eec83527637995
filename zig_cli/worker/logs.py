"""The fields of a worker's log lines, given to the log record (`extra=`) as well as written in its message."""

from __future__ import annotations

from typing import Any


def context(route: str, raw: Any = None) -> dict[str, Any]:
    """`extra=` for a line about a route and, when given, one consumed message."""
    if raw is None:
        return {"route": route}
    return at(route, raw.topic(), raw.partition(), raw.offset())


def at(route: str, topic: str, partition: int, offset: int | None = None) -> dict[str, Any]:
    """`extra=` for a line about one partition of a route, and an offset in it when there is one."""
    fields: dict[str, Any] = {"route": route, "topic": topic, "partition": partition}
    if offset is not None:
        fields["offset"] = offset
    return fields


def where(raw: Any) -> str:
    """`topic[partition]@offset` of a consumed message, as every log line writes it."""
    return f"{raw.topic()}[{raw.partition()}]@{raw.offset()}"
