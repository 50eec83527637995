"""Produce with delivery tracking: a write counts only once the broker has acknowledged it.

Retry and dead-letter writes go through `produce_all`, which returns only when every record has its delivery
report, so the caller can then safely store the consumed offsets (at-least-once). `send` is the producer wrapper
of `zig send` and of handlers: each route's :producer block is one shared producer, named after the route.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any, Protocol

from confluent_kafka import KafkaError, KafkaException

from zig_cli import access, codecs, kafka
from zig_cli.codecs import Encoder
from zig_cli.config import Config
from zig_cli.envelope import Record
from zig_cli.errors import EncodeError, KafkaFatalError, ProducerError, RecordRefused

if TYPE_CHECKING:  # prometheus_client loads only for zig run, which creates the metrics
    from zig_cli.metrics import Metrics, RouteMetrics

# Headers as zig_cli.send and friends take them: a mapping, or (name, value) pairs in order.
HeadersIn = Mapping[str, str | bytes] | Sequence[tuple[str, str | bytes | None]]


class ProducerLike(Protocol):
    """The part of confluent_kafka.Producer zig uses."""

    def produce(self, topic: str, value: Any = ..., key: Any = ..., **kwargs: Any) -> None: ...
    def poll(self, timeout: float = ...) -> int: ...
    def flush(self, timeout: float = ...) -> int: ...


class Delivery:
    """Collects the delivery reports of one group of records; reports arrive on whichever thread polls."""

    def __init__(self, expected: int) -> None:
        self._expected = expected
        # next() of a count is atomic under the GIL: every report gets its own number without taking a lock, and a
        # report runs for every retry and dead-letter write.
        self._reported = itertools.count(1)
        self.errors: list[str] = []
        self.done = threading.Event()
        if expected == 0:
            self.done.set()

    def report(self, error: Any, message: Any) -> None:
        if error is not None:
            denied = access.runtime_denial(error, message.topic(), "WRITE") if isinstance(error, KafkaError) else None
            self.errors.append(denied or f"{message.topic()}: {error.str() if hasattr(error, 'str') else error}")
        if next(self._reported) >= self._expected:
            self.done.set()


# How long to serve delivery reports, when librdkafka's local queue is full, before trying to produce again.
QUEUE_FULL_POLL_S = 0.05


def produce_when_room(
    produce: Callable[..., None], poll: Callable[[float], object], topic: str, value: Any, key: Any, **kwargs: Any
) -> KafkaError | None:
    """Produce one message, serving delivery reports for as long as librdkafka's local queue is full (BufferError),
    so that nothing is dropped; returns librdkafka's error when it refuses the message itself (too large, no such
    partition), None once it is queued.

    Loops that produce many messages call `produce` themselves and this only once it raised: the common case then
    costs no call of its own."""
    while True:
        try:
            produce(topic, value, key, **kwargs)
            return None
        except BufferError:
            poll(QUEUE_FULL_POLL_S)
        except KafkaException as exception:
            return kafka.unwrap(exception)[0]


def produce_async(producer: ProducerLike, records: Sequence[Record]) -> Delivery:
    """Queue every record; the returned Delivery is done once all have their delivery report. Raises RecordRefused
    for a record librdkafka refuses outright (too large, say): the caller names it."""
    delivery = Delivery(len(records))
    produce, report = producer.produce, delivery.report
    for index, (topic, key, value, headers) in enumerate(records):
        try:
            produce(topic, value, key, headers=headers, on_delivery=report)
        except (BufferError, KafkaException):  # a full queue (wait for room), or a refusal
            refused = produce_when_room(produce, producer.poll, topic, value, key, headers=headers, on_delivery=report)
            if refused is not None:
                raise RecordRefused(index, str(refused.str()), refused.code()) from None
    return delivery


def wait_for(producer: ProducerLike, delivery: Delivery, deadline_s: float) -> None:
    """Serve delivery reports until `delivery` is done; raises KafkaFatalError if any record failed."""
    give_up = time.monotonic() + deadline_s
    while not delivery.done.is_set():
        producer.poll(0.05)
        if time.monotonic() > give_up:
            raise KafkaFatalError(f"no delivery report for a write within {deadline_s:.0f} s")
    if delivery.errors:
        raise KafkaFatalError(f"could not write {len(delivery.errors)} record(s): {delivery.errors[0]}")


def produce_all(producer: ProducerLike, records: Sequence[Record], deadline_s: float) -> None:
    """Produce every record and wait for all their delivery reports; raises KafkaFatalError if any failed."""
    wait_for(producer, produce_async(producer, records), deadline_s)


# --- the producer wrapper: zig send and the handler API ---


class RouteProducer:
    """The producer of one route's :producer block, shared by every thread; a poller thread serves delivery reports
    (without one, `background=False`, the caller serves them with poll or flush: a one-shot `zig send` then need
    not wait up to a poll interval for the poller to notice it is closed)."""

    def __init__(
        self,
        route: str,
        props: Mapping[str, Any],
        key_encoder: Encoder,
        value_encoder: Encoder,
        metrics: RouteMetrics | None = None,
        background: bool = True,
    ) -> None:
        self._metrics = metrics
        self._props = props
        self._producer = kafka.new_producer(props)
        self._encode_key = key_encoder
        self._encode_value = value_encoder
        self._closing = threading.Event()
        self._poller: threading.Thread | None = None
        if background:
            self._poller = threading.Thread(target=self._poll, name=f"zig-producer-{route}", daemon=True)
            self._poller.start()

    def _poll(self) -> None:
        while not self._closing.is_set():
            self._producer.poll(0.1)

    def send(
        self,
        topic: str,
        key: Any,
        value: Any,
        partition: int | None = None,
        headers: HeadersIn | None = None,
    ) -> Future[tuple[str, int, int]]:
        """Produce one message; the future resolves to (topic, partition, offset) or raises the delivery error.

        Raises EncodeError for a key, value or header the serializers cannot write, and ProducerError for a partition
        out of Kafka's range or a message librdkafka refuses (too large)."""
        if partition is not None:
            problem = kafka.partition_problem(partition)
            if problem:
                raise ProducerError(f"can't send to {topic!r}: {problem}")
        future: Future[tuple[str, int, int]] = Future()
        future.set_running_or_notify_cancel()
        encoded_key = self._encode_key(key)
        encoded_value = self._encode_value(value)

        def report(error: Any, message: Any) -> None:
            if self._metrics is not None:
                self._metrics.delivered("send", error is None)
            if error is not None:
                denied = access.runtime_denial(error, topic, "WRITE")
                future.set_exception(KafkaFatalError(denied or f"{topic}: {error.str()}"))
            else:
                future.set_result((message.topic(), message.partition(), message.offset()))

        self.produce(topic, encoded_key, encoded_value, partition, encoded_headers(headers), report)
        return future

    def encode(self, key: Any, value: Any) -> tuple[bytes | None, bytes | None]:
        """Key and value as the route's serializers write them; raises EncodeError."""
        return self._encode_key(key), self._encode_value(value)

    def produce(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        partition: int | None,
        headers: Sequence[tuple[str, str | bytes | None]] | None,
        on_delivery: Callable[[Any, Any], None],
    ) -> None:
        """Queue encoded bytes, waiting for room when the local queue is full (nothing is dropped); raises
        ProducerError when librdkafka refuses the message."""
        extra: dict[str, Any] = {} if partition is None else {"partition": partition}
        refused = produce_when_room(
            self._producer.produce,
            self._producer.poll,
            topic,
            value,
            key,
            headers=headers,
            on_delivery=on_delivery,
            **extra,
        )
        if refused is not None:
            raise ProducerError(f"can't send to {topic!r}: {self.refusal(refused, topic, partition, key, value)}")

    def refusal(
        self, error: KafkaError, topic: str, partition: int | None, key: bytes | None, value: bytes | None
    ) -> str:
        """Why librdkafka refused to queue this message, saying what to change."""
        return kafka.produce_refusal(error, topic, partition, len(key or b"") + len(value or b""), self._props)

    @property
    def raw_produce(self) -> Callable[..., None]:
        """librdkafka's produce itself, for loops that send many already-encoded messages (zig send --file)."""
        return self._producer.produce

    def poll(self, timeout: float) -> int:
        return int(self._producer.poll(timeout))

    def flush(self, timeout: float) -> int:
        """Wait for every message sent so far; returns how many are still undelivered."""
        return int(self._producer.flush(timeout))

    def close(self, timeout: float) -> int:
        remaining = self.flush(timeout)
        self._closing.set()
        if self._poller is not None:
            self._poller.join(1)
        return remaining


def encoded_headers(headers: HeadersIn | None) -> list[tuple[str, bytes | None]]:
    """Headers given as a mapping or as (name, value) pairs, each as librdkafka takes it (see encode_header)."""
    items = headers.items() if isinstance(headers, Mapping) else headers or ()
    return [encode_header(str(k), v) for k, v in items]


def encode_header(name: str, value: str | bytes | None) -> tuple[str, bytes | None]:
    """A header as librdkafka takes it, text as UTF-8; raises EncodeError for text that is not UTF-8 (a lone
    surrogate: confluent-kafka's produce crashes the process on such a header name)."""
    try:
        name.encode("utf-8")
        return name, value.encode("utf-8") if isinstance(value, str) else value
    except UnicodeEncodeError:
        raise EncodeError(f"header {name!r} is not UTF-8 text") from None


class Producers:
    """Every route's producer, created on first use and shared by all threads; flushed on close."""

    def __init__(
        self,
        config: Config,
        overrides: Mapping[str, Any] | None = None,
        metrics: Metrics | None = None,
        background: bool = True,
    ) -> None:
        self.config = config
        self._background = background
        self._overrides = dict(overrides or {})
        self._metrics = metrics
        self._lock = threading.Lock()
        self._producers: dict[str, RouteProducer] = {}

    def get(self, route: str) -> RouteProducer:
        with self._lock:
            if route not in self._producers:
                self._producers[route] = self._create(route)
            return self._producers[route]

    def _create(self, name: str) -> RouteProducer:
        with_producer = [r.name for r in self.config.routes if r.has_producer]
        listed = ", ".join(repr(n) for n in with_producer) or "none"
        try:
            route = self.config.route(name)
        except KeyError:
            raise ProducerError(
                f"can't publish: no route named {name!r} in {self.config.file}; routes with a producer: {listed}"
            ) from None
        if not route.has_producer:
            raise ProducerError(
                f"can't publish: route {name!r} has no :producer block in {self.config.file}; "
                f"routes with a producer: {listed}"
            )
        return RouteProducer(
            name,
            kafka.producer_properties(self.config, route) | self._overrides,
            codecs.encoder(route["producer.key-serializer-class"]),
            codecs.encoder(route["producer.value-serializer-class"]),
            self._metrics.route(name, self.config.app_name) if self._metrics is not None else None,
            self._background,
        )

    def close(self, timeout: float) -> int:
        with self._lock:
            producers = list(self._producers.values())
        return sum(p.close(timeout) for p in producers)


class Sender(Protocol):
    """What `send` asks of one route's producer: a RouteProducer, or zig_cli.testing's recorder."""

    def send(
        self,
        topic: str,
        key: Any,
        value: Any,
        partition: int | None = None,
        headers: HeadersIn | None = None,
    ) -> Future[tuple[str, int, int]]: ...


class Senders(Protocol):
    """What `send` asks of the active producers: the one of a route."""

    def get(self, route: str) -> Sender: ...


_active: Senders | None = None


def activate(producers: Senders | None) -> Senders | None:
    """Make `send` use these producers (zig run does this for its handlers); returns the ones they replace."""
    global _active
    previous, _active = _active, producers
    return previous


def send(
    route: str, topic: str, *args: Any, headers: Mapping[str, str | bytes] | None = None
) -> Future[tuple[str, int, int]]:
    """Publish through a route's producer, like Ziggurat's send: (route, topic, key, value) or
    (route, topic, partition, key, value). Returns a future of (topic, partition, offset)."""
    if len(args) == 2:
        partition, (key, value) = None, args
    elif len(args) == 3:
        partition, key, value = args
        if not isinstance(partition, int) or isinstance(partition, bool):
            raise TypeError(f"send(route, topic, partition, key, value): partition must be an int, got {partition!r}")
    else:
        raise TypeError("send takes (route, topic, key, value) or (route, topic, partition, key, value)")
    if _active is None:
        raise ProducerError("can't publish: no producers are configured (send works inside zig run)")
    return _active.get(route).send(topic, key, value, partition=partition, headers=headers)
