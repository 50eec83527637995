"""Ziggurat's dead set, on Kafka: view, replay and delete a route's dead letters.

A route's dead-letter topic is read by its own consumer group, `<group>-dead-set`, whose committed offsets mark
where the dead set starts: viewing reads from there without committing; deleting commits past the messages;
replaying writes each message back (to the route's retry topic, due at once and with a fresh retry count, or to
the origin topic when retry is off) and only then commits past it. So a replay moves each message exactly once,
and a replay interrupted midway repeats at most the message in hand; with a key or error filter, also the letters
passed over that it wrote back to the end of the dead set before that commit (twice in the dead set, never none).

A replay or delete joins the group and acts only on the partitions the coordinator assigns it, so two of them,
in one process or several, never act on the same dead letters: the one assigned nothing answers 409. Every
commit first checks the group's offset and refuses to move it back.
"""

from __future__ import annotations

import base64
import contextlib
import logging
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, TopicPartition

from zig_cli import envelope, kafka
from zig_cli.config import Config, Route
from zig_cli.deadset_filter import EVERY, DeadLetterFilter
from zig_cli.errors import KafkaFatalError, ZigError
from zig_cli.producer import produce_all
from zig_cli.server import Endpoint, Request, Response, as_json, require_bearer

logger = logging.getLogger(__name__)

READ_TIMEOUT_S = 10.0
# How long the broker may take to say which partitions the dead-letter topic has, asked in short steps so that
# "every broker is down" from librdkafka ends the wait at once.
BROKER_TIMEOUT_S = 5.0
METADATA_STEP_S = 0.25
CHUNK = 100  # dead letters read at a time by a replay or delete (values may be up to a megabyte each)
# The bytes of letters a key or error filter passed over that a replay or delete holds before it writes them back
# and moves the start past them, without waiting for a letter that matches: its memory stays bounded.
HELD_BYTES = 64 * 1024 * 1024
# consume() waits this long for a full chunk; short, so that the end of a small dead set is seen at once.
FETCH_WAIT_S = 0.1
# The dead-set group's session: the least a Kafka broker accepts by default, so that the hold of a zig that died
# midway ends within seconds.
SESSION_TIMEOUT_MS = 6000
# Joining the group: Kafka delays a new group's first join by group.initial.rebalance.delay.ms (3 s by default), and
# a join while another member holds the dead set waits for that member to rejoin.
CLAIM_TIMEOUT_S = 30.0


class DeadSetError(ZigError):
    """A dead-set request that cannot be served; `status` is the HTTP status Ziggurat answered with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class DeadLetter:
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    origin: envelope.Origin
    error: str
    timestamp: int | None

    def as_dict(self) -> dict[str, Any]:
        age = (time.time() * 1000 - self.timestamp) / 1000 if self.timestamp else None
        return {
            "partition": self.partition,
            "offset": self.offset,
            "key": envelope.decoded(self.key),
            "value": envelope.decoded(self.value),
            "retry_count": self.origin.retry_count,
            "error": self.error,
            "age_s": round(age, 3) if age is not None else None,
            "origin": {"topic": self.origin.topic, "partition": self.origin.partition, "offset": self.origin.offset},
        }


@dataclass(frozen=True)
class Scan:
    """What a replay or delete would do now: the dead letters it would act on, and how many others it would pass
    over (and, with a key or error filter, write back to the end of the dead set)."""

    letters: list[DeadLetter]
    passed_over: int


# Ziggurat's bound: a count is a Java int (resource/dead_set.clj, validate-count).
MAX_COUNT = 2_147_483_647


def parse_count(raw: str | None, minimum: int = 0) -> int:
    """Ziggurat's rule: count is an integer from 0 (nothing is read) to Java's largest int; the CLI asks for 1."""
    try:
        count = int(raw or "")
    except ValueError:
        shown = "nothing" if raw is None else repr(raw) if len(raw) <= 40 else f"{raw[:40]!r}..."
        raise DeadSetError(400, f"count must be an integer from {minimum} to {MAX_COUNT}, got {shown}") from None
    if not minimum <= count <= MAX_COUNT:
        raise DeadSetError(400, f"count must be an integer from {minimum} to {MAX_COUNT}, got {count}")
    return count


class DeadSet:
    """The dead letters of one route."""

    def __init__(self, config: Config, route_name: str | None) -> None:
        if not route_name:
            raise DeadSetError(400, "name the route (topic-entity)")
        try:
            self.route: Route = config.route(route_name)
        except KeyError:
            known = ", ".join(repr(r.name) for r in config.routes)
            raise DeadSetError(400, f"no route named {route_name!r}; routes: {known}") from None
        self.topic: str = self.route["dead-letter-topic"]
        self.group = f"{self.route.group_id}-dead-set"
        self._admin = kafka.admin_properties(config, self.route)
        self.servers = self._admin["bootstrap.servers"]
        self.held_bytes = HELD_BYTES

    def _props(self) -> dict[str, str]:
        return self._admin | {
            "group.id": self.group,
            "enable.auto.commit": "false",
            "enable.partition.eof": "true",
            # The end of the dead set is known when a fetch comes back empty: do not let the broker hold it long.
            "fetch.wait.max.ms": "20",
        }

    def _consumer(self, props: dict[str, str]) -> tuple[Consumer, _BrokerWatch]:
        watch = _BrokerWatch(self.servers)
        return kafka.new_consumer(props, {"error_cb": watch.on_error}), watch

    def _partitions(self, consumer: Consumer, watch: _BrokerWatch, only: DeadLetterFilter = EVERY) -> list[int]:
        """The dead-letter topic's partitions (the filter's one, if it has one and the topic has it); 503 as soon as
        librdkafka finds every broker down, or after a wait."""
        deadline = time.monotonic() + BROKER_TIMEOUT_S
        while True:
            try:
                metadata = consumer.list_topics(self.topic, timeout=METADATA_STEP_S)
                break
            except KafkaException:
                consumer.poll(0)  # serves error_cb; nothing is assigned yet, so no message is taken
                watch.check()
                if time.monotonic() >= deadline:
                    raise DeadSetError(
                        503, f"Kafka at {self.servers} did not answer within {BROKER_TIMEOUT_S:g} s"
                    ) from None
        found = metadata.topics.get(self.topic)
        if found is None or found.error is not None or not found.partitions:
            raise DeadSetError(404, f"route {self.route.name!r} has no dead letters (topic {self.topic!r} not found)")
        partitions = sorted(found.partitions)
        if only.partition is not None and only.partition not in partitions:
            raise DeadSetError(
                400, f"the dead-letter topic {self.topic!r} has partitions 0 to {partitions[-1]}, not {only.partition}"
            )
        return partitions if only.partition is None else [only.partition]

    def view(self, count: int, only: DeadLetterFilter = EVERY) -> list[DeadLetter]:
        """The first `count` dead letters (that match), read from where the group has committed, without joining or
        committing."""
        return self.scan(count, only).letters

    def scan(self, count: int, only: DeadLetterFilter = EVERY) -> Scan:
        """What `replay` or `delete` of `count` would act on now, read as `view` reads."""
        consumer, watch = self._consumer(self._props())
        try:
            partitions = [TopicPartition(self.topic, p) for p in self._partitions(consumer, watch, only)]
            starts = kafka.committed(consumer, partitions, READ_TIMEOUT_S)
            consumer.assign(
                [
                    TopicPartition(self.topic, tp.partition, tp.offset if tp.offset >= 0 else OFFSET_BEGINNING)
                    for tp in starts
                ]
            )
            reader = _Reader(consumer, {tp.partition for tp in partitions}, watch)
            letters: list[DeadLetter] = []
            passed = _PassedOver(self.held_bytes)  # counts only: a scan writes nothing back
            passed_over = 0
            while len(letters) < count and (found := reader.read(CHUNK)):
                for raw, (letter, chosen) in zip(found, _choose(found, only, count - len(letters)), strict=False):
                    if not chosen:
                        if passed.hold(raw):  # where a replay or delete would write them back
                            passed_over += passed.release_all()
                        continue
                    passed_over += passed.release(letter.partition)
                    letters.append(letter)
            return Scan(letters, passed_over)
        except KafkaException as error:
            raise self._unavailable(error) from None
        finally:
            consumer.close()

    def delete(self, count: int, only: DeadLetterFilter = EVERY) -> int:
        """Commit past the first `count` dead letters (that match), first writing back those passed over before
        them; returns how many were deleted."""
        deleted = 0
        passed = _Passed(self.held_bytes)
        with self._claim(only) as claim, _WriteBack(self._admin, self.topic, only) as kept:
            while deleted < count and (found := claim.read(CHUNK)):
                released: list[Any] = []
                moves: dict[int, tuple[int, int]] = {}  # partition -> (start, end) of what this chunk moves past
                for raw, (letter, chosen) in zip(found, _choose(found, only, count - deleted), strict=False):
                    if not chosen:
                        if passed.hold(raw):  # too much held: written back with this chunk's, and moved past
                            for partition, held in passed.take_all().items():
                                released += held
                                start = moves[partition][0] if partition in moves else held[0].offset()
                                moves[partition] = (start, held[-1].offset() + 1)
                        continue
                    before = passed.take(letter.partition)
                    released += before
                    start = moves[letter.partition][0] if letter.partition in moves else (before or [raw])[0].offset()
                    moves[letter.partition] = (start, letter.offset + 1)
                    deleted += 1
                kept.write(released)
                for partition, (start, end) in sorted(moves.items()):
                    claim.advance(partition, start, end)
        return deleted

    @property
    def destination(self) -> str:
        """Where a replay writes: the retry topic, or the origin topic when retry is off."""
        return str(self.route["retry-topic"] if self.route.retry.enabled else self.route["origin-topic"])

    def replay(
        self,
        count: int,
        after_write: Callable[[DeadLetter], None] = lambda letter: None,
        only: DeadLetterFilter = EVERY,
    ) -> int:
        """Write each dead letter (that matches) back to be handled, and those passed over before it back to the end
        of the dead set, then commit past it; returns how many were replayed."""
        destination = self.destination
        producer: Any = kafka.new_producer(self._admin | {"acks": "all"})
        moved = 0
        passed = _Passed(self.held_bytes)
        try:
            with self._claim(only) as claim:
                while moved < count and (found := claim.read(CHUNK)):
                    for raw, (letter, chosen) in zip(found, _choose(found, only, count - moved), strict=False):
                        if not chosen:
                            if passed.hold(raw):  # too much held: written back now, and moved past
                                _write_back(producer, self.topic, claim, passed.take_all())
                            continue
                        before = passed.take(letter.partition)
                        records = [_kept(self.topic, kept) for kept in before]
                        produce_all(producer, [*records, _replayed(self.route, destination, raw, letter)], 60)
                        after_write(letter)
                        claim.advance(letter.partition, (before or [raw])[0].offset(), letter.offset + 1)
                        moved += 1
            return moved
        finally:
            producer.flush(30)

    @contextlib.contextmanager
    def _claim(self, only: DeadLetterFilter) -> Iterator[_Claim]:
        """Hold the dead set for one replay or delete: join its group and act only on the partitions assigned.

        The group's coordinator hands each partition to one member at a time, across processes: a zig that is
        assigned nothing while another member holds the dead set answers 409 instead of replaying it again."""
        props = self._props() | {
            "auto.offset.reset": "earliest",
            "session.timeout.ms": str(SESSION_TIMEOUT_MS),
            # A member that joins keeps what it holds, and one that joins later gets nothing while it does.
            "partition.assignment.strategy": "cooperative-sticky",
        }
        consumer, watch = self._consumer(props)
        try:
            self._partitions(consumer, watch, only)
            claim = _Claim(consumer, self.topic, watch, only.partition)
            if not claim.join(time.monotonic() + CLAIM_TIMEOUT_S):
                raise DeadSetError(
                    409,
                    f"the dead-set group {self.group!r} of route {self.route.name!r} assigned nothing within "
                    f"{CLAIM_TIMEOUT_S:g} s; another replay or delete may hold it, try again",
                )
            if not claim.owned or (only.partition is not None and only.partition not in claim.owned):
                raise DeadSetError(
                    409,
                    f"another replay or delete of route {self.route.name!r} holds its dead set (group "
                    f"{self.group!r}); try again when it has ended",
                )
            yield claim
        except KafkaException as error:
            raise self._unavailable(error) from None
        except KafkaFatalError as error:  # a replayed copy that was not delivered
            raise DeadSetError(503, str(error)) from None
        finally:
            consumer.close()

    def _unavailable(self, error: KafkaException) -> DeadSetError:
        return DeadSetError(503, f"Kafka at {self.servers}: {kafka.unwrap(error)[1]}")


class _Reader:
    """Reads dead letters of the partitions given (a live set: a member's assignment) until a count, their ends, or
    a deadline; consuming also serves the group's rebalance callbacks."""

    def __init__(self, consumer: Consumer, partitions: set[int], watch: _BrokerWatch, only: int | None = None) -> None:
        self.consumer = consumer
        self.partitions = partitions
        self.watch = watch
        self.only = only  # the one partition to read, when a filter names one
        self._pending: deque[Any] = deque()  # read but not handed out yet
        self._ended: set[int] = set()

    def _wanted(self) -> set[int]:
        """The partitions to read: a partition given up since is another member's now."""
        return self.partitions if self.only is None else self.partitions & {self.only}

    def read(self, count: int) -> list[Any]:
        found: list[Any] = []
        deadline = time.monotonic() + READ_TIMEOUT_S
        while len(found) < count:
            if not self._pending:
                if self._wanted() <= self._ended or time.monotonic() >= deadline:
                    break
                self.fetch(min(count - len(found), CHUNK), FETCH_WAIT_S)
                continue
            raw = self._pending.popleft()
            if raw.partition() in self._wanted():
                found.append(raw)
        return found

    def fetch(self, count: int, timeout_s: float) -> None:
        for raw in self.consumer.consume(count, timeout_s):
            error = raw.error()
            if error is None:
                self._ended.discard(raw.partition())
                self._pending.append(raw)
            elif error.code() == KafkaError._PARTITION_EOF:
                self._ended.add(raw.partition() or 0)
            else:
                raise KafkaException(error)
        self.watch.check()


class _Claim:
    """This process's hold on a dead set: a member of its group, acting only on the partitions it is assigned."""

    def __init__(self, consumer: Consumer, topic: str, watch: _BrokerWatch, only: int | None) -> None:
        self.consumer = consumer
        self.topic = topic
        self.owned: set[int] = set()
        self._assigned = False
        self._reader = _Reader(consumer, self.owned, watch, only)

    def join(self, deadline: float) -> bool:
        """Subscribe and wait for the first assignment (Kafka holds a new group's first join for a few seconds);
        False when none came by the deadline."""
        self.consumer.subscribe(
            [self.topic], on_assign=self._on_assign, on_revoke=self._on_revoke, on_lost=self._on_revoke
        )
        while not self._assigned and time.monotonic() < deadline:
            self._reader.fetch(1, FETCH_WAIT_S)
        return self._assigned

    def _on_assign(self, consumer: Any, partitions: list[TopicPartition]) -> None:
        self._assigned = True
        self.owned.update(tp.partition for tp in partitions)

    def _on_revoke(self, consumer: Any, partitions: list[TopicPartition]) -> None:
        self.owned.difference_update(tp.partition for tp in partitions)

    def read(self, count: int) -> list[Any]:
        return self._reader.read(count)

    def advance(self, partition: int, start: int, end: int) -> None:
        try:
            commit_forward(self.consumer, self.topic, partition, start, end)
        except KafkaException as exception:
            error, text = kafka.unwrap(exception)
            if error.code() not in _EVICTED:
                raise
            raise DeadSetError(409, f"lost hold of {self.topic}[{partition}] at offset {start}: {text}") from None


# A commit refused because this member is no longer in the group: the dead set is someone else's now.
_EVICTED = {
    KafkaError.UNKNOWN_MEMBER_ID,
    KafkaError.ILLEGAL_GENERATION,
    KafkaError.REBALANCE_IN_PROGRESS,
    KafkaError.FENCED_INSTANCE_ID,
}


class _BrokerWatch:
    """What librdkafka reports about its connections (error_cb), so that a request fails at once, with the reason,
    when every broker is down instead of waiting out its timeouts."""

    def __init__(self, servers: str) -> None:
        self.servers = servers
        self._all_down = False
        self._reason = ""

    def on_error(self, error: KafkaError) -> None:
        if error.code() == KafkaError._ALL_BROKERS_DOWN:
            self._all_down = True
        elif error.code() == KafkaError._TRANSPORT and not self._reason:
            self._reason = error.str()  # the first connection failure says why: refused, unresolved, TLS, ...

    def check(self) -> None:
        if self._all_down:
            raise DeadSetError(503, f"cannot reach Kafka at {self.servers}: {self._reason or 'every broker is down'}")


class Committer(Protocol):
    """The part of a consumer `commit_forward` uses."""

    def committed(self, partitions: list[TopicPartition], timeout: float = ...) -> list[TopicPartition]: ...
    def commit(self, *, offsets: list[TopicPartition], asynchronous: Literal[False]) -> list[TopicPartition]: ...


def commit_forward(consumer: Committer, topic: str, partition: int, start: int, end: int) -> None:
    """Commit `end` for a partition read from `start`, unless the group's offset is already past `start`: then
    another replay or delete has moved it, and committing would move it back (409)."""
    [current] = kafka.committed(consumer, [TopicPartition(topic, partition)], READ_TIMEOUT_S)
    if current.offset > start:
        raise DeadSetError(
            409,
            f"another replay or delete moved {topic}[{partition}] to offset {current.offset} while this one was at "
            f"{start}; stopped without moving it back",
        )
    consumer.commit(offsets=[TopicPartition(topic, partition, end)], asynchronous=False)


def _choose(found: list[Any], only: DeadLetterFilter, count: int) -> list[tuple[DeadLetter, bool]]:
    """Each letter read, in order, and whether the filter chose it, up to the `count`-th chosen: the run a replay
    or delete acts on (moving the chosen, keeping the others) before the start moves past it."""
    run: list[tuple[DeadLetter, bool]] = []
    for raw in found:
        letter = _letter(raw)
        chosen = only.matches(letter.key, letter.error)
        run.append((letter, chosen))
        count -= chosen
        if not count:
            break
    return run


def _write_back(producer: Any, topic: str, claim: _Claim, held: dict[int, list[Any]]) -> None:
    """Write letters passed over back to the end of the dead set, then move its start past them."""
    produce_all(producer, [_kept(topic, raw) for raws in held.values() for raw in raws], 60)
    for partition, raws in sorted(held.items()):
        claim.advance(partition, raws[0].offset(), raws[-1].offset() + 1)


def _replayed(route: Route, destination: str, raw: Any, letter: DeadLetter) -> envelope.Record:
    """A dead letter as a replay writes it: a retry due at once, or the original message when retry is off."""
    if route.retry.enabled:
        error = f"replayed from the dead set: {letter.error}"
        return envelope.forward(
            destination,
            letter.origin,
            raw.key(),
            raw.value(),
            route.name,
            0,
            error,
            due_ms=0,
            group=route.group_id,  # the route's group now: the one whose retry worker will handle it
        )
    headers = [(name, data or b"") for name, data in letter.origin.headers]
    return envelope.Record(destination, raw.key(), raw.value(), headers)


def _kept(topic: str, raw: Any) -> envelope.Record:
    """A letter a filter passed over, as it is, for the end of the dead set."""
    return envelope.Record(topic, raw.key(), raw.value(), [(name, data or b"") for name, data in raw.headers() or []])


class _PassedOver:
    """Per partition, how many letters (and bytes) a key or error filter passed over that the dead set's start has
    not moved past. They stay where they are, unless a chosen letter after them moves the start, or they reach
    `limit` bytes: then they are written back (all of them, at once) and the start moves past them."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._counts: dict[int, int] = {}
        self._sizes: dict[int, int] = {}
        self._size = 0

    def hold(self, raw: Any) -> bool:
        """Count a letter passed over; True once those held reach the limit."""
        partition, size = raw.partition(), len(raw.value() or b"") + len(raw.key() or b"")
        self._counts[partition] = self._counts.get(partition, 0) + 1
        self._sizes[partition] = self._sizes.get(partition, 0) + size
        self._size += size
        return self._size >= self.limit

    def release(self, partition: int) -> int:
        """Forget a partition's letters held (a chosen one after them moves the start); how many they were."""
        self._size -= self._sizes.pop(partition, 0)
        return self._counts.pop(partition, 0)

    def release_all(self) -> int:
        released = sum(self._counts.values())
        self._counts, self._sizes, self._size = {}, {}, 0
        return released


class _Passed(_PassedOver):
    """`_PassedOver`, holding the letters themselves, for a replay or delete to write back."""

    def __init__(self, limit: int) -> None:
        super().__init__(limit)
        self._held: dict[int, list[Any]] = {}

    def hold(self, raw: Any) -> bool:
        self._held.setdefault(raw.partition(), []).append(raw)
        return super().hold(raw)

    def take(self, partition: int) -> list[Any]:
        """A partition's letters held, in order, let go of."""
        self.release(partition)
        return self._held.pop(partition, [])

    def take_all(self) -> dict[int, list[Any]]:
        """Every partition's letters held, in order, let go of."""
        self.release_all()
        held, self._held = self._held, {}
        return held


class _WriteBack:
    """Writes the letters a key or error filter passed over back to the end of the dead set, acknowledged before the
    start moves past them (no producer when nothing can be passed over)."""

    def __init__(self, props: dict[str, str], topic: str, only: DeadLetterFilter) -> None:
        self.topic = topic
        self.producer: Any = kafka.new_producer(props | {"acks": "all"}) if only.by_content else None

    def __enter__(self) -> _WriteBack:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.producer is not None:
            self.producer.flush(30)

    def write(self, raws: list[Any]) -> None:
        if raws:
            produce_all(self.producer, [_kept(self.topic, raw) for raw in raws], 60)


def _letter(raw: Any) -> DeadLetter:
    kind, timestamp = raw.timestamp()
    headers = raw.headers() or []
    origin = envelope.read(raw.topic(), raw.partition(), raw.offset(), timestamp if kind else None, headers)
    # zig's error header is its last: one of the message's own may carry the same name.
    error = next((envelope.decoded(data) or "" for name, data in reversed(headers) if name == envelope.ERROR), "")
    return DeadLetter(raw.partition(), raw.offset(), raw.key(), raw.value(), origin, error, origin.timestamp)


# What the 403 of an endpoint without a token says: the setting that turns the dead-set API on.
DISABLED = (
    "the dead-set API is off: set a token in :http-server {:auth-token ...} (or ZIGGURAT_HTTP_SERVER_AUTH_TOKEN) "
    "and send it as Authorization: Bearer <token>"
)


def endpoints(config: Config) -> dict[tuple[str, str], Endpoint]:
    """Ziggurat's dead-set API: GET /v1/dead_set, POST /v1/dead_set/replay, DELETE /v1/dead_set, each behind the
    bearer token of :http-server {:auth-token} (viewing shows message contents, so it is guarded too). Parameters
    come in any of Ziggurat's spellings (`ziggurat_params`); answers carry Ziggurat's fields beside zig's."""
    token = config.operations.get("http-server.auth-token")
    # One replay or delete per route at a time in this process, refused at once; other processes are kept out by
    # the dead-set group (DeadSet._claim).
    changing = {route.name: threading.Lock() for route in config.routes}

    def view(request: Request) -> Response:
        dead_set, count = _asked(config, request)
        letters = dead_set.view(count) if count else []
        return as_json(200, {"messages": [_as_ziggurat(letter, dead_set.route) for letter in letters]})

    def change(action: str) -> Endpoint:
        def answer(request: Request) -> Response:
            dead_set, count = _asked(config, request)
            if not count:  # Ziggurat's count 0: nothing to act on, and nothing to hold the dead set for
                return as_json(200, {action: 0, "message": _done(action, 0, dead_set)})
            lock = changing[dead_set.route.name]
            if not lock.acquire(blocking=False):
                raise DeadSetError(409, f"a replay or delete of route {dead_set.route.name!r} is running; try again")
            try:
                done = dead_set.replay(count) if action == "replayed" else dead_set.delete(count)
            finally:
                lock.release()
            level = logging.INFO if action == "replayed" else logging.WARNING
            logger.log(
                level,
                "route=%s dead set: %s %s from %s asked %d, %s %d",
                dead_set.route.name,
                request.method,
                request.path,
                request.client,
                count,
                action,
                done,
                extra={"route": dead_set.route.name},
            )
            return as_json(200, {action: done, "message": _done(action, done, dead_set)})

        return answer

    def guarded(endpoint: Endpoint) -> Endpoint:
        def answer(request: Request) -> Response:
            try:
                return endpoint(request)
            except DeadSetError as error:
                if request.method != "GET":
                    logger.warning(
                        "dead set: %s %s from %s refused (%d): %s",
                        request.method,
                        request.path,
                        request.client,
                        error.status,
                        error,
                    )
                return as_json(error.status, {"error": str(error)})

        return require_bearer(token.value if token else None, DISABLED, answer)

    return {
        ("GET", "/v1/dead_set"): guarded(view),
        ("POST", "/v1/dead_set/replay"): guarded(change("replayed")),
        ("DELETE", "/v1/dead_set"): guarded(change("deleted")),
    }


def ziggurat_params(request: Request) -> dict[str, str]:
    """The request's parameters by Ziggurat's names: its middleware kebab-cased every name (`topic_entity` and
    `topicEntity` are `topic-entity`). A name given more than once (repeated, in the query and the body, or in two
    spellings) with different values is refused: a proxy or a log reading one of them must see what zig acts on."""
    found: dict[str, tuple[str, str]] = {}
    for name, values in request.params.items():
        canonical = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "-", name).replace("_", "-").lower()
        if len(set(values)) > 1:
            raise DeadSetError(400, f"{name} given more than once, with different values")
        value = values[-1]
        if canonical in found and found[canonical][1] != value:
            raise DeadSetError(
                400, f"{canonical} given twice, as {found[canonical][0]!r} and {name!r}, with different values"
            )
        found[canonical] = (name, value)
    return {canonical: value for canonical, (_, value) in found.items()}


def _asked(config: Config, request: Request) -> tuple[DeadSet, int]:
    """The route's dead set and the count a request asks for; Ziggurat's channels are refused rather than taken
    for the route's own dead set."""
    params = ziggurat_params(request)
    if "channel" in params:
        raise DeadSetError(
            400, "channels are not supported: a zig route has one handler and one dead set; name it in topic-entity"
        )
    dead_set = DeadSet(config, params.get("topic-entity"))
    return dead_set, parse_count(params.get("count"))


def _as_ziggurat(letter: DeadLetter, route: Route) -> dict[str, Any]:
    """A dead letter with the fields of Ziggurat's message payload beside zig's own: `message` the value's bytes in
    base64 (its JSON encoder's way with a byte array) and `retry-count` Ziggurat's counter, the retries left."""
    return letter.as_dict() | {
        "message": None if letter.value is None else base64.b64encode(letter.value).decode("ascii"),
        "topic-entity": route.name,
        "retry-count": ziggurat_retry_count(letter.origin.retry_count, route.retry.count),
    }


def ziggurat_retry_count(retried: int, count: int) -> int | None:
    """Ziggurat's retry-count of a dead letter retried `retried` times of `count`: none before its first retry, the
    retries left after one, and the whole count again once they are spent (it reset the counter on dead-lettering)."""
    if retried == 0:
        return None
    return count if retried >= count else count - retried


def _done(action: str, done: int, dead_set: DeadSet) -> str:
    """Ziggurat's `message` line, saying what was done: zig answers once it is, not when it has begun."""
    if action == "replayed":
        return f"Replayed {done} message(s) to {dead_set.destination!r}; they will be handled again shortly"
    return f"Deleted {done} message(s) from the dead set of route {dead_set.route.name!r}"
