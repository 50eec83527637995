"""Handler calls off the polling thread: key order at any concurrency, sync and async handlers, a loop that polls
on while handlers wait, and the calls in hand on stop, revoke and past handler-timeout-ms. With fakes for the
consumer and producer; the same behaviours against a real broker are in test_concurrency.py."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from confluent_kafka import TopicPartition
from fakes import FakeConsumer, FakeProducer, FakeRaw
from helpers import wait_until
from test_worker import make_worker

from zig_cli.errors import ZigError
from zig_cli.metrics import Metrics
from zig_cli.runner import watch_gauges
from zig_cli.worker import Worker, throttle

Call = tuple[bytes, int, float, float]  # key, value, start, end


def keyed(count: int, keys: int, partition: int = 0) -> list[FakeRaw]:
    return [FakeRaw("orders", partition, n, str(n).encode(), f"k{n % keys}".encode()) for n in range(count)]


def overlapping(calls: list[Call]) -> int:
    """The most calls in progress at one time."""
    edges = sorted([(start, 1) for _, _, start, _ in calls] + [(end, -1) for _, _, _, end in calls])
    now = most = 0
    for _, step in edges:
        now += step
        most = max(most, now)
    return most


def assert_key_order(calls: list[Call]) -> None:
    by_key: dict[bytes, list[Call]] = {}
    for call in sorted(calls, key=lambda c: (c[2], c[1])):
        by_key.setdefault(call[0], []).append(call)
    for key, runs in by_key.items():
        assert [value for _, value, _, _ in runs] == sorted(value for _, value, _, _ in runs), f"{key!r} out of order"
        for before, after in zip(runs, runs[1:], strict=False):
            same_call = before[2:] == after[2:]  # a batch handler's messages of one sub-batch
            assert same_call or before[3] <= after[2], f"two calls of {key!r} overlapped"


def recording(calls: list[Call], asynchronous: bool, batch: bool) -> Callable[[Any], Any]:
    lock = threading.Lock()

    def record(messages: list[Any], start: float) -> None:
        end = time.monotonic()
        with lock:
            calls.extend((m.key.encode(), m.value, start, end) for m in messages)

    if asynchronous:

        async def handler(given: Any) -> Any:
            start = time.monotonic()
            await asyncio.sleep(0.01)
            record(given if batch else [given], start)
            return None if batch else "success"

        return handler

    def sync_handler(given: Any) -> Any:
        start = time.monotonic()
        time.sleep(0.01)
        record(given if batch else [given], start)
        return None if batch else "success"

    return sync_handler


@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("batch", [False, True], ids=["stream", "batch"])
def test_keys_run_at_once_each_in_offset_order(asynchronous: bool, batch: bool):
    producer = FakeProducer()
    consumer = FakeConsumer(producer)
    calls: list[Call] = []
    worker = make_worker(
        recording(calls, asynchronous, batch), producer, stream=not batch, concurrency=8, ordering="key"
    )
    worker.handle(consumer, keyed(80, keys=16))
    assert sorted(value for _, value, _, _ in calls) == list(range(80))
    assert_key_order(calls)
    assert overlapping(calls) > 1, "calls ran one at a time"
    assert consumer.stored[-1] == ("orders", 0, 80)


def test_at_concurrency_1_a_stream_route_calls_its_handler_one_message_at_a_time():
    producer = FakeProducer()
    calls: list[Call] = []
    worker = make_worker(recording(calls, False, False), producer, stream=True)
    worker.handle(FakeConsumer(producer), keyed(20, keys=20))
    assert overlapping(calls) == 1
    assert [value for _, value, _, _ in sorted(calls, key=lambda c: c[2])] == list(range(20))


class Feed(FakeConsumer):
    """A consumer that hands out `raws` in batches, and counts its polls."""

    def __init__(self, raws: list[FakeRaw], producer: FakeProducer, batch: int = 50) -> None:
        super().__init__(producer, assigned=sorted({(raw.topic(), raw.partition()) for raw in raws}))
        self._raws = raws
        self._batch = batch
        self.polls = 0

    def consume(self, num_messages: int = 1, timeout: float = -1) -> list[Any]:
        self.polls += 1
        paused = set(self.paused) - set(self.resumed) if len(self.paused) > len(self.resumed) else set()
        taken = [raw for raw in self._raws if (raw.topic(), raw.partition()) not in paused][: self._batch]
        for raw in taken:
            self._raws.remove(raw)
        if not taken:
            time.sleep(min(timeout, 0.01))  # as librdkafka waits up to the timeout when it has nothing
        return taken


def running(worker: Worker) -> threading.Thread:
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    return thread


def test_the_loop_polls_on_while_the_handler_waits_and_pauses_once_the_buffer_is_full(
    monkeypatch: pytest.MonkeyPatch,
):
    monkeypatch.setattr(throttle, "PAUSE_AFTER_S", 0.1)
    producer = FakeProducer()
    release = threading.Event()
    handled: list[int] = []
    worker = make_worker(lambda m: release.wait(10) and handled.append(m.value) or "success", producer, stream=True)
    consumer = Feed(keyed(3000, keys=1), producer)
    worker._new_consumer = lambda callbacks: consumer  # type: ignore[method-assign]
    thread = running(worker)
    wait_until(lambda: consumer.paused == [("orders", 0)], 10)
    polls = consumer.polls
    wait_until(lambda: consumer.polls > polls + 3, 10)  # the consumer stays in its group while the handler waits
    assert worker.dispatch.buffered < worker.dispatch.limit + 50, "one fetch past the limit at most"
    release.set()
    wait_until(lambda: len(handled) == 3000, 20)
    assert consumer.resumed == [("orders", 0)]
    worker.stop.set()
    thread.join(10)
    assert consumer.stored[-1] == ("orders", 0, 3000)


def test_a_call_past_handler_timeout_ms_is_reported_until_it_returns():
    producer = FakeProducer()
    release = threading.Event()
    metrics = Metrics()
    worker = make_worker(
        lambda m: release.wait(10) and "success",
        producer,
        stream=True,
        handler_timeout_s=0.05,
        metrics=metrics.route("orders", "app"),
    )
    consumer = Feed(keyed(1, keys=1), producer)
    worker._new_consumer = lambda callbacks: consumer  # type: ignore[method-assign]
    thread = running(worker)
    wait_until(lambda: worker.overdue is not None, 5)
    assert "orders[0]@0" in str(worker.overdue) and "handler-timeout-ms (50)" in str(worker.overdue)
    assert (
        metrics.registry.get_sample_value("zig_handler_timeouts_total", {"topic_name": "orders", "actor": "app"}) == 1
    )
    release.set()
    wait_until(lambda: worker.overdue is None, 5)
    worker.stop.set()
    thread.join(10)


def test_on_stop_the_calls_in_hand_finish_and_what_they_allow_is_stored():
    producer = FakeProducer()
    started = threading.Event()
    release = threading.Event()
    handled: list[int] = []

    def handler(m: Any) -> str:
        started.set()
        release.wait(10)
        handled.append(m.value)
        return "success"

    worker = make_worker(handler, producer, stream=True, concurrency=4, ordering="key")
    consumer = Feed(keyed(40, keys=4), producer)
    worker._new_consumer = lambda callbacks: consumer  # type: ignore[method-assign]
    thread = running(worker)
    wait_until(lambda: started.is_set() and worker.dispatch.in_handler() == 4, 5)
    worker.stop.set()
    release.set()
    thread.join(10)
    assert not thread.is_alive()
    assert sorted(handled) == [0, 1, 2, 3], "the four calls in hand finished; nothing new started"
    assert consumer.stored[-1] == ("orders", 0, 4), (
        "offset 4, the first message not handled, is where the next owner starts"
    )


def test_a_call_still_running_when_the_graceful_timeout_ends_fails_the_worker_after_storing_what_is_done():
    producer = FakeProducer()
    release = threading.Event()

    def handler(m: Any) -> str:
        if m.value == 1:
            release.wait(10)
        return "success"

    worker = make_worker(handler, producer, stream=True, concurrency=2, ordering="none", graceful_timeout_s=0.2)
    consumer = Feed(keyed(2, keys=2), producer)
    worker._new_consumer = lambda callbacks: consumer  # type: ignore[method-assign]
    failure: list[BaseException] = []
    thread = threading.Thread(target=lambda: _catch(worker.run, failure), daemon=True)
    thread.start()
    wait_until(lambda: worker.dispatch.in_handler() == 1 and consumer.stored == [("orders", 0, 1)], 5)
    worker.stop.set()
    thread.join(5)
    release.set()
    assert isinstance(failure[0], ZigError)
    assert "1 handler call(s) still running when the graceful timeout ran out" in str(failure[0])
    assert consumer.stored == [("orders", 0, 1)], "offset 1 was in the handler: not stored"


def _catch(run: Callable[[], None], failures: list[BaseException]) -> None:
    try:
        run()
    except BaseException as error:
        failures.append(error)


def test_a_revoke_waits_for_the_calls_holding_the_partition_then_commits_their_offsets():
    producer = FakeProducer()
    release = threading.Event()
    worker = make_worker(lambda m: release.wait(10) and "success", producer, stream=True, concurrency=2)
    consumer = FakeConsumer(producer)
    worker._submit(FakeConsumer(producer), keyed(2, keys=2), None)
    wait_until(lambda: worker.dispatch.in_handler() == 2, 5)
    threading.Timer(0.1, release.set).start()
    worker._on_revoke(consumer, [TopicPartition("orders", 0)])
    assert consumer.stored[-1] == ("orders", 0, 2), "the revoke waited for both calls"


def test_retries_and_dead_letters_at_concurrency_8_go_where_they_go_at_1():
    producer = FakeProducer()
    consumer = FakeConsumer(producer)

    def handler(m: Any) -> str:
        return "retry" if m.value % 10 == 0 else "dead-letter" if m.value % 10 == 5 else "success"

    worker = make_worker(handler, producer, stream=True, concurrency=8, ordering="key")
    worker.handle(consumer, keyed(40, keys=8))
    producer.poll()
    worker.handle(consumer, [])
    retried = sorted(int(r["value"]) for r in producer.produced if r["topic"] == "shop-orders-retry")
    dead = sorted(int(r["value"]) for r in producer.produced if r["topic"] == "shop-orders-dead-letter")
    assert (retried, dead) == ([0, 10, 20, 30], [5, 15, 25, 35])
    assert consumer.stored[-1] == ("orders", 0, 40), "stored once the writes were acknowledged"


def test_a_batch_handler_s_answer_applies_to_the_sub_batch_it_was_given():
    producer = FakeProducer()
    consumer = FakeConsumer(producer)
    sizes: list[int] = []

    def handler(batch: list[Any]) -> dict[str, list[Any]]:
        sizes.append(len(batch))
        return {"retry": [m for m in batch if m.value % 2], "skip": [m for m in batch if m.value % 4 == 0]}

    worker = make_worker(handler, producer, concurrency=4, ordering="key")
    worker.handle(consumer, keyed(40, keys=8))
    assert 1 < len(sizes) <= 4 and sum(sizes) == 40, "at most 4 sub-batches, every message in one"
    retried = sorted(int(r["value"]) for r in producer.produced if r["topic"] == "shop-orders-retry")
    assert retried == list(range(1, 40, 2))
    assert worker.runtime.stats.snapshot().skipped == 10


def test_the_route_gauges_read_messages_in_the_handler_buffered_and_the_oldest_s_age():
    producer = FakeProducer()
    release = threading.Event()
    metrics = Metrics()
    route = metrics.route("orders", "app")
    worker = make_worker(lambda m: release.wait(10) and "success", producer, stream=True, concurrency=2, metrics=route)
    watch_gauges(route, [worker])
    worker._submit(FakeConsumer(producer), keyed(10, keys=2), None)
    labels = {"topic_name": "orders", "actor": "app"}
    gauge = lambda name: metrics.registry.get_sample_value(name, labels)  # noqa: E731
    wait_until(lambda: gauge("zig_handler_in_flight_messages") == 2, 5)
    assert gauge("zig_buffered_messages") == 10
    wait_until(lambda: gauge("zig_handler_oldest_in_flight_seconds") > 0.05, 5)
    release.set()
    worker._outcomes.wait_all(FakeConsumer(producer))
    assert (gauge("zig_handler_in_flight_messages"), gauge("zig_buffered_messages")) == (0, 0)
