"""One consumer per thread: consume -> handler -> apply each outcome -> store offsets.

A batch route's handler is called once per consumed batch; a stream route's once per message, in partition order.

At-least-once by construction: the consumer never stores offsets by itself (`enable.auto.offset.store=false`); a
batch's offsets are stored only after every message's outcome is applied, retry and dead-letter writes included
(acknowledged by the broker). The worker does not wait for those acknowledgements before handling the next batch:
it keeps the handled batches in order and stores each one's offsets once its writes, and every earlier batch's,
are acknowledged. librdkafka commits what is stored every `commit-interval-ms`, and the worker waits for every
write and commits on revoke and on close.

A retry worker is the same loop on the route's retry topic, with a gate: once a partition's next message is not
yet due, it and everything after it in that partition is held in memory, in order, until due. Only a partition
holding HOLD_LIMIT messages, or adding to held messages past the route's `max-held-bytes` in all, is paused (the
consumer keeps polling, so it stays in its group). Rewinding to the
message, or pausing at once, made librdkafka throw away and fetch again the whole not-yet-due tail of the retry
topic every few milliseconds, which kept the broker and the client busy and made a 10% retry run five times slower.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any, Protocol

from confluent_kafka import KafkaError, KafkaException, TopicPartition

from zig_cli import codecs, contract, envelope, kafka
from zig_cli.codecs import Decoder
from zig_cli.config import Retry
from zig_cli.contract import ConsumedMessage, Message, Outcome
from zig_cli.errors import DecodeError, KafkaFatalError, RecordRefused
from zig_cli.metrics import RouteMetrics
from zig_cli.producer import Delivery, ProducerLike, produce_async, wait_for
from zig_cli.stats import RouteStats

logger = logging.getLogger(__name__)


class ConsumerLike(Protocol):
    """The part of confluent_kafka.Consumer a worker uses."""

    def subscribe(self, topics: list[str], **callbacks: Any) -> None: ...
    def consume(self, num_messages: int = ..., timeout: float = ...) -> list[Any]: ...
    def store_offsets(self, message: Any = ..., offsets: Any = ...) -> None: ...
    def commit(self, message: Any = ..., offsets: Any = ..., asynchronous: bool = ...) -> Any: ...
    def pause(self, partitions: list[TopicPartition]) -> None: ...
    def resume(self, partitions: list[TopicPartition]) -> None: ...
    def close(self) -> None: ...
    def get_watermark_offsets(self, partition: TopicPartition, timeout: float = ..., cached: bool = ...) -> Any: ...


# Given librdkafka callbacks ({"error_cb": ..., "on_commit": ...}), a new consumer.
ConsumerFactory = Callable[[dict[str, Callable[..., None]]], ConsumerLike]


@dataclass(frozen=True)
class RouteRuntime:
    """What every worker of one route shares."""

    name: str
    handler: Callable[[Any], Any]  # list[Message] -> batch result, or Message -> Outcome for a stream route
    subscription: str  # a topic name, or a librdkafka regex starting with ^
    plain_topic: bool
    max_records: int
    poll_timeout_s: float
    key_decoder: Decoder
    value_decoder: Decoder
    retry: Retry
    retry_topic: str
    dead_letter_topic: str
    producer: ProducerLike
    stats: RouteStats
    delivery_deadline_s: float
    stream: bool = False  # call the handler once per message (a stream route) instead of once per batch
    oldest_ms: int | None = None  # stream routes skip messages older than this before the handler
    metrics: RouteMetrics | None = None
    max_message_bytes: int = kafka.DEFAULT_MESSAGE_MAX_BYTES  # the forwarding producer's message.max.bytes


# What was decided for one message, and why (for the zig-error header).
SUCCESS, RETRY, FAILED, SKIP, TOO_OLD, DEAD_LETTER = "success", "retry", "failed", "skip", "too-old", "dead-letter"
ASKED_RETRY = "the handler asked for a retry"
Verdict = tuple[str, str]
# How many messages of a batch were decided, and the verdict of each one that did not simply succeed, by index:
# sparse, because a batch where a few messages are retried should not cost a verdict per message.
Decision = tuple[int, dict[int, Verdict]]
_SUCCEEDED: Verdict = (SUCCESS, "")
# Handled batches whose writes may be in flight at once before the worker waits for the oldest.
MAX_PENDING_BATCHES = 100
# Retry messages one partition may hold in memory while waiting for the first to fall due, before it is paused.
HOLD_LIMIT = 10_000
# How late a held retry message may be handled, at most, so the retry worker wakes for batches, not each message.
RETRY_TICK_S = 0.02
_PASSTHROUGH = codecs.decoder("bytes")  # the default deserializer returns its input: no call needed


@dataclass(slots=True)
class _Consumed:
    """One consumed batch as parallel lists: the raw messages, what the handler sees (None: did not decode)."""

    raws: list[Any]
    messages: list[Message | None]
    reasons: dict[int, str]  # index -> why it did not decode
    origins: dict[int, envelope.Origin]  # index -> origin, for messages that arrived with headers

    def origin(self, index: int) -> envelope.Origin:
        """Where message `index` first came from (computed on demand: only retries and dead letters need it)."""
        found = self.origins.get(index)
        if found is None:
            raw = self.raws[index]
            kind, timestamp = raw.timestamp()
            stamp = timestamp if kind else None
            found = envelope.Origin(raw.topic(), raw.partition(), raw.offset(), stamp, 0, None, ())
        return found


def _now_ms() -> int:
    return int(time.time() * 1000)


class Worker:
    """One thread's consumer loop for a route (or, with `delayed`, for its retry topic)."""

    def __init__(
        self,
        runtime: RouteRuntime,
        new_consumer: ConsumerFactory,
        stop: threading.Event,
        delayed: bool = False,
    ) -> None:
        self.runtime = runtime
        self.stop = stop
        self.delayed = delayed
        self._new_consumer = new_consumer
        self._fatal: KafkaFatalError | None = None
        # Retry partitions waiting: (topic, partition) -> the consumed messages held back with their origins, in
        # order, and when the first of them is due (ms); the ones paused for holding HOLD_LIMIT messages.
        self._held: dict[tuple[str, int], deque[tuple[Any, envelope.Origin]]] = {}
        self._held_due: dict[tuple[str, int], int] = {}
        self._held_bytes = 0  # keys and values of every held message, against the route's max-held-bytes
        self._paused: set[tuple[str, int]] = set()
        # Handled batches in consumption order, each waiting for its retry and dead-letter writes to be
        # acknowledged before its offsets may be stored: (delivery or None, last message per partition, retried,
        # dead-lettered). Offsets are stored strictly in this order, so none passes an unacknowledged write.
        self._pending: deque[tuple[Delivery | None, dict[tuple[str, int], Any], int, int]] = deque()
        # Why this worker is not ready to consume, or None while it holds an assignment. Written by the worker's
        # own callbacks, read by /health: a plain attribute, replaced whole.
        self.unready: str | None = "has not joined its group yet"
        self._consumer: ConsumerLike | None = None
        metrics = runtime.metrics
        self._handler_times = metrics.handler_times() if metrics is not None and runtime.stream else None

    # --- the loop ---

    def run(self) -> None:
        consumer = self._new_consumer({"error_cb": self._on_error, "on_commit": self._on_commit})
        self._consumer = consumer
        topic = self.runtime.retry_topic if self.delayed else self.runtime.subscription
        try:
            consumer.subscribe([topic], on_assign=self._on_assign, on_revoke=self._on_revoke, on_lost=self._on_lost)
            while not self.stop.is_set():
                if self._held:
                    self.handle_due(consumer)
                if self._pending:
                    self.runtime.producer.poll(0)
                    self._settle(consumer, block=False)
                raw = consumer.consume(num_messages=self.runtime.max_records, timeout=self._poll_timeout())
                if self._fatal is not None:
                    raise self._fatal
                if raw:
                    self.handle(consumer, raw)
        finally:
            self._close(consumer)

    def _poll_timeout(self) -> float:
        # While writes are in flight, come back soon to store the offsets they hold back.
        timeout = min(self.runtime.poll_timeout_s, 0.05) if self._pending else self.runtime.poll_timeout_s
        if self._held_due:
            until_due = (min(self._held_due.values()) - _now_ms()) / 1000
            # Up to a tick late, so due retries go out in batches: waking every millisecond for the next one kept
            # this thread holding the GIL and slowed the route's main workers down.
            timeout = min(timeout, max(until_due, RETRY_TICK_S))
        return timeout

    def handle(self, consumer: ConsumerLike, raw_messages: Sequence[Any]) -> None:
        """Handle consumed messages, apply every outcome, then store the offsets of what was decided."""
        raws, origins = self._usable(consumer, raw_messages)
        if raws:
            self._handle_usable(consumer, raws, origins)

    def handle_due(self, consumer: ConsumerLike) -> None:
        """Handle the held retry messages that are now due; resume a paused partition once its held ones are out."""
        now = _now_ms()
        released: list[Any] = []
        origins: list[envelope.Origin] = []
        emptied: list[tuple[str, int]] = []
        for where, held in self._held.items():
            if not _is_due(self._held_due[where], now):
                continue
            while held and _is_due(held[0][1].due_ms or 0, now):
                raw, origin = held.popleft()
                released.append(raw)
                origins.append(origin)
                self._held_bytes -= _size(raw)
            if held:
                self._held_due[where] = held[0][1].due_ms or 0
            else:
                emptied.append(where)
        for where in emptied:
            del self._held[where]
            del self._held_due[where]
        resumed = [where for where in emptied if where in self._paused]
        if resumed:
            # fetching goes on after the last message consumed: the held ones were all consumed already
            consumer.resume([TopicPartition(topic, partition) for topic, partition in resumed])
            self._paused.difference_update(resumed)
        if released:
            self._handle_usable(consumer, released, origins)

    def _handle_usable(
        self, consumer: ConsumerLike, raws: list[Any], origins: list[envelope.Origin] | None = None
    ) -> None:
        started = time.perf_counter()
        batch = self._build(raws, origins)
        decision = self._decide_per_message(batch) if self.runtime.stream else self._decide_batch(batch)
        records: list[envelope.Record] = []
        retried = 0
        if decision is None:  # the common case: every message of the batch succeeded
            decided, counts = len(raws), Counter({SUCCESS: len(raws)})
        else:
            decided, verdicts = decision  # a stream worker told to stop leaves the rest for the next owner
            records, retried = self._outgoing(batch, verdicts)
            counts = Counter(map(itemgetter(0), verdicts.values()))
            counts[SUCCESS] += decided - len(verdicts)
        dead = len(records) - retried
        handled = raws if decided == len(raws) else raws[:decided]  # copied only when a stream worker stopped early
        lasts = _lasts(handled)
        if records or self._pending:
            # Writes are not waited for here: the next batch is handled meanwhile, and these offsets are stored
            # once the writes are acknowledged (and every earlier batch's offsets are stored).
            delivery = self._forward(batch, verdicts, records) if records else None
            self._pending.append((delivery, lasts, retried, dead))
            self.runtime.producer.poll(0)
            self._settle(consumer, block=len(self._pending) > MAX_PENDING_BATCHES)
        else:
            self._store(consumer, lasts)
        if self.runtime.metrics is not None:
            firsts = _firsts(handled)
            self._measure(
                consumer, self.runtime.metrics, decided, len(batch.reasons), counts, retried, dead, lasts, firsts
            )
        self.runtime.stats.add_batch(
            consumed=decided,
            succeeded=counts[SUCCESS],
            retried=retried,
            skipped=counts[SKIP] + counts[TOO_OLD],
            dead_lettered=dead,
            # a failed handler call: one per batch for a batch route, one per message for a stream route
            handler_errors=counts[FAILED] if self.runtime.stream else min(counts[FAILED], 1),
            duration_ms=(time.perf_counter() - started) * 1000,
            too_old=counts[TOO_OLD],
        )

    def _measure(
        self,
        consumer: ConsumerLike,
        metrics: RouteMetrics,
        decided: int,
        decode_failures: int,
        counts: Counter[str],
        retried: int,
        dead: int,
        lasts: dict[tuple[str, int], Any],
        firsts: dict[tuple[str, int], Any],
    ) -> None:
        """Per-batch metrics: counts, sizes, deliveries, the age of each partition's oldest message, and lag."""
        metrics.read.inc(decided)
        metrics.outcomes(
            {
                "success": counts[SUCCESS],
                "skip": counts[SKIP],
                "too_old": counts[TOO_OLD],
                "failure": counts[FAILED],
                "retry": retried,
                "dead_letter": dead,
            }
        )
        if decode_failures:
            metrics.parse_failures.inc(decode_failures)
        metrics.batch_size.observe(decided)
        now = _now_ms()
        for (topic, partition), first in firsts.items():
            kind, timestamp = first.timestamp()
            if kind and not self.delayed:
                metrics.delay.observe(max(now - timestamp, 0) / 1000)
            try:
                _, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), cached=True)
            except KafkaException:
                continue
            if high >= 0:
                metrics.lag(topic, partition, high - lasts[(topic, partition)].offset() - 1)

    # --- deciding outcomes ---

    def _decide_batch(self, batch: _Consumed) -> Decision | None:
        """One handler call for the batch; None when every message succeeded. What did not decode is a dead letter."""
        # A copy: what a handler does to its list must not change what zig applies and stores.
        handed = [m for m in batch.messages if m is not None]
        verdicts: dict[int, Verdict] = {index: (DEAD_LETTER, reason) for index, reason in batch.reasons.items()}
        if handed:
            started = time.perf_counter()
            try:
                result = self.runtime.handler(handed)
            except Exception as error:  # the handler's own failure: the whole batch is retried
                failed: Verdict = (FAILED, contract.describe_error(error))
                logger.error(
                    "route=%s handler raised on %s; retrying the batch",
                    self.runtime.name,
                    _ranges(batch.raws),
                    exc_info=True,
                )
                for index, message in enumerate(batch.messages):
                    if message is not None:
                        verdicts[index] = failed
            else:
                if result is None and not verdicts:
                    return None
                retry, skip = contract.interpret_batch_result(self.runtime.name, result, handed)
                if retry or skip:
                    # positions in `handed` are batch indexes unless some message did not decode
                    index_of = [i for i, m in enumerate(batch.messages) if m is not None] if batch.reasons else None
                    for position in skip:
                        verdicts[index_of[position] if index_of else position] = (SKIP, "")
                    for position in retry:
                        verdicts[index_of[position] if index_of else position] = (RETRY, ASKED_RETRY)
            finally:
                if self.runtime.metrics is not None:
                    self.runtime.metrics.batch_handler_time.observe(time.perf_counter() - started)
        return (len(batch.raws), verdicts) if verdicts else None

    def _decide_per_message(self, batch: _Consumed) -> Decision | None:
        """One handler call per message, in order; stops between messages once the worker is told to stop. None
        when every message succeeded. The hot loop of a stream route: the handler is called inline and timed into
        plain lists, because a Python call per message is most of zig's own cost here."""
        verdicts: dict[int, Verdict] = {}
        decided = 0
        limit = self._too_old_limit(batch)
        handler = self.runtime.handler
        times = self._handler_times
        clock = time.perf_counter
        stop = self.stop
        for index, message in enumerate(batch.messages):
            if stop.is_set():
                break  # the rest is left undecided, for the next owner
            decided = index + 1
            if message is None:
                verdicts[index] = (DEAD_LETTER, batch.reasons[index])
                continue
            if limit is not None and (timestamp := message.timestamp) is not None and timestamp < limit:
                verdicts[index] = (TOO_OLD, "")
                continue
            started = clock()
            try:
                value = handler(message)
            except Exception as error:  # counted as a failure and retried, as Ziggurat does
                if times is not None:
                    times.observe(clock() - started)
                logger.error(
                    "route=%s %s handler raised; retrying the message",
                    self.runtime.name,
                    _where(batch.raws[index]),
                    exc_info=True,
                )
                verdicts[index] = (FAILED, contract.describe_error(error))
                continue
            if times is not None:
                times.observe(clock() - started)
            # The common answer first, asking nothing of the value itself: a returned object's own `!=` or truth
            # value may raise (or be an array), and only zig's reading of it may decide what happens.
            if value is not SUCCESS and (type(value) is not str or value != SUCCESS):
                verdict = self._stream_verdict(batch.raws[index], value)
                if verdict is not _SUCCEEDED:
                    verdicts[index] = verdict
        return None if decided == len(batch.raws) and not verdicts else (decided, verdicts)

    def _too_old_limit(self, batch: _Consumed) -> int | None:
        """The timestamp below which a message is skipped as too old, or None when no message of the batch can be:
        one pass over the broker's timestamps in C saves a check per message in the common case."""
        oldest = self.runtime.oldest_ms
        if oldest is None or self.delayed:
            return None
        limit = _now_ms() - oldest
        if batch.origins:  # forwarded messages carry their first timestamp: check each one
            return limit
        stamps = [raw.timestamp()[1] for raw in batch.raws]
        return limit if min(stamps) < limit else None  # a message without a timestamp has -1: checked

    def _stream_verdict(self, raw: Any, value: Any) -> Verdict:
        """The verdict for a stream handler's answer other than "success"."""
        outcome = contract.interpret_stream_result(value)
        if outcome is None:
            shown = contract.shown(value)
            logger.error(
                "route=%s %s handler returned %s, not success, retry, skip or dead-letter; retrying the message",
                self.runtime.name,
                _where(raw),
                shown,
            )
            return (FAILED, f"the handler returned {shown}")
        if outcome is Outcome.RETRY:
            return (RETRY, ASKED_RETRY)
        if outcome is Outcome.DEAD_LETTER:
            return (DEAD_LETTER, "the handler asked for a dead letter")
        return (SKIP, "") if outcome is Outcome.SKIP else _SUCCEEDED

    # --- building messages ---

    def _usable(
        self, consumer: ConsumerLike, raw_messages: Sequence[Any]
    ) -> tuple[list[Any], list[envelope.Origin] | None]:
        """Drop error events (reporting them) and, on a retry topic, messages not yet due; a retry topic's messages
        come with their origins (read once: their headers say when each is due)."""
        usable = [raw for raw in raw_messages if raw.error() is None]
        if len(usable) != len(raw_messages):
            for raw in raw_messages:
                error = raw.error()
                if error is not None:
                    self._on_error(error)
                    if self._fatal is not None:
                        raise self._fatal
        if not self.delayed:
            return usable, None
        due_now: list[Any] = []
        origins: list[envelope.Origin] = []
        now = _now_ms()
        for raw in usable:
            topic, partition = where = (raw.topic(), raw.partition())
            kind, timestamp = raw.timestamp()
            origin = envelope.read(topic, partition, raw.offset(), timestamp if kind else None, raw.headers())
            held = self._held.get(where)
            if held is None:
                due = origin.due_ms
                if due is None or _is_due(due, now):
                    due_now.append(raw)
                    origins.append(origin)
                    continue
                held = self._held[where] = deque()
                self._held_due[where] = due
            held.append((raw, origin))  # behind a message not yet due: waits its turn, in order
            self._held_bytes += _size(raw)
            full = len(held) >= HOLD_LIMIT or self._held_bytes >= self.runtime.retry.max_held_bytes
            if full and where not in self._paused:
                logger.info(
                    "route=%s %s[%d] paused: %d retries of it held until due, %d bytes held in all",
                    self.runtime.name,
                    topic,
                    partition,
                    len(held),
                    self._held_bytes,
                )
                consumer.pause([TopicPartition(topic, partition)])
                self._paused.add(where)
        return due_now, origins

    def _build(self, raws: list[Any], known: list[envelope.Origin] | None = None) -> _Consumed:
        """What the handler sees for each raw message, given the origins if they are `known` already (a retry
        topic's); the hot loop of every worker, so kept lean."""
        decode_key = None if self.runtime.key_decoder is _PASSTHROUGH else self.runtime.key_decoder
        decode_value = None if self.runtime.value_decoder is _PASSTHROUGH else self.runtime.value_decoder
        messages: list[Message | None] = []
        reasons: dict[int, str] = {}
        origins: dict[int, envelope.Origin] = {}
        append = messages.append
        for index, raw in enumerate(raws):
            try:
                key = raw.key() if decode_key is None else decode_key(raw.key())
            except Exception as error:  # whatever a deserializer raises, the message is a dead letter, not a crash
                reasons[index] = _undecodable("key", error)
                append(None)
                continue
            try:
                value = raw.value() if decode_value is None else decode_value(raw.value())
            except Exception as error:
                reasons[index] = _undecodable("value", error)
                append(None)
                continue
            if known is not None:
                origin = origins[index] = known[index]
            else:
                headers = raw.headers()
                if headers is None:
                    append(ConsumedMessage(raw, key, value))
                    continue
                kind, timestamp = raw.timestamp()
                origin = envelope.read(raw.topic(), raw.partition(), raw.offset(), timestamp if kind else None, headers)
                origins[index] = origin
            append(
                Message(
                    origin.topic,
                    origin.partition,
                    origin.offset,
                    origin.timestamp,
                    key,
                    value,
                    origin.headers,
                    origin.retry_count,
                )
            )
        return _Consumed(raws, messages, reasons, origins)

    # --- applying outcomes ---

    def _outgoing(self, batch: _Consumed, verdicts: dict[int, Verdict]) -> tuple[list[envelope.Record], int]:
        """Records for the retry and dead-letter topics, in consumption order, and how many are retries: a retry
        past `count`, or with retry off, is a dead letter."""
        runtime = self.runtime
        retry = runtime.retry
        route = runtime.name
        now = _now_ms()
        records: list[envelope.Record] = []
        retried = 0
        for index, (kind, reason) in sorted(verdicts.items()):
            if kind in (SKIP, TOO_OLD):  # successes never get here: verdicts are kept for the others only
                continue
            origin = batch.origin(index)
            raw = batch.raws[index]
            if kind in (RETRY, FAILED):
                if retry.enabled and origin.retry_count < retry.count:
                    count = origin.retry_count + 1
                    due = now + envelope.backoff_ms(retry, count)
                    records.append(
                        envelope.forward(runtime.retry_topic, origin, raw.key(), raw.value(), route, count, reason, due)
                    )
                    retried += 1
                    continue
                why = "retry is disabled" if not retry.enabled else f"retried {origin.retry_count} time(s)"
                reason = f"{reason} ({why})"
            records.append(
                envelope.forward(
                    runtime.dead_letter_topic, origin, raw.key(), raw.value(), route, origin.retry_count, reason
                )
            )
        return records, retried

    def _forward(self, batch: _Consumed, verdicts: dict[int, Verdict], records: list[envelope.Record]) -> Delivery:
        """Queue the batch's retry and dead-letter records; a record the producer refuses stops the route, naming
        the message it copies (its offset stays uncommitted, so nothing is lost)."""
        try:
            return produce_async(self.runtime.producer, records)
        except RecordRefused as refused:
            forwarded = [index for index, (kind, _) in sorted(verdicts.items()) if kind not in (SKIP, TOO_OLD)]
            raw = batch.raws[forwarded[refused.index]]
            raise KafkaFatalError(self._refusal(raw, records[refused.index], refused)) from None

    def _refusal(self, raw: Any, record: envelope.Record, refused: RecordRefused) -> str:
        kind = "retry" if record.topic == self.runtime.retry_topic else "dead-letter"
        what = f"route {self.runtime.name!r}: cannot write the {kind} copy of {_where(raw)} to {record.topic!r}"
        if refused.code != KafkaError.MSG_SIZE_TOO_LARGE:
            return f"{what}: {refused.reason}"
        size = len(record.key or b"") + len(record.value or b"") + sum(len(n) + len(v) for n, v in record.headers)
        return (
            f"{what}: {size:,} bytes of key, value and headers (zig's included) and the record's own overhead are "
            f"over the producer's message.max.bytes of {self.runtime.max_message_bytes:,}; raise it in the route's "
            ":producer kafka-properties (and the topic's max.message.bytes on the broker)"
        )

    def _settle(self, consumer: ConsumerLike, block: bool) -> None:
        """Store the offsets of every handled batch whose writes are acknowledged, in order; with `block`, wait."""
        while self._pending:
            delivery, lasts, retried, dead = self._pending[0]
            if delivery is not None:
                if not block and not delivery.done.is_set():
                    return
                try:  # returns at once for a delivery already done, or raises its errors
                    wait_for(self.runtime.producer, delivery, self.runtime.delivery_deadline_s)
                except KafkaFatalError:
                    self._count_deliveries(retried, dead, ok=False)
                    raise
                self._count_deliveries(retried, dead, ok=True)
            self._store(consumer, lasts)
            self._pending.popleft()

    def _count_deliveries(self, retried: int, dead: int, ok: bool) -> None:
        if self.runtime.metrics is not None:
            self.runtime.metrics.delivered("retry", ok, retried)
            self.runtime.metrics.delivered("dead_letter", ok, dead)

    def _store(self, consumer: ConsumerLike, lasts: dict[tuple[str, int], Any]) -> None:
        """Store, per partition, the offset after the last decided message."""
        for (topic, partition), last in lasts.items():
            offset = last.offset() + 1
            try:
                consumer.store_offsets(offsets=[TopicPartition(topic, partition, offset)])
            except KafkaException as error:
                # The partition was taken away meanwhile; its new owner will see these messages again.
                logger.warning(
                    "route=%s %s[%d]@%d: offset not stored (%s); the messages will be delivered again",
                    self.runtime.name,
                    topic,
                    partition,
                    offset - 1,
                    error.args[0].str(),
                )

    # --- callbacks and errors ---

    def _on_assign(self, consumer: Any, partitions: list[TopicPartition]) -> None:
        self.unready = None
        logger.info("route=%s assigned %s", self.runtime.name, _partitions(partitions))

    def _on_revoke(self, consumer: Any, partitions: list[TopicPartition]) -> None:
        logger.info("route=%s revoked %s; committing what is handled", self.runtime.name, _partitions(partitions))
        self.unready = "was revoked and is rejoining its group"
        self._settle(consumer, block=True)
        self._commit(consumer)
        self._drop_held(partitions)

    def _on_lost(self, consumer: Any, partitions: list[TopicPartition]) -> None:
        # librdkafka calls this when the group coordinator has not answered within the session timeout, too
        self.unready = "lost its partitions and is rejoining its group"
        logger.warning(
            "route=%s lost %s; uncommitted messages will be delivered again", self.runtime.name, _partitions(partitions)
        )
        self._drop_held(partitions)

    def _drop_held(self, partitions: list[TopicPartition]) -> None:
        """Forget held retry messages of partitions taken away: uncommitted, their next owner reads them again."""
        for p in partitions:
            dropped = self._held.pop((p.topic, p.partition), None)
            if dropped:
                self._held_bytes -= sum(_size(raw) for raw, _ in dropped)
            self._held_due.pop((p.topic, p.partition), None)
            self._paused.discard((p.topic, p.partition))

    def _on_error(self, error: KafkaError) -> None:
        if kafka.is_fatal(error, self.runtime.plain_topic and not self.delayed):
            self._fatal = KafkaFatalError(f"route {self.runtime.name!r}: {error.str()}")
            self.stop.set()
        elif error.code() != KafkaError._PARTITION_EOF:
            logger.warning("route=%s kafka: %s (zig keeps going)", self.runtime.name, error.str())

    def _on_commit(self, error: KafkaError | None, partitions: list[TopicPartition]) -> None:
        if error is not None and error.code() == KafkaError._NO_OFFSET:
            return  # nothing was stored since the last commit
        if self.runtime.metrics is not None:
            self.runtime.metrics.commit(error is None)
        if error is not None:
            logger.warning("route=%s commit failed: %s", self.runtime.name, error.str())

    def _commit(self, consumer: Any) -> None:
        try:
            consumer.commit(asynchronous=False)
        except KafkaException as error:
            if error.args[0].code() != KafkaError._NO_OFFSET:
                logger.warning("route=%s commit failed: %s", self.runtime.name, error.args[0].str())

    def _close(self, consumer: ConsumerLike) -> None:
        try:
            try:
                self._settle(consumer, block=True)
            except KafkaFatalError as error:
                logger.error("route=%s %s; the offsets it held back stay uncommitted", self.runtime.name, error)
            self._commit(consumer)
        finally:
            consumer.close()


def _lasts(raws: Sequence[Any]) -> dict[tuple[str, int], Any]:
    """The last raw message of each partition (a batch holds each partition's messages in order)."""
    single = _single_partition(raws)
    if single is not None:
        return {single: raws[-1]}
    return {(raw.topic(), raw.partition()): raw for raw in raws}


def _firsts(raws: Sequence[Any]) -> dict[tuple[str, int], Any]:
    """The first raw message of each partition."""
    single = _single_partition(raws)
    if single is not None:
        return {single: raws[0]}
    return {(raw.topic(), raw.partition()): raw for raw in reversed(raws)}


def _single_partition(raws: Sequence[Any]) -> tuple[str, int] | None:
    """The partition of a batch that is one partition's unbroken run of offsets (most batches are), else None.

    Exact, without looking at the messages in between: a partition's messages come in increasing offsets, so if
    the first and the last are `len - 1` offsets apart in the same partition, every message is of that partition.
    """
    if not raws:
        return None
    first, last = raws[0], raws[-1]
    where = (first.topic(), first.partition())
    if (last.topic(), last.partition()) == where and last.offset() - first.offset() == len(raws) - 1:
        return where
    return None


def _size(raw: Any) -> int:
    """The bytes a consumed message holds in memory, near enough: its key and value."""
    return len(raw.value() or b"") + len(raw.key() or b"")


def _undecodable(part: str, error: Exception) -> str:
    """The dead-letter reason of a key or value that did not decode."""
    if isinstance(error, DecodeError):
        return f"{part} is {error}"
    return f"{part} could not be decoded: {contract.describe_error(error)}"


def _where(raw: Any) -> str:
    return f"{raw.topic()}[{raw.partition()}]@{raw.offset()}"


def _is_due(due_ms: int, now_ms: int) -> bool:
    # Both are truncated to the millisecond: only a strictly later now guarantees the whole backoff has passed.
    return due_ms < now_ms


def _ranges(raw_messages: Sequence[Any]) -> str:
    spans: dict[tuple[str, int], tuple[int, int]] = {}
    for raw in raw_messages:
        where = (raw.topic(), raw.partition())
        low, high = spans.get(where, (raw.offset(), raw.offset()))
        spans[where] = (min(low, raw.offset()), max(high, raw.offset()))
    return ", ".join(f"{t}[{p}]@{lo}..{hi}" for (t, p), (lo, hi) in spans.items())


def _partitions(partitions: list[TopicPartition]) -> str:
    return ", ".join(f"{p.topic}[{p.partition}]" for p in partitions) or "nothing"
