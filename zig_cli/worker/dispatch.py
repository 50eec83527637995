"""The loop's side of handler calls: consumed messages cut into items and handed over, finished items taken back,
and a count of what is buffered between the two.

A consumer holds at most `buffer_limit` messages consumed and not yet done (queued behind their lane or in a
handler), plus the one fetch that crosses it; past it the loop stops fetching, so memory stays bounded however slow
the handler is.
"""

from __future__ import annotations

import queue
from collections.abc import Callable
from typing import Any

from zig_cli.worker.batch import Where
from zig_cli.worker.calls import Calls, Done, DoneQueue
from zig_cli.worker.lanes import Item, Lanes


def buffer_limit(fetch: int, concurrency: int) -> int:
    """Messages one consumer may hold before it stops fetching: two fetches, and room for every lane to queue."""
    return 2 * fetch + 4 * concurrency


class Dispatch:
    """One worker's handler calls, seen from its loop: submit, take back, drop, and what is in between."""

    def __init__(
        self,
        split: Callable[[list[Any], list[Any] | None], list[Item]],
        lanes: Lanes,
        calls: Calls,
        done: DoneQueue,
        limit: int,
        one_at_a_time: bool = False,
    ) -> None:
        self.split = split
        self.lanes = lanes
        self._calls = calls
        self._done = done
        self.limit = limit
        self._one_at_a_time = one_at_a_time  # a stream route's item is handled one message after the other
        self.buffered = 0  # messages handed over and not yet taken back, or dropped

    def start(self, items: list[Item]) -> list[Done]:
        """Hand items to the handler; what finished already (calls on this very thread) comes back at once."""
        self.buffered += sum(len(item.raws) for item in items)
        finished = self._calls.start(items)
        if finished:
            self.buffered -= sum(len(done.item.raws) for done in finished)
        return finished

    def finished(self, timeout: float) -> list[Done]:
        """The items out of the handler since the last call, waiting up to `timeout` seconds for a first one."""
        done = self._done
        found: list[Done] = []
        if done.empty():
            if timeout <= 0:
                return found
            try:
                found.append(done.get(timeout=timeout))
            except queue.Empty:
                return found
        while not done.empty():  # only this thread takes from the queue: not empty means a get will not wait
            found.append(done.get_nowait())
        self.buffered -= sum(len(done.item.raws) for done in found)
        return found

    def drop(self, partitions: set[Where] | None) -> None:
        """Forget the messages of `partitions` (None: all) not yet in a handler; their next reader handles them."""
        self.buffered -= self.lanes.drop(partitions)

    def in_handler(self) -> int:
        """Messages in a handler call now."""
        running = self.lanes.snapshot()
        return len(running) if self._one_at_a_time else sum(len(item.raws) for item in running)

    def oldest_age(self, now: float) -> float:
        """Seconds since the oldest message now in a handler call was consumed; 0 when none is."""
        running = self.lanes.snapshot()
        return max(now - item.consumed for item in running) if running else 0.0

    def close(self) -> None:
        self._calls.close()
