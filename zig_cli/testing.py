"""Test handlers without Kafka: build messages, run a handler the way `zig run` does, and see what zig would apply.

    from zig_cli import testing

    def test_orders_without_a_customer_are_dead_lettered():
        batch = testing.messages({"id": 1, "customer": "c1"}, {"id": 2})
        result = testing.run_batch(on_orders, batch)
        assert result.succeeded == [batch[0]]
        assert result.dead_lettered == [batch[1]]
        assert result.reasons[batch[1]] == "no customer id"

The handler is called by zig's own deciders, so its answer is read by the very code `zig run` uses: the same
contract errors (`ContractError`), the same reasons, the same decoding when a deserializer is named (a key or value
that does not decode is dead-lettered before the handler), sync and `async def` handlers alike. `sends()` records
what the handler publishes with `zig_cli.send` instead of producing it.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Iterator, Sequence
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from zig_cli import codecs, envelope, producer
from zig_cli.contract import Message
from zig_cli.handlers import is_async
from zig_cli.producer import HeadersIn, encoded_headers
from zig_cli.worker.alone import decide_split, decide_split_async
from zig_cli.worker.batch import Batch, Builder
from zig_cli.worker.deciding import Decision, Verdict, decide_batch, decide_batch_async, decide_each, decide_each_async

__all__ = [
    "Applied",
    "Sent",
    "message",
    "messages",
    "run_batch",
    "run_batch_async",
    "run_stream",
    "run_stream_async",
    "sends",
]


def message(
    value: Any,
    key: Any = None,
    *,
    topic: str = "test",
    partition: int = 0,
    offset: int = 0,
    timestamp: int | None = None,
    headers: HeadersIn = (),
    retry_count: int = 0,
) -> Message:
    """One message as a handler receives it. Without a deserializer named in `run_*`, key and value are handed over
    as they are; with one, they are what Kafka holds (bytes, or text, taken as UTF-8) and zig decodes them."""
    return Message(topic, partition, offset, timestamp, key, value, tuple(encoded_headers(headers)), retry_count)


def messages(
    *values: Any,
    keys: Sequence[Any] | None = None,
    topic: str = "test",
    partition: int = 0,
    first_offset: int = 0,
    retry_count: int = 0,
) -> list[Message]:
    """A batch: one message per value, in one partition, at consecutive offsets from `first_offset`."""
    if keys is not None and len(keys) != len(values):
        raise ValueError(f"{len(keys)} keys for {len(values)} values")
    return [
        message(
            value,
            keys[index] if keys is not None else None,
            topic=topic,
            partition=partition,
            offset=first_offset + index,
            retry_count=retry_count,
        )
        for index, value in enumerate(values)
    ]


@dataclass(frozen=True)
class Applied:
    """What zig would apply to each message given to `run_*` (the very objects given, in their order).

    `retried` are the messages the handler asked to retry, `failed` those it raised on (or, on a stream route,
    answered nonsense for): zig retries both, or dead-letters them when retry is off (the default) or spent.
    `dead_lettered` go straight to the dead letters: the handler asked, or the key or value did not decode.
    `reasons` holds what lands in the `zig-error` header of each message zig forwards or skips with a reason.
    """

    succeeded: list[Message] = field(default_factory=list)
    retried: list[Message] = field(default_factory=list)
    failed: list[Message] = field(default_factory=list)
    skipped: list[Message] = field(default_factory=list)
    dead_lettered: list[Message] = field(default_factory=list)
    reasons: dict[Message, str] = field(default_factory=dict)
    handler_errors: int = 0  # handler calls that raised


def run_batch(
    handler: Callable[[list[Message]], Any],
    batch: Sequence[Message],
    *,
    key_deserializer: str = "bytes",
    value_deserializer: str = "bytes",
    on_handler_error: str = "retry-batch",
    route: str = "test",
) -> Applied:
    """Call a batch handler with `batch` as a batch route would (an `async def` one in `asyncio.run`); raises the
    ContractError zig would for an answer it cannot read. Deserializers: bytes, string, json, protobuf:<Class>."""
    built = _build(batch, key_deserializer, value_deserializer)
    if is_async(handler):
        return _applied(batch, asyncio.run(_decide_batch_async(built, route, handler, on_handler_error)))
    decide = _split_choice(on_handler_error, decide_split, decide_batch)
    return _applied(batch, decide(built, route, handler))


async def run_batch_async(
    handler: Callable[[list[Message]], Awaitable[Any]],
    batch: Sequence[Message],
    *,
    key_deserializer: str = "bytes",
    value_deserializer: str = "bytes",
    on_handler_error: str = "retry-batch",
    route: str = "test",
) -> Applied:
    """`run_batch` for an `async def` handler, from a test that already runs an event loop."""
    built = _build(batch, key_deserializer, value_deserializer)
    return _applied(batch, await _decide_batch_async(built, route, handler, on_handler_error))


def run_stream(
    handler: Callable[[Message], Any],
    stream: Sequence[Message],
    *,
    key_deserializer: str = "bytes",
    value_deserializer: str = "bytes",
    route: str = "test",
) -> Applied:
    """Call a stream handler once per message, in order, as a stream route would (an `async def` one in
    `asyncio.run`)."""
    built = _build(stream, key_deserializer, value_deserializer)
    if is_async(handler):
        return _applied(stream, asyncio.run(decide_each_async(built, route, handler, threading.Event())))
    return _applied(stream, decide_each(built, route, handler, threading.Event()))


async def run_stream_async(
    handler: Callable[[Message], Awaitable[Any]],
    stream: Sequence[Message],
    *,
    key_deserializer: str = "bytes",
    value_deserializer: str = "bytes",
    route: str = "test",
) -> Applied:
    """`run_stream` for an `async def` handler, from a test that already runs an event loop."""
    built = _build(stream, key_deserializer, value_deserializer)
    return _applied(stream, await decide_each_async(built, route, handler, threading.Event()))


def _split_choice(on_handler_error: str, split: Any, whole: Any) -> Any:
    if on_handler_error not in ("retry-batch", "split"):
        raise ValueError(f"on_handler_error is 'retry-batch' or 'split', not {on_handler_error!r}")
    return split if on_handler_error == "split" else whole


async def _decide_batch_async(
    batch: Batch, route: str, handler: Callable[[Any], Awaitable[Any]], on_handler_error: str
) -> Decision | None:
    decide = _split_choice(on_handler_error, decide_split_async, decide_batch_async)
    return await decide(batch, route, handler)  # type: ignore[no-any-return]


class _Raw:
    """A message as confluent_kafka presents a consumed one, which is what zig's batch builder reads."""

    __slots__ = ("_message", "_key", "_value")

    def __init__(self, message: Message, key_decoded: bool, value_decoded: bool) -> None:
        self._message = message
        self._key = _encoded(message.key) if key_decoded else message.key
        self._value = _encoded(message.value) if value_decoded else message.value

    def topic(self) -> str:
        return self._message.topic

    def partition(self) -> int:
        return self._message.partition

    def offset(self) -> int:
        return self._message.offset

    def key(self) -> Any:
        return self._key

    def value(self) -> Any:
        return self._value

    def headers(self) -> list[tuple[str, bytes | None]]:
        return list(self._message.headers)

    def timestamp(self) -> tuple[int, int]:
        stamp = self._message.timestamp
        return (0, -1) if stamp is None else (1, stamp)


def _build(given: Sequence[Message], key_deserializer: str, value_deserializer: str) -> Batch:
    """The batch zig would build from these messages had it consumed them: decoded by the deserializers named."""
    for item in given:
        if not isinstance(item, Message):
            raise TypeError(f"expected Messages (see testing.message and testing.messages), got {item!r}")
    key_decoded, value_decoded = key_deserializer != "bytes", value_deserializer != "bytes"
    raws = [_Raw(m, key_decoded, value_decoded) for m in given]
    origins = [
        envelope.Origin(m.topic, m.partition, m.offset, m.timestamp, m.retry_count, None, m.headers) for m in given
    ]
    return Builder(codecs.decoder(key_deserializer), codecs.decoder(value_deserializer)).build(raws, origins)


def _encoded(data: Any) -> Any:
    return data.encode("utf-8") if isinstance(data, str) else data


_LISTS = {
    Verdict.RETRY: "retried",
    Verdict.FAILED: "failed",
    Verdict.SKIP: "skipped",
    Verdict.DEAD_LETTER: "dead_lettered",
}


def _applied(given: Sequence[Message], decision: Decision | None) -> Applied:
    lists: dict[str, list[Message]] = {name: [] for name in ("succeeded", *_LISTS.values())}
    reasons: dict[Message, str] = {}
    verdicts = decision.verdicts if decision is not None else {}
    for index, item in enumerate(given):
        verdict = verdicts.get(index)
        if verdict is None or verdict[0] is Verdict.SUCCESS:
            lists["succeeded"].append(item)
            continue
        kind, reason = verdict
        lists[_LISTS[kind]].append(item)
        if reason:
            reasons[item] = reason
    return Applied(**lists, reasons=reasons, handler_errors=decision.handler_errors if decision is not None else 0)


class Sent(NamedTuple):
    """One `zig_cli.send` call, as the handler made it."""

    route: str
    topic: str
    key: Any
    value: Any
    partition: int | None
    headers: Any


class _Recorder:
    """Stands in for zig run's producers: every route's send is recorded and succeeds at once."""

    def __init__(self) -> None:
        self.sent: list[Sent] = []
        self._lock = threading.Lock()  # a handler at concurrency sends from several threads
        self._offsets: dict[tuple[str, int], int] = {}

    def get(self, route: str) -> _RouteRecorder:
        return _RouteRecorder(self, route)

    def record(self, sent: Sent) -> tuple[str, int, int]:
        with self._lock:
            self.sent.append(sent)
            where = (sent.topic, sent.partition or 0)
            offset = self._offsets[where] = self._offsets.get(where, -1) + 1
        return sent.topic, where[1], offset


class _RouteRecorder:
    def __init__(self, recorder: _Recorder, route: str) -> None:
        self._recorder = recorder
        self._route = route

    def send(
        self,
        topic: str,
        key: Any,
        value: Any,
        partition: int | None = None,
        headers: HeadersIn | None = None,
    ) -> Future[tuple[str, int, int]]:
        future: Future[tuple[str, int, int]] = Future()
        future.set_result(self._recorder.record(Sent(self._route, topic, key, value, partition, headers)))
        return future


@contextmanager
def sends() -> Iterator[list[Sent]]:
    """Record what `zig_cli.send` is asked to publish, in order, instead of producing it; each send's future is
    resolved at once with (topic, partition, offset). What was active before (zig run's producers) is restored."""
    recorder = _Recorder()
    previous = producer.activate(recorder)
    try:
        yield recorder.sent
    finally:
        producer.activate(previous)
