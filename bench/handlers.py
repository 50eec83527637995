"""Handlers the benchmarks run under zig: they only count, so what is measured is zig itself."""

from __future__ import annotations

import threading
import time
from typing import Any

_lock = threading.Lock()
state: dict[str, Any] = {"count": 0, "first": None, "last": None}


def reset() -> None:
    with _lock:
        state.update(count=0, first=None, last=None)


def mark() -> tuple[float, int]:
    """Now, and how many messages were handled by now."""
    with _lock:
        return time.perf_counter(), state["count"]


def _seen(n: int) -> None:
    now = time.perf_counter()
    with _lock:
        if state["first"] is None:
            state["first"] = now
        state["count"] += n
        state["last"] = now


def noop_batch(batch: list[Any]) -> None:
    _seen(len(batch))


def noop_stream(message: Any) -> str:
    _seen(1)
    return "success"


def retry_tenth_once(batch: list[Any]) -> dict[str, list[Any]]:
    """Retry every tenth message once; count a message as handled when it succeeds."""
    retry = [m for m in batch if m.retry_count == 0 and m.offset % 10 == 0]
    _seen(len(batch) - len(retry))
    return {"retry": retry}


def raw_retry_tenth_once(messages: list[Any]) -> list[Any]:
    """The raw retry loop's handler: confluent-kafka messages of the origin topic; returns every tenth to retry."""
    retry = [m for m in messages if m.offset() % 10 == 0]
    _seen(len(messages) - len(retry))
    return retry
