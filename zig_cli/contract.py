"""What a handler receives and what it may return.

A batch handler gets `list[Message]` and returns `None` (all succeeded), `{"retry": ..., "skip": ...,
"dead-letter": ...}` (any key may be missing; each a list of messages, or a dict of message -> reason) or a
`BatchResult`. Anything else is a contract error: zig cannot know what was handled.

A stream handler gets one `Message` and returns an `Outcome`, or its name ("success", "retry", "skip",
"dead-letter", also Ziggurat's ":success"), alone or in a tuple `(outcome, reason)`. Anything else counts as a
failure, and the message is retried.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, NamedTuple

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


Named = Sequence[Message] | Mapping[Message, str]  # messages, or each message with the reason why


class PlainMessage(ConsumedMessage):
    """A first delivery whose key and value are the bytes that came (no deserializer): all read from the consumed
    message when asked, so making one writes one slot."""

    __slots__ = ()

    def __init__(self, raw: Any) -> None:
        self._raw = raw

    @property
    def key(self) -> Any:
        return self._raw.key()

    @property
    def value(self) -> Any:
        return self._raw.value()


@dataclass(frozen=True)
class BatchResult:
    """A batch handler's verdict: messages to retry, to skip and to dead-letter; every other message succeeded.

    Each is a list of messages, or a dict of message -> reason (a string, carried in the `zig-error` header)."""

    retry: Named = field(default_factory=tuple)
    skip: Named = field(default_factory=tuple)
    dead_letter: Named = field(default_factory=tuple)


class Answer(NamedTuple):
    """A batch handler's answer read by zig: for each kind, position in the batch -> the reason given ("" if
    none)."""

    retry: dict[int, str]
    skip: dict[int, str]
    dead_letter: dict[int, str]


NO_ANSWER = Answer({}, {}, {})
# A handler's reason lands in a header beside zig's own words: capped, as a message quotes a value, not all of it.
MAX_REASON = 1000


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


def interpret_batch_result(route: str, value: Any, batch: Sequence[Message]) -> Answer:
    """Turn a batch handler's return value into the positions in `batch` of the messages to retry, skip and
    dead-letter, with their reasons; raises ContractError for anything else, including objects whose own methods
    raise while zig reads them."""
    if value is None:
        return NO_ANSWER
    try:
        return _interpret_batch_result(route, value, batch)
    except ContractError:
        raise
    except Exception as error:
        raise ContractError(
            f"route {route!r}: handler returned {shown(value)}, which zig cannot read ({describe_error(error)})"
        ) from None


_EXPECTED = (
    "None, {'retry': [...], 'skip': [...], 'dead-letter': [...]} (lists of messages, or dicts of message -> reason) "
    "or BatchResult(retry=..., skip=..., dead_letter=...)"
)
_KINDS = ("retry", "skip", "dead-letter")
_BATCH_KEYS = {"retry": "retry", "skip": "skip", "dead-letter": "dead-letter", "dead_letter": "dead-letter"}


def _interpret_batch_result(route: str, value: Any, batch: Sequence[Message]) -> Answer:
    if isinstance(value, BatchResult):
        parts = {"retry": value.retry, "skip": value.skip, "dead-letter": value.dead_letter}
    elif isinstance(value, dict):
        parts = _dict_parts(route, value)
    else:
        raise ContractError(f"route {route!r}: handler returned {_returned(value)}; expected {_EXPECTED}")
    positions: dict[int, int] | None = None  # id(message) -> position, built only if some message is named
    chosen: dict[str, dict[int, str]] = {}
    owner: dict[int, str] = {}  # position -> the kind that named it first
    for name, items in parts.items():
        pairs: Iterable[tuple[Any, Any]]
        if isinstance(items, dict):
            pairs = items.items()
        elif isinstance(items, (list, tuple)):  # noqa: UP038  # a tuple of types is a constant; a union is built per call
            pairs = ((item, "") for item in items)
        else:
            raise ContractError(
                f"route {route!r}: handler returned {name}={shown(items)}; expected a list of messages or a dict of "
                "message -> reason"
            )
        if items and positions is None:
            positions = dict(zip(map(id, batch), range(len(batch)), strict=True))  # in C: no loop per message
        found: dict[int, str] = {}
        for item, reason in pairs:
            position = positions.get(id(item)) if positions is not None else None
            if position is None:
                raise ContractError(
                    f"route {route!r}: handler returned {name} containing {shown(item)}, "
                    "which is not a message of this batch"
                )
            first = owner.setdefault(position, name)
            if first != name:  # the same message twice in one list says one thing; in two lists, two
                raise ContractError(f"route {route!r}: handler returned {shown(item)} in both {first} and {name}")
            found[position] = _reason(route, name, item, reason)
        chosen[name] = found
    return Answer(chosen["retry"], chosen["skip"], chosen["dead-letter"])


def _dict_parts(route: str, value: dict[Any, Any]) -> dict[str, Any]:
    """The three kinds of a dict answer, each spelled "dead-letter" or "dead_letter" (Ziggurat's keyword style)."""
    parts: dict[str, Any] = dict.fromkeys(_KINDS, ())
    spelled: dict[str, Any] = {}
    unknown = []
    for key, items in value.items():
        kind = _BATCH_KEYS.get(key) if isinstance(key, str) else None
        if kind is None:
            unknown.append(key)
            continue
        if kind in spelled:
            raise ContractError(f"route {route!r}: handler returned both {spelled[kind]!r} and {key!r}; use one")
        spelled[kind] = key
        parts[kind] = items or ()
    if unknown:
        raise ContractError(
            f"route {route!r}: handler returned {shown(value)}; unknown key(s) {unknown!r}, expected {_EXPECTED}"
        )
    return parts


def _reason(route: str, name: str, message: Message, reason: Any) -> str:
    """A handler's reason for one message, read as plain text and capped."""
    if not isinstance(reason, str):
        raise ContractError(
            f"route {route!r}: handler returned {shown(reason)} as the {name} reason of {shown(message)}; "
            "a reason is a string"
        )
    return shortened(str.__str__(reason), MAX_REASON)


def _returned(value: Any) -> str:
    """What a handler returned, for a contract error: a coroutine says where it came from (a plain function
    returning what an async one made, which zig will never await)."""
    if inspect.iscoroutine(value):
        value.close()  # zig never awaits it; closed, so Python does not also warn that it was never awaited
        return (
            f"a coroutine ({value.__qualname__}), which zig does not await from a plain function; make the handler "
            "itself `async def`"
        )
    return shown(value)


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


def interpret_stream_answer(value: Any) -> tuple[Outcome, str]:
    """A stream handler's return value as (outcome, reason): an outcome alone (reason "") or a tuple
    `(outcome, reason)`. Raises ContractError saying why for anything else ("handler returned ..."); like
    `interpret_stream_result`, asks the value nothing but its type."""
    outcome = interpret_stream_result(value)
    if outcome is not None:
        return outcome, ""
    if type(value) is tuple and len(value) == 2:
        outcome = interpret_stream_result(value[0])
        if outcome is not None:
            reason = value[1]
            if not isinstance(reason, str):
                raise ContractError(f"handler returned {shown(value)}, whose reason is not a string")
            return outcome, shortened(str.__str__(reason), MAX_REASON)
    if inspect.iscoroutine(value):
        raise ContractError(f"handler returned {_returned(value)}")
    raise ContractError(f"handler returned {shown(value)}, not success, retry, skip or dead-letter")
