"""Small fakes behind the consumer and producer Protocols, for worker unit tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import KafkaError, KafkaException, TopicPartition


@dataclass
class FakeRaw:
    """A consumed message as confluent_kafka presents it."""

    _topic: str
    _partition: int
    _offset: int
    _value: bytes | None
    _key: bytes | None = None
    _headers: list[tuple[str, bytes]] | None = None
    _timestamp: int = 1_700_000_000_000
    _error: KafkaError | None = None

    def topic(self) -> str:
        return self._topic

    def partition(self) -> int:
        return self._partition

    def offset(self) -> int:
        return self._offset

    def key(self) -> bytes | None:
        return self._key

    def value(self) -> bytes | None:
        return self._value

    def headers(self) -> list[tuple[str, bytes]] | None:
        return self._headers

    def timestamp(self) -> tuple[int, int]:
        return (1, self._timestamp)

    def error(self) -> KafkaError | None:
        return self._error


@dataclass
class FakeProducer:
    """Records what was produced; delivery reports succeed unless `fail` is set."""

    fail: str = ""
    hold: bool = False  # while True, poll() delivers nothing: the broker has not acknowledged yet
    max_value_bytes: int | None = None  # a larger value is refused at once, as librdkafka's message.max.bytes does
    produced: list[dict[str, Any]] = field(default_factory=list)
    _pending: list[Any] = field(default_factory=list)

    def produce(self, topic: str, value: Any = None, key: Any = None, **kwargs: Any) -> None:
        if self.max_value_bytes is not None and len(value or b"") > self.max_value_bytes:
            raise KafkaException(KafkaError(KafkaError.MSG_SIZE_TOO_LARGE, "Message size too large"))
        self.produced.append({"topic": topic, "value": value, "key": key, "headers": dict(kwargs.get("headers", []))})
        self._pending.append((kwargs["on_delivery"], topic))

    def poll(self, timeout: float = 0) -> int:
        if self.hold:
            return 0
        served = len(self._pending)
        for callback, topic in self._pending:
            error = KafkaError(KafkaError._MSG_TIMED_OUT, self.fail) if self.fail else None
            callback(error, _Delivered(topic))
        self._pending.clear()
        return served

    def flush(self, timeout: float = 0) -> int:
        self.poll()
        return 0

    @property
    def delivered(self) -> int:
        return len(self.produced) - len(self._pending)


@dataclass
class _Delivered:
    _topic: str

    def topic(self) -> str:
        return self._topic


@dataclass
class FakeConsumer:
    """Remembers stored offsets, pauses and resumes; each stored offset notes how much the producer had delivered."""

    producer: FakeProducer | None = None
    stored: list[tuple[str, int, int]] = field(default_factory=list)
    delivered_when_stored: list[int] = field(default_factory=list)
    paused: list[tuple[str, int]] = field(default_factory=list)
    resumed: list[tuple[str, int]] = field(default_factory=list)
    assigned: list[tuple[str, int]] = field(default_factory=list)

    def subscribe(self, topics: list[str], **callbacks: Any) -> None:
        self.topics = topics

    def consume(self, num_messages: int = 1, timeout: float = -1) -> list[Any]:
        return []

    def store_offsets(self, message: Any = None, offsets: Any = None) -> None:
        for tp in offsets:
            self.stored.append((tp.topic, tp.partition, tp.offset))
            self.delivered_when_stored.append(self.producer.delivered if self.producer else 0)

    def commit(self, message: Any = None, offsets: Any = None, asynchronous: bool = True) -> Any:
        return None

    def pause(self, partitions: list[TopicPartition]) -> None:
        self.paused += [(p.topic, p.partition) for p in partitions]

    def resume(self, partitions: list[TopicPartition]) -> None:
        self.resumed += [(p.topic, p.partition) for p in partitions]

    def close(self) -> None:
        pass

    def assignment(self) -> list[TopicPartition]:
        return [TopicPartition(topic, partition) for topic, partition in self.assigned]

    def get_watermark_offsets(self, partition: TopicPartition, timeout: float = 1, cached: bool = False) -> Any:
        return (0, self.high_watermark)

    high_watermark: int = -1
