"""Where handler calls run, away from the thread that polls: a pool of threads, or an event loop.

Either way at most `concurrency` items are in the handler at once, an item's lane goes on with its next item as soon
as one finishes (without waiting for the loop), and each finished item is put on the `done` queue for the loop to
forward, store and count. Neither ever kills a call: Python cannot stop a thread, and a stuck coroutine is left
where it is when zig exits.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any, NamedTuple

from zig_cli.worker.keeper import Keeper
from zig_cli.worker.lanes import Item, Lanes

logger = logging.getLogger(__name__)


class Done(NamedTuple):
    """An item out of the handler: what its call gave (or the exception that escaped it), and how long it took."""

    item: Item
    result: Any
    seconds: float


DoneQueue = queue.SimpleQueue[Done]


class InlineCalls:
    """Sync handler calls on the loop's own thread, one at a time, given back at once: at concurrency 1 a fast
    handler pays no thread handoff per batch (under the interpreter lock each costs more than zig's own work on a
    batch). The item in hand is in `lanes.running` for the watchdog and the gauges; no lane is ever busy. During a
    long call the keeper polls; an outcome it may have to apply in a rebalance goes to the `done` queue instead."""

    def __init__(self, lanes: Lanes, call: Callable[[Item], Any], done: DoneQueue, keeper: Keeper) -> None:
        self._running = lanes.running  # adding and discarding are atomic: no lock for a set only this thread writes
        self._call = call
        self._done = done
        self._keeper = keeper

    def start(self, items: list[Item]) -> list[Done]:
        running, call, keeper = self._running, self._call, self._keeper
        timer = time.perf_counter
        finished = []
        for item in items:
            item.started = time.monotonic()
            running.add(item)
            watched = keeper.active
            if watched:
                keeper.enter_call()
            started = timer()
            try:
                result = call(item)
            except BaseException as error:  # raised on the loop's thread when applied, as for the others
                result = error
            done = Done(item, result, timer() - started)
            if watched and keeper.end_call():
                self._done.put(done)  # before it leaves `running`: a revoke waiting on it then finds it
                running.discard(item)
            else:
                running.discard(item)
                finished.append(done)
            if watched:
                keeper.resume_loop()
        return finished

    def close(self) -> None:
        pass  # nothing runs on its own


class ThreadCalls:
    """Sync handler calls on up to `concurrency` daemon threads, started as the work needs them."""

    def __init__(
        self,
        name: str,
        concurrency: int,
        lanes: Lanes,
        new_call: Callable[[], Callable[[Item], Any]],
        done: DoneQueue,
    ) -> None:
        self._name = name
        self._concurrency = concurrency
        self._lanes = lanes
        self._new_call = new_call  # one per thread: a call may keep per-thread state (its handler timer)
        self._done = done
        self._ready: queue.SimpleQueue[Item | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._idle = 0
        self._idle_lock = threading.Lock()

    def start(self, items: list[Item]) -> list[Done]:
        """Hand items over; those whose lane is busy start once the item before them finishes."""
        startable = self._lanes.admit(items)
        for item in startable:
            self._ready.put(item)
        if startable:
            wanted = min(self._concurrency - len(self._threads), self._ready.qsize() - self._idle)
            for _ in range(wanted):
                thread = threading.Thread(
                    target=self._serve, name=f"{self._name}-handler-{len(self._threads)}", daemon=True
                )
                self._threads.append(thread)
                thread.start()
        return []

    def close(self) -> None:
        """Let every thread end once it is out of its call."""
        for _ in self._threads:
            self._ready.put(None)

    def _serve(self) -> None:
        call = self._new_call()
        lanes, done, ready = self._lanes, self._done, self._ready
        timer = time.perf_counter
        while True:
            with self._idle_lock:
                self._idle += 1
            item = ready.get()
            with self._idle_lock:
                self._idle -= 1
            if item is None:
                return
            while item is not None:
                if lanes.begin(item):
                    started = timer()
                    try:
                        result = call(item)
                    except BaseException as error:  # the loop's thread raises it: a worker never dies quietly
                        result = error
                    done.put(Done(item, result, timer() - started))
                item = lanes.finish(item)  # the lane's next item goes on this thread, at once


class AsyncCalls:
    """Async handler calls on an event loop thread of the worker, at most `concurrency` awaiting at once."""

    def __init__(
        self, name: str, concurrency: int, lanes: Lanes, call: Callable[[Item], Awaitable[Any]], done: DoneQueue
    ) -> None:
        self._lanes = lanes
        self._call = call
        self._done = done
        self._loop = asyncio.new_event_loop()
        self._slots = asyncio.Semaphore(concurrency)
        self._tasks: set[asyncio.Task[None]] = set()
        self._thread = threading.Thread(target=self._run, name=f"{name}-event-loop", daemon=True)

    def _run(self) -> None:
        try:
            self._loop.run_forever()
        finally:
            self._loop.close()

    def start(self, items: list[Item]) -> list[Done]:
        startable = self._lanes.admit(items)
        if startable:
            if not self._thread.is_alive():
                self._thread.start()  # on the first item: a worker that never consumes has no loop to close
            self._loop.call_soon_threadsafe(self._spawn, startable)
        return []

    def close(self) -> None:
        """Stop the event loop once the calls in hand are out (a call that never ends keeps it, on a daemon
        thread)."""
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop_when_idle)
        elif self._thread.ident is None:
            self._loop.close()

    def _stop_when_idle(self) -> None:
        if self._tasks:
            self._loop.call_later(0.05, self._stop_when_idle)
        else:
            self._loop.stop()

    def _spawn(self, items: list[Item]) -> None:
        for item in items:
            task = self._loop.create_task(self._serve(item))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _serve(self, first: Item) -> None:
        item: Item | None = first
        timer = time.perf_counter
        async with self._slots:
            while item is not None:
                if self._lanes.begin(item):
                    started = timer()
                    try:
                        result = await self._call(item)
                    except asyncio.CancelledError:
                        raise
                    except BaseException as error:  # the loop's thread raises it: a worker never dies quietly
                        result = error
                    self._done.put(Done(item, result, timer() - started))
                item = self._lanes.finish(item)


Calls = InlineCalls | ThreadCalls | AsyncCalls
