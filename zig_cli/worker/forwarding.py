"""Verdicts -> retry and dead-letter records: the retry budget, the backoff, the reason, and their writing.

A message to retry goes to the retry topic while the route's retries are not spent, else (and for every other
verdict that is not a success or a skip) to the dead-letter topic, with zig's headers saying why.
"""

from __future__ import annotations

from typing import Any

from confluent_kafka import KafkaError

from zig_cli import envelope
from zig_cli.errors import KafkaFatalError, RecordRefused
from zig_cli.producer import Delivery, produce_async
from zig_cli.worker import logs
from zig_cli.worker.batch import Batch
from zig_cli.worker.deciding import Reasoned, Verdict
from zig_cli.worker.runtime import RouteRuntime

_NOT_FORWARDED = (Verdict.SKIP, Verdict.TOO_OLD)  # successes never reach the forwarder: verdicts are sparse
_RETRIED = (Verdict.RETRY, Verdict.FAILED)


class Forwarder:
    """Builds and writes one route's retry and dead-letter records."""

    def __init__(self, runtime: RouteRuntime) -> None:
        self._runtime = runtime

    def records(self, batch: Batch, verdicts: dict[int, Reasoned]) -> tuple[list[envelope.Record], int]:
        """Records for the retry and dead-letter topics, in consumption order, and how many are retries: a retry
        past `count`, or with retry off, is a dead letter."""
        runtime = self._runtime
        retry = runtime.retry
        route = runtime.name
        group = runtime.group
        now = runtime.clock()
        records: list[envelope.Record] = []
        retried = 0
        for index, (kind, reason) in sorted(verdicts.items()):
            if kind in _NOT_FORWARDED:
                continue
            origin = batch.origin(index)
            raw = batch.raws[index]
            if kind in _RETRIED:
                if retry.enabled and origin.retry_count < retry.count:
                    count = origin.retry_count + 1
                    due = now + envelope.backoff_ms(retry, count)
                    records.append(
                        envelope.forward(
                            runtime.retry_topic, origin, raw.key(), raw.value(), route, count, reason, due, group
                        )
                    )
                    retried += 1
                    continue
                why = "retry is disabled" if not retry.enabled else f"retried {origin.retry_count} time(s)"
                reason = f"{reason} ({why})"
            records.append(
                envelope.forward(
                    runtime.dead_letter_topic,
                    origin,
                    raw.key(),
                    raw.value(),
                    route,
                    origin.retry_count,
                    reason,
                    group=group,
                )
            )
        return records, retried

    def send(self, batch: Batch, verdicts: dict[int, Reasoned], records: list[envelope.Record]) -> Delivery:
        """Queue the batch's records; a record the producer refuses stops the route, naming the message it copies
        (its offset stays uncommitted, so nothing is lost)."""
        try:
            return produce_async(self._runtime.producer, records)
        except RecordRefused as refused:
            forwarded = [index for index, (kind, _) in sorted(verdicts.items()) if kind not in _NOT_FORWARDED]
            raw = batch.raws[forwarded[refused.index]]
            raise KafkaFatalError(self._refusal(raw, records[refused.index], refused)) from None

    def _refusal(self, raw: Any, record: envelope.Record, refused: RecordRefused) -> str:
        runtime = self._runtime
        kind = "retry" if record.topic == runtime.retry_topic else "dead-letter"
        what = f"route {runtime.name!r}: cannot write the {kind} copy of {logs.where(raw)} to {record.topic!r}"
        if refused.code != KafkaError.MSG_SIZE_TOO_LARGE:
            return f"{what}: {refused.reason}"
        size = len(record.key or b"") + len(record.value or b"") + sum(len(n) + len(v) for n, v in record.headers)
        return (
            f"{what}: {size:,} bytes of key, value and headers (zig's included) and the record's own overhead are "
            f"over the producer's message.max.bytes of {runtime.max_message_bytes:,}; raise it in the route's "
            ":producer kafka-properties (and the topic's max.message.bytes on the broker)"
        )
