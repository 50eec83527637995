"""`zig send --file`: one message per line, pipelined through a route's producer, every failure kept with its line.

A line is either `key<TAB>value` (an empty key means no key) or a JSON object
`{"key": ..., "value": ..., "partition": ..., "headers": {...}}`. A line that is neither is a failure, reported with
its number; nothing is skipped silently.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from zig_cli.errors import EncodeError
from zig_cli.producer import RouteProducer

MAX_FAILURES_KEPT = 100


@dataclass
class BulkResult:
    sent: int = 0
    failed: int = 0
    failures: list[tuple[int, str]] = field(default_factory=list)  # (line number, reason), the first ones
    seconds: float = 0.0
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
        """The producer's on_delivery callback, set once in its config: passing it with every message cost a
        tenth of the send rate."""
        if error is not None:
            key = message.key()
            self.fail(0, f"key {key.decode('utf-8', 'replace') if key is not None else None!r}: {error.str()}")


@dataclass(frozen=True, slots=True)
class Line:
    key: Any
    value: Any
    partition: int | None
    headers: list[tuple[str, str | bytes | None]]


def parse(text: str, json_values: bool) -> Line:
    """One line of a bulk file; raises ValueError saying what is wrong with it."""
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
        if partition is not None and (not isinstance(partition, int) or isinstance(partition, bool)):
            raise ValueError(f"partition must be an integer, got {partition!r}")
        headers = item.get("headers") or {}
        if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
            raise ValueError("headers must be an object of strings")
        return Line(item.get("key"), item["value"], partition, [(str(k), v.encode()) for k, v in headers.items()])
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
    lines: Iterable[str],
    json_values: bool,
    headers: list[tuple[str, str | bytes | None]],
    timeout: float,
    progress: Callable[[int], None] = lambda queued: None,
    result: BulkResult | None = None,
) -> BulkResult:
    """Produce every line without waiting between them, then wait for every delivery.

    The producer should report failed deliveries only (delivery.report.only.error) to `result.delivery_report`,
    set as its on_delivery callback: successes are then counted as what was queued minus what failed, which
    spares a Python callback per message.
    """
    result = result if result is not None else BulkResult()
    failed = result.fail
    started = time.perf_counter()
    produce = producer.raw_produce
    poll = producer.poll
    extra: dict[str, Any] = {"headers": headers} if headers else {}
    queued = 0
    for number, raw in enumerate(lines, 1):
        text = raw.rstrip("\r\n")
        tab = text.find("\t")
        if tab >= 0 and not json_values and not text.startswith("{"):
            # The common line, key<TAB>value, goes straight to librdkafka.
            key: bytes | None = text[:tab].encode() if tab else None
            value: bytes | None = text[tab + 1 :].encode()
            kwargs = extra
        else:
            try:
                line = parse(text, json_values)
                key, value = producer.encode(line.key, line.value)
            except (ValueError, EncodeError) as error:
                failed(number, str(error))
                continue
            kwargs = dict(extra)
            if line.headers:
                kwargs["headers"] = headers + line.headers
            if line.partition is not None:
                kwargs["partition"] = line.partition
        while True:
            try:
                if kwargs:
                    produce(topic, value, key, **kwargs)
                else:  # spares building a call from an empty dict, per line
                    produce(topic, value, key)
                break
            except BufferError:  # the local queue is full: let deliveries make room, lose nothing
                poll(0.05)
        queued += 1
        if queued % 10_000 == 0:
            progress(queued)
    undelivered = producer.flush(timeout)
    with result._lock:
        if undelivered:
            result.failed += undelivered
            result.failures.append((0, f"{undelivered} message(s) not delivered within {timeout:g} s"))
        delivery_failures = sum(1 for number, _ in result.failures if number == 0)
        result.sent = queued - delivery_failures - undelivered
    result.seconds = time.perf_counter() - started
    result.failures.sort()
    return result
