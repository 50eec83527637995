"""What a handler receives and what it may return.

A batch handler gets `list[Message]` and returns `None` (all succeeded), `{"retry": [...], "skip": [...]}` (either
key may be missing) or a `BatchResult`. Anything else is a contract error: zig cannot know what was handled.

A stream handler gets one `Message` and returns an `Outcome`, or its name ("success", "retry", "skip",
"dead-letter", also Ziggurat's ":success"). Anything else counts as a failure, and the message is retried.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from zig_cli.errors import ContractError, shortened

Headers = tuple[tuple[str, bytes | None], ...]


class Message:
    """One Kafka message as a handler sees it: decoded key and value, and where it first came from.

    For a retried message, topic, partition, offset and timestamp are those of the original message, and headers are
    its original headers; `retry_count` says how many times it has been retried (0 on first delivery).
    Messages are immutable and compare by identity: a handler returns the very objects it received.
    """

    __slots__ = ("_topic", "_partition", "_offset", "_timestamp", "_key", "_value", "_headers", "_retry_count")

    def __init__(
        self,
        topic: str,
        partition: int,
        offset: int,
        timestamp: int | None,
        key: Any,
        value: Any,
        headers: Headers = (),
        retry_count: int = 0,
    ) -> None:
        self._topic = topic
        self._partition = partition
        self._offset = offset
        self._timestamp = timestamp
        self._key = key
        self._value = value
        self._headers = tuple(headers)
        self._retry_count = retry_count

    @property
    def topic(self) -> str:
        return self._topic

    @property
    def partition(self) -> int:
        return self._partition

    @property
    def offset(self) -> int:
        return self._offset

    @property
    def timestamp(self) -> int | None:
        """Milliseconds since the epoch, as the broker reported it."""
        return self._timestamp

    @property
    def key(self) -> Any:
        return self._key

    @property
    def value(self) -> Any:
        return self._value

    @property
    def headers(self) -> Headers:
        return self._headers

    @property
    def retry_count(self) -> int:
        return self._retry_count

    def __repr__(self) -> str:
        return (
            f"Message(topic={self.topic!r}, partition={self.partition}, offset={self.offset}, key={self.key!r}, "
            f"value={self.value!r}, retry_count={self.retry_count})"
        )


class ConsumedMessage(Message):
    """A first delivery, read from the consumed message itself when asked.

    One is built for every message of an origin topic, so it writes three slots and leaves the other five to the
    consumed message. Its headers are all its own, those named like zig's included: zig's count only on the topics
    zig writes (see envelope).
    """

    __slots__ = ("_raw",)

    def __init__(self, raw: Any, key: Any, value: Any) -> None:
        self._raw = raw
        self._key = key
        self._value = value

    @property
    def topic(self) -> str:
        return str(self._raw.topic())

    @property
    def partition(self) -> int:
        return int(self._raw.partition())

    @property
    def offset(self) -> int:
        return int(self._raw.offset())

    @property
    def timestamp(self) -> int | None:
        kind, timestamp = self._raw.timestamp()
        return int(timestamp) if kind else None

    @property
    def headers(self) -> Headers:
        return tuple(self._raw.headers() or ())

    @property
    def retry_count(self) -> int:
        return 0


@dataclass(frozen=True)
class BatchResult:
    """A batch handler's verdict: messages to retry and messages to skip; every other message succeeded."""

    retry: Sequence[Message] = field(default_factory=tuple)
    skip: Sequence[Message] = field(default_factory=tuple)


def shown(value: Any) -> str:
    """repr(value), cut to 200 characters; never raises, whatever the value's own __repr__ does."""
    try:
        text = repr(value)
    except Exception as error:  # a handler's object: its repr is not ours to trust
        return f"<a {type(value).__name__} whose repr raised {type(error).__name__}>"
    return shortened(text, 200)


def describe_error(error: BaseException) -> str:
    """`Type: message` of an exception a handler or a library raised; never raises, whatever its __str__ does."""
    try:
        text = str(error)
    except Exception as inner:
        text = f"<its message raised {type(inner).__name__}>"
    return f"{type(error).__name__}: {text}"


def interpret_batch_result(route: str, value: Any, batch: Sequence[Message]) -> tuple[list[int], list[int]]:
    """Turn a batch handler's return value into the positions in `batch` of the messages to (retry, skip); raises
    ContractError for anything else, including objects whose own methods raise while zig reads them."""
    if value is None:
        return [], []
    try:
        return _interpret_batch_result(route, value, batch)
    except ContractError:
        raise
    except Exception as error:
        raise ContractError(
            f"route {route!r}: handler returned {shown(value)}, which zig cannot read ({describe_error(error)})"
        ) from None


def _interpret_batch_result(route: str, value: Any, batch: Sequence[Message]) -> tuple[list[int], list[int]]:
    expected = "None, {'retry': [...], 'skip': [...]} or BatchResult(retry=..., skip=...)"
    if isinstance(value, BatchResult):
        parts = {"retry": value.retry, "skip": value.skip}
    elif isinstance(value, dict):
        unknown = [k for k in value if k not in ("retry", "skip")]
        if unknown:
            raise ContractError(
                f"route {route!r}: handler returned {shown(value)}; unknown key(s) {unknown!r}, expected {expected}"
            )
        parts = {"retry": value.get("retry") or (), "skip": value.get("skip") or ()}
    else:
        raise ContractError(f"route {route!r}: handler returned {shown(value)}; expected {expected}")
    positions: dict[int, int] | None = None  # id(message) -> position, built only if some message is named
    chosen: dict[str, list[int]] = {}
    for name, items in parts.items():
        if not isinstance(items, (list, tuple)):  # noqa: UP038  # a tuple of types is a constant; a union is built per call
            raise ContractError(f"route {route!r}: handler returned {name}={shown(items)}; expected a list of messages")
        if items and positions is None:
            positions = dict(zip(map(id, batch), range(len(batch)), strict=True))  # in C: no loop per message
        found: list[int] = []
        for item in items:
            position = positions.get(id(item)) if positions is not None else None
            if position is None:
                raise ContractError(
                    f"route {route!r}: handler returned {name} containing {shown(item)}, "
                    "which is not a message of this batch"
                )
            found.append(position)
        chosen[name] = found
    both = set(chosen["retry"]) & set(chosen["skip"])
    if both:
        twice = batch[next(p for p in chosen["retry"] if p in both)]
        raise ContractError(f"route {route!r}: handler returned {shown(twice)} in both retry and skip")
    return chosen["retry"], chosen["skip"]


class Outcome(StrEnum):
    """What a stream handler says happened to its message."""

    SUCCESS = "success"
    RETRY = "retry"
    SKIP = "skip"
    DEAD_LETTER = "dead-letter"


_OUTCOME_SPELLINGS = {o.value: o for o in Outcome} | {"dead_letter": Outcome.DEAD_LETTER}


def interpret_stream_result(value: Any) -> Outcome | None:
    """A stream handler's return value as an Outcome (Ziggurat's ":success" spelling too); None if it is not one.

    Never raises: only the value's type is asked, never its own methods (a str subclass may override them all).
    """
    kind = type(value)
    if kind is Outcome:
        return value  # type: ignore[no-any-return]
    if not issubclass(kind, str):
        return None
    return _OUTCOME_SPELLINGS.get(str.lower(str.removeprefix(str.strip(value), ":")))
