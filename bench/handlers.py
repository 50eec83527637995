"""Handlers the benchmarks run under zig: they only count, so what is measured is zig itself; the paced ones also
take 10 ms a message and watch each key's order, for the concurrency scenario."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any


class _Tally:
    """One thread's counts, written by that thread only: no lock on the hot path. A lock shared by every handler
    thread would measure the bench's own convoy on it (each holder preempted for the interpreter lock keeps the
    others waiting), not zig."""

    __slots__ = ("count", "first", "last", "violations")

    def __init__(self) -> None:
        self.count = 0
        self.first: float | None = None
        self.last: float | None = None
        self.violations = 0


_tallies: dict[int, _Tally] = {}  # per thread ident; setting a key is atomic under the interpreter lock


def _tally() -> _Tally:
    found = _tallies.get(threading.get_ident())
    if found is None:
        found = _tallies[threading.get_ident()] = _Tally()
    return found


class _State:
    """Every thread's tallies, summed when read: count, first, last, violations."""

    def __getitem__(self, name: str) -> Any:
        tallies = list(_tallies.values())
        if name in ("count", "violations"):
            return sum(getattr(t, name) for t in tallies)
        stamps = [getattr(t, name) for t in tallies if getattr(t, name) is not None]
        if not stamps:
            return None
        return min(stamps) if name == "first" else max(stamps)


state = _State()


def reset() -> None:
    _tallies.clear()
    _last_seq.clear()
    _busy.clear()


def mark() -> tuple[float, int]:
    """Now, and how many messages were handled by now."""
    return time.perf_counter(), state["count"]


def _seen(n: int) -> None:
    now = time.perf_counter()
    tally = _tally()
    if tally.first is None:
        tally.first = now
    tally.count += n
    tally.last = now


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
    takes long enough that the rate is timed from the first call's start, not its end. No lock: each set and dict
    operation is atomic under the interpreter lock, and two threads touch one key at once only in a violation."""
    now = time.perf_counter()
    tally = _tally()
    if tally.first is None:
        tally.first = now
    keys = {m.key for m in messages}  # a batch call may hold several messages of a key, in order
    tally.violations += len(keys & _busy)
    _busy.update(keys)
    for m in messages:
        seq = int(m.value)
        last = _last_seq.get(m.key, -1)
        if seq > last + 1:
            tally.violations += 1
        _last_seq[m.key] = max(last, seq)


def _end(messages: list[Any]) -> None:
    _busy.difference_update({m.key for m in messages})
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
