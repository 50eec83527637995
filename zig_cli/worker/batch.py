"""A consumed batch: the raw messages, the `Message` each becomes for the handler, what did not decode and why, and
where each forwarded message first came from.

Building a batch is the hot loop of every worker: it does per message only what a message needs, nothing a batch
needs once.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from zig_cli import codecs, contract, envelope
from zig_cli.codecs import Decoder
from zig_cli.contract import ConsumedMessage, Message, PlainMessage
from zig_cli.errors import DecodeError

logger = logging.getLogger(__name__)
Where = tuple[str, int]  # (topic, partition)

_PASSTHROUGH = codecs.decoder("bytes")  # the default deserializer returns its input: no call needed


@dataclass(slots=True)
class Batch:
    """Parallel lists of one consumed batch: the raw messages and what the handler sees (None: did not decode, or
    another group's retry)."""

    raws: list[Any]
    messages: list[Message | None]
    reasons: dict[int, str]  # index -> why it did not decode
    origins: dict[int, envelope.Origin]  # index -> origin, for messages of a retry topic
    foreign: dict[int, str] = field(default_factory=dict)  # index -> the other consumer group whose retry it is

    def origin(self, index: int) -> envelope.Origin:
        """Where message `index` first came from (computed on demand: only retries and dead letters need it)."""
        found = self.origins.get(index)
        if found is None:
            raw = self.raws[index]
            kind, timestamp = raw.timestamp()
            stamp = timestamp if kind else None
            headers = raw.headers()
            own = tuple(headers) if headers else ()
            found = envelope.Origin(raw.topic(), raw.partition(), raw.offset(), stamp, 0, None, own)
        return found


class Builder:
    """Builds batches with one route's deserializers, for its consumer `group`: a retry another group wrote (a
    retry topic outlives a change of consumer-group-id, and two deployments may share one) is not handed over."""

    def __init__(self, key_decoder: Decoder, value_decoder: Decoder, group: str | None = None, route: str = "") -> None:
        self._decode_key = None if key_decoder is _PASSTHROUGH else key_decoder
        self._decode_value = None if value_decoder is _PASSTHROUGH else value_decoder
        self._group = group
        self._route = route

    def build(self, raws: list[Any], known: list[envelope.Origin] | None = None) -> Batch:
        """What the handler sees for each raw message, given the origins if they are `known` (a retry topic's, read
        from zig's headers); without them, each message is a first delivery, whatever headers it carries."""
        decode_key = self._decode_key
        decode_value = self._decode_value
        if known is None and decode_key is None and decode_value is None:
            # bytes as they came (the default): nothing to decode, so nothing can fail, and each message is made in C
            return Batch(raws, list(map(PlainMessage, raws)), {}, {})
        messages: list[Message | None] = []
        reasons: dict[int, str] = {}
        # Every message of a retry topic keeps its origin, one that does not decode too: its dead letter names where
        # it first came from, not the retry topic.
        origins: dict[int, envelope.Origin] = {} if known is None else dict(enumerate(known))
        foreign = {} if known is None else self._foreign(known)
        append = messages.append
        for index, raw in enumerate(raws):
            if foreign and index in foreign:
                append(None)
                continue
            try:
                key = raw.key() if decode_key is None else decode_key(raw.key())
            except Exception as error:  # whatever a deserializer raises, the message is a dead letter, not a crash
                reasons[index] = undecodable("key", error)
                append(None)
                continue
            try:
                value = raw.value() if decode_value is None else decode_value(raw.value())
            except Exception as error:
                reasons[index] = undecodable("value", error)
                append(None)
                continue
            if known is None:
                append(ConsumedMessage(raw, key, value))
                continue
            origin = known[index]
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
        return Batch(raws, messages, reasons, origins, foreign)

    def _foreign(self, known: list[envelope.Origin]) -> dict[int, str]:
        """The retries of the batch that another consumer group wrote (None: written before zig named the group)."""
        group = self._group
        foreign = {i: o.group for i, o in enumerate(known) if o.group is not None and o.group != group}
        if foreign:
            logger.info(
                "route=%s skipped %d retr%s written by consumer group(s) %s: retries belong to the group that wrote "
                "them (this route's group is %r)",
                self._route,
                len(foreign),
                "y" if len(foreign) == 1 else "ies",
                ", ".join(sorted({repr(g) for g in foreign.values()})),
                group,
            )
        return foreign


def undecodable(part: str, error: Exception) -> str:
    """The dead-letter reason of a key or value that did not decode."""
    if isinstance(error, DecodeError):
        return f"{part} is {error}"
    return f"{part} could not be decoded: {contract.describe_error(error)}"


def lasts(raws: Sequence[Any]) -> dict[Where, Any]:
    """The last raw message of each partition (a batch holds each partition's messages in order)."""
    single = _single_partition(raws)
    if single is not None:
        return {single: raws[-1]}
    return {(raw.topic(), raw.partition()): raw for raw in raws}


def firsts(raws: Sequence[Any]) -> dict[Where, Any]:
    """The first raw message of each partition."""
    single = _single_partition(raws)
    if single is not None:
        return {single: raws[0]}
    return {(raw.topic(), raw.partition()): raw for raw in reversed(raws)}


def spans(raws: Sequence[Any]) -> dict[Where, tuple[Any, Any]]:
    """The first and the last raw message of each partition (a batch holds each partition's messages in order)."""
    single = _single_partition(raws)
    if single is not None:
        return {single: (raws[0], raws[-1])}
    found: dict[Where, tuple[Any, Any]] = {}
    for raw in raws:
        where = (raw.topic(), raw.partition())
        span = found.get(where)
        found[where] = (raw, raw) if span is None else (span[0], raw)
    return found


def _single_partition(raws: Sequence[Any]) -> Where | None:
    """The partition of a batch whose messages are all of one partition (most batches are), else None.

    Every message's partition is looked at, in C: the offsets of the first and the last cannot tell, because a
    partition's offsets have gaps (a transaction's commit marker takes one) that messages of another partition can
    fill exactly, and a message the ledger did not see could have its offset committed past it. The topic is the
    first's and the last's: a route subscribed to one topic has no other, and a pattern route's worker puts each
    topic's messages together before it cuts them into items (lanes.splitter), so that the two tell.
    """
    if not raws:
        return None
    first, last = raws[0], raws[-1]
    where = (first.topic(), first.partition())
    if (last.topic(), last.partition()) != where:
        return None
    partitions = list(map(type(first).partition, raws))
    return where if partitions.count(where[1]) == len(partitions) else None


def ranges(raws: Sequence[Any]) -> str:
    """`topic[partition]@first..last` of each partition of a batch, for log lines."""
    spans: dict[Where, tuple[int, int]] = {}
    for raw in raws:
        where = (raw.topic(), raw.partition())
        low, high = spans.get(where, (raw.offset(), raw.offset()))
        spans[where] = (min(low, raw.offset()), max(high, raw.offset()))
    return ", ".join(f"{t}[{p}]@{lo}..{hi}" for (t, p), (lo, hi) in spans.items())
