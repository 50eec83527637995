"""Ziggurat's dead set, on Kafka: view, replay and delete a route's dead letters.

A route's dead-letter topic is read by its own consumer group, `<group>-dead-set`, whose committed offsets mark
where the dead set starts: viewing reads from there without committing; deleting commits past the messages;
replaying writes each message back (to the route's retry topic, due at once and with a fresh retry count, or to
the origin topic when retry is off) and only then commits past it. So a replay moves each message exactly once,
and a replay interrupted midway repeats at most the message in hand.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, TopicPartition

from zig_cli import envelope, kafka
from zig_cli.config import Config, Route
from zig_cli.errors import KafkaFatalError, ZigError
from zig_cli.producer import produce_all
from zig_cli.server import Endpoint, Request, Response, as_json, require_bearer

logger = logging.getLogger(__name__)

READ_TIMEOUT_S = 10.0


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
            "key": _text(self.key),
            "value": _text(self.value),
            "retry_count": self.origin.retry_count,
            "error": self.error,
            "age_s": round(age, 3) if age is not None else None,
            "origin": {"topic": self.origin.topic, "partition": self.origin.partition, "offset": self.origin.offset},
        }


def _text(data: bytes | None) -> str | None:
    return None if data is None else data.decode("utf-8", "replace")


def parse_count(raw: str | None) -> int:
    """Ziggurat's rule: count must be a positive integer."""
    try:
        count = int(raw or "")
    except ValueError:
        raise DeadSetError(400, f"count must be a positive integer, got {raw!r}") from None
    if count <= 0:
        raise DeadSetError(400, f"count must be a positive integer, got {count}")
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
        self.config = config
        self.topic: str = self.route["dead-letter-topic"]
        group_key = "consumer-group-id" if self.route.kind == "batch" else "application-id"
        self.group = f"{self.route[group_key]}-dead-set"
        self._admin = kafka.admin_properties(config, self.route)

    def _consumer(self) -> tuple[Consumer, list[TopicPartition]]:
        props = self._admin | {"group.id": self.group, "enable.auto.commit": "false", "enable.partition.eof": "true"}
        consumer = kafka.new_consumer(props, {})
        try:
            metadata = consumer.list_topics(self.topic, timeout=READ_TIMEOUT_S)
        except KafkaException as error:
            consumer.close()
            raise KafkaFatalError(f"cannot read {self.topic!r}: {error.args[0].str()}") from None
        found = metadata.topics.get(self.topic)
        if found is None or found.error is not None or not found.partitions:
            consumer.close()
            raise DeadSetError(404, f"route {self.route.name!r} has no dead letters (topic {self.topic!r} not found)")
        partitions = [TopicPartition(self.topic, p) for p in sorted(found.partitions)]
        starts = consumer.committed(partitions, timeout=READ_TIMEOUT_S)
        positions = [
            TopicPartition(self.topic, tp.partition, tp.offset if tp.offset >= 0 else OFFSET_BEGINNING) for tp in starts
        ]
        consumer.assign(positions)
        return consumer, positions

    def _read(self, consumer: Consumer, partitions: int, count: int) -> list[tuple[Any, DeadLetter]]:
        """The next `count` dead letters from the start of the dead set (fewer if there are fewer)."""
        found: list[tuple[Any, DeadLetter]] = []
        ended: set[int] = set()
        deadline = time.monotonic() + READ_TIMEOUT_S
        while len(found) < count and len(ended) < partitions and time.monotonic() < deadline:
            for raw in consumer.consume(min(count - len(found), 500), 0.5):
                error = raw.error()
                if error is not None:
                    if error.code() == KafkaError._PARTITION_EOF:
                        ended.add(raw.partition() or 0)
                        continue
                    raise KafkaFatalError(f"cannot read {self.topic!r}: {error.str()}")
                if len(found) < count:
                    found.append((raw, self._letter(raw)))
        return found

    @staticmethod
    def _letter(raw: Any) -> DeadLetter:
        kind, timestamp = raw.timestamp()
        headers = raw.headers() or []
        origin = envelope.read(raw.topic(), raw.partition(), raw.offset(), timestamp if kind else None, headers)
        error = next(((data or b"").decode("utf-8", "replace") for name, data in headers if name == envelope.ERROR), "")
        return DeadLetter(raw.partition(), raw.offset(), raw.key(), raw.value(), origin, error, origin.timestamp)

    def view(self, count: int) -> list[DeadLetter]:
        consumer, positions = self._consumer()
        try:
            return [letter for _, letter in self._read(consumer, len(positions), count)]
        finally:
            consumer.close()

    def delete(self, count: int) -> int:
        consumer, positions = self._consumer()
        try:
            found = self._read(consumer, len(positions), count)
            for raw, _ in found:
                _commit_past(consumer, raw)
            return len(found)
        finally:
            consumer.close()

    def replay(self, count: int, after_write: Callable[[DeadLetter], None] = lambda letter: None) -> int:
        """Write each dead letter back, then commit past it; returns how many moved."""
        retry = self.route.retry
        destination = self.route["retry-topic"] if retry.enabled else self.route["origin-topic"]
        producer: Any = kafka.new_producer(self._admin | {"acks": "all"})
        consumer, positions = self._consumer()
        moved = 0
        try:
            for raw, letter in self._read(consumer, len(positions), count):
                if retry.enabled:
                    record = envelope.forward(
                        destination,
                        letter.origin,
                        raw.key(),
                        raw.value(),
                        self.route.name,
                        0,
                        f"replayed from the dead set: {letter.error}",
                        due_ms=0,
                    )
                else:
                    headers = [(name, data or b"") for name, data in letter.origin.headers]
                    record = envelope.Record(destination, raw.key(), raw.value(), headers)
                produce_all(producer, [record], 60)
                after_write(letter)
                _commit_past(consumer, raw)
                moved += 1
            return moved
        finally:
            consumer.close()
            producer.flush(30)


def _commit_past(consumer: Consumer, raw: Any) -> None:
    consumer.commit(offsets=[TopicPartition(raw.topic(), raw.partition(), raw.offset() + 1)], asynchronous=False)


# What the 403 of an endpoint without a token says: the setting that turns the dead-set API on.
DISABLED = (
    "the dead-set API is off: set a token in :http-server {:auth-token ...} (or ZIGGURAT_HTTP_SERVER_AUTH_TOKEN) "
    "and send it as Authorization: Bearer <token>"
)


def endpoints(config: Config) -> dict[tuple[str, str], Endpoint]:
    """Ziggurat's dead-set API: GET /v1/dead_set, POST /v1/dead_set/replay, DELETE /v1/dead_set, each behind the
    bearer token of :http-server {:auth-token} (viewing shows message contents, so it is guarded too)."""
    token = config.operations.get("http-server.auth-token")

    def serve(action: str) -> Endpoint:
        def answer(request: Request) -> Response:
            try:
                count = parse_count(request.param("count"))
                dead_set = DeadSet(config, request.param("topic-entity"))
                if action == "view":
                    return as_json(200, {"messages": [letter.as_dict() for letter in dead_set.view(count)]})
                done = dead_set.replay(count) if action == "replay" else dead_set.delete(count)
                logger.log(
                    logging.INFO if action == "replay" else logging.WARNING,
                    "route=%s dead set: %s %s from %s asked %d, %s %d",
                    dead_set.route.name,
                    request.method,
                    request.path,
                    request.client,
                    count,
                    "replayed" if action == "replay" else "deleted",
                    done,
                )
                return as_json(200, {"replayed" if action == "replay" else "deleted": done})
            except DeadSetError as error:
                if action != "view":
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
        ("GET", "/v1/dead_set"): serve("view"),
        ("POST", "/v1/dead_set/replay"): serve("replay"),
        ("DELETE", "/v1/dead_set"): serve("delete"),
    }
