"""`zig send --file`: one message per line, pipelined through a route's producer, every failure kept with its line.

A line is either `key<TAB>value` (an empty key means no key) or a JSON object
`{"key": ..., "value": ..., "partition": ..., "headers": {...}}`, in UTF-8. A line that is neither, is not UTF-8, or
that librdkafka refuses (over message.max.bytes) is a failure, reported with its number; a blank line (nothing but
spaces and its line ending) is skipped and counted; nothing else is skipped.

Lines are read as bytes: a plain key<TAB>value line's key and value are already what the string serializer would
write, so they go to librdkafka as they are, without a decode and two encodes per line.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import KafkaException

from zig_cli import envelope, kafka
from zig_cli.errors import EncodeError
from zig_cli.producer import RouteProducer, encode_header, produce_when_room

MAX_FAILURES_KEPT = 100


@dataclass
class BulkResult:
    sent: int = 0
    failed: int = 0
    failures: list[tuple[int, str]] = field(default_factory=list)  # (line number, reason), the first ones
    seconds: float = 0.0
    delivery_failures: int = 0  # all of them, not only the first ones kept in `failures`
    blank: int = 0  # blank lines, skipped
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def rate(self) -> float:
        return self.sent / self.seconds if self.seconds > 0 else 0.0

    def fail(self, number: int, reason: str) -> None:
        """Count a failure; line 0 is a failed delivery (librdkafka does not say which line it came from)."""
        with self._lock:
            self.failed += 1
            if len(self.failures) < MAX_FAILURES_KEPT:
                self.failures.append((number, reason))

    def delivery_report(self, error: Any, message: Any) -> None:
        """The producer's on_delivery callback, set once in its config rather than passed with every message, which
        the line loop would pay for on every line."""
        if error is not None:
            self.fail(0, f"key {envelope.decoded(message.key())!r}: {error.str()}")
            with self._lock:
                self.delivery_failures += 1


@dataclass(frozen=True, slots=True)
class Line:
    key: Any
    value: Any
    partition: int | None
    headers: list[tuple[str, str | bytes | None]]


def parse(text: str, json_values: bool) -> Line:
    """One line of a bulk file; raises ValueError (or EncodeError for a header) saying what is wrong with it."""
    if text.startswith("{"):
        try:
            item = json.loads(text)
        except ValueError as error:
            raise ValueError(f"not a JSON object: {error}") from None
        if not isinstance(item, dict) or "value" not in item:
            raise ValueError('a JSON line needs at least {"value": ...}')
        unknown = sorted(set(item) - {"key", "value", "partition", "headers"})
        if unknown:
            raise ValueError(f"unknown field(s) {unknown}; use key, value, partition, headers")
        partition = item.get("partition")
        if partition is not None:
            if not isinstance(partition, int) or isinstance(partition, bool):
                raise ValueError(f"partition must be an integer, got {partition!r}")
            problem = kafka.partition_problem(partition)
            if problem:
                raise ValueError(problem)
        headers = item.get("headers") or {}
        if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
            raise ValueError("headers must be an object of strings")
        return Line(item.get("key"), item["value"], partition, [encode_header(k, v) for k, v in headers.items()])
    if "\t" not in text:
        raise ValueError("expected key<TAB>value or a JSON object")
    key, value = text.split("\t", 1)
    if json_values:
        try:
            value = json.loads(value)
        except ValueError as error:
            raise ValueError(f"the value is not JSON, which this producer's json serializer needs: {error}") from None
    return Line(key or None, value, None, [])


def send_lines(
    producer: RouteProducer,
    topic: str,
    lines: Iterable[bytes],
    json_values: bool,
    headers: list[tuple[str, str | bytes | None]],
    timeout: float,
    progress: Callable[[int], None] = lambda queued: None,
    result: BulkResult | None = None,
    check: Callable[[], None] | None = None,
) -> BulkResult:
    """Produce every line without waiting between them, then wait for every delivery.

    The producer should report failed deliveries only (delivery.report.only.error) to `result.delivery_report`,
    set as its on_delivery callback: successes are then counted as what was queued minus what failed, which
    spares a Python callback per message. `check` may raise to stop waiting for deliveries (brokers refusing zig).
    """
    result = result if result is not None else BulkResult()
    failed = result.fail
    started = time.perf_counter()
    produce = producer.raw_produce
    poll = producer.poll
    refusal = producer.refusal
    # The common line, key<TAB>value with no headers to add, goes straight to librdkafka: this loop is the whole
    # cost of a bulk send besides librdkafka's own, so it does no more per line than a hand-written one would.
    plain = not json_values and not headers
    number = skipped = 0
    key: bytes | None
    value: bytes | None
    for number, raw in enumerate(lines, 1):
        key_bytes, tab, value_bytes = raw.rstrip(b"\r\n").partition(b"\t")
        if tab and plain and not key_bytes.startswith(b"{") and (raw.isascii() or _is_utf8(raw)):
            key = key_bytes or None
            try:
                produce(topic, value_bytes, key)
            except (BufferError, KafkaException):  # a full queue (lose nothing: wait), or a line librdkafka refuses
                refused = produce_when_room(produce, poll, topic, value_bytes, key)
                if refused is not None:
                    failed(number, refusal(refused, topic, None, key, value_bytes))
                    skipped += 1
        else:
            try:
                line = parse(_line_text(raw), json_values)
                key, value = producer.encode(line.key, line.value)
            except (ValueError, EncodeError) as error:
                if b"\t" not in raw and not raw.strip():  # blank: nothing to send, nothing wrong
                    result.blank += 1
                else:
                    failed(number, str(error))
                skipped += 1
                continue
            kwargs: dict[str, Any] = {"headers": headers + line.headers} if headers or line.headers else {}
            if line.partition is not None:
                kwargs["partition"] = line.partition
            refused = produce_when_room(produce, poll, topic, value, key, **kwargs)
            if refused is not None:
                failed(number, refusal(refused, topic, line.partition, key, value))
                skipped += 1
        if not number % 10_000:
            progress(number - skipped)
    queued = number - skipped
    undelivered = producer.flush(timeout) if check is None else _flush(producer, timeout, check)
    with result._lock:
        if undelivered:
            result.failed += undelivered
            result.failures.append((0, f"{undelivered} message(s) not delivered within {timeout:g} s"))
        result.sent = queued - result.delivery_failures - undelivered
    result.seconds = time.perf_counter() - started
    result.failures.sort()
    return result


# How long each wait for the last deliveries lasts before `check` is asked whether to give up.
FLUSH_STEP_S = 0.1


def _flush(producer: RouteProducer, timeout: float, check: Callable[[], None]) -> int:
    """Wait up to `timeout` for every delivery, in steps between which `check` may raise; how many are left."""
    deadline = time.monotonic() + timeout
    while True:
        undelivered = producer.flush(max(0.0, min(FLUSH_STEP_S, deadline - time.monotonic())))
        if not undelivered or time.monotonic() >= deadline:
            return undelivered
        check()


def _is_utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _line_text(raw: bytes) -> str:
    """A line as text, without its line ending; raises ValueError saying where it is not UTF-8."""
    try:
        return raw.decode("utf-8").rstrip("\r\n")
    except UnicodeDecodeError as error:
        raise ValueError(f"not UTF-8 text (byte {error.start + 1}: {raw[error.start : error.start + 1]!r})") from None
