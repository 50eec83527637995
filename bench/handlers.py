"""Handlers the benchmarks run under zig: they only count, so what is measured is zig itself; the paced ones also
take 10 ms a message and watch each key's order, for the concurrency scenario."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

_lock = threading.Lock()
state: dict[str, Any] = {"count": 0, "first": None, "last": None, "violations": 0}


def reset() -> None:
    with _lock:
        state.update(count=0, first=None, last=None, violations=0)
        _last_seq.clear()
        _busy.clear()


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


# --- the concurrency scenario: handlers that take a while, and a watch on each key's order ---

PAUSE_S = 0.010  # what each message costs a paced handler: a call to a slow service
_last_seq: dict[bytes, int] = {}  # per key, the highest sequence number (the message's value) started
_busy: set[bytes] = set()  # keys with a handler call in progress


def _begin(messages: list[Any]) -> None:
    """Count as violations a key already in a call, and a message starting before a lower sequence number of its key
    has started (a key's values count 0, 1, 2...; a lower one seen again is a redelivery, allowed). A paced call
    takes long enough that the rate is timed from the first call's start, not its end."""
    now = time.perf_counter()
    with _lock:
        if state["first"] is None:
            state["first"] = now
        keys = {m.key for m in messages}
        state["violations"] += len(keys & _busy)
        _busy.update(keys)
        for m in messages:
            seq = int(m.value)
            last = _last_seq.get(m.key, -1)
            if seq > last + 1:
                state["violations"] += 1
            _last_seq[m.key] = max(last, seq)


def _end(messages: list[Any]) -> None:
    with _lock:
        _busy.difference_update(m.key for m in messages)
    _seen(len(messages))


def paced_stream(message: Any) -> str:
    _begin([message])
    time.sleep(PAUSE_S)
    _end([message])
    return "success"


async def paced_stream_async(message: Any) -> str:
    _begin([message])
    await asyncio.sleep(PAUSE_S)
    _end([message])
    return "success"


def paced_batch(batch: list[Any]) -> None:
    _begin(batch)
    time.sleep(PAUSE_S * len(batch))
    _end(batch)
