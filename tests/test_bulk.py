"""bulk: every line is sent or reported, and the counts add up (no broker: a fake producer)."""

from __future__ import annotations

from typing import Any

from zig_cli import bulk


class FakeBulkProducer:
    """Queues what is produced; at flush, fails one delivery and leaves `undelivered` messages unsent."""

    def __init__(self, result: bulk.BulkResult, undelivered: int) -> None:
        self.produced: list[tuple[str, Any, Any, dict[str, Any]]] = []
        self._result = result
        self._undelivered = undelivered
        self.full_once = True

    def raw_produce(self, topic: str, value: Any, key: Any, **kwargs: Any) -> None:
        if self.full_once:  # librdkafka's queue is full at first: the line must still go out, once
            self.full_once = False
            raise BufferError
        self.produced.append((topic, value, key, kwargs))

    def poll(self, timeout: float) -> int:
        return 0

    def encode(self, key: Any, value: Any) -> tuple[bytes | None, bytes | None]:
        return (None if key is None else str(key).encode(), str(value).encode())

    def flush(self, timeout: float) -> int:
        failed = _Message(self.produced[0][2])
        self._result.delivery_report(_Error("broker said no"), failed)
        return self._undelivered


class _Message:
    def __init__(self, key: bytes | None) -> None:
        self._key = key

    def key(self) -> bytes | None:
        return self._key


class _Error:
    def __init__(self, text: str) -> None:
        self._text = text

    def str(self) -> str:
        return self._text


def test_every_line_is_sent_or_counted_as_failed_exactly_once():
    result = bulk.BulkResult()
    producer = FakeBulkProducer(result, undelivered=2)
    lines = [b"a\t1\n", b"no tab here\n", b'{"key": "b", "value": "2", "partition": 3}\n', b"\t3\n", b"c\t4\r\n"]
    bulk.send_lines(producer, "t", lines, False, [], 5, result=result)  # type: ignore[arg-type]
    assert producer.produced == [
        ("t", b"1", b"a", {}),
        ("t", b"2", b"b", {"partition": 3}),
        ("t", b"3", None, {}),
        ("t", b"4", b"c", {}),
    ]
    assert (result.sent, result.failed) == (1, 4)  # 4 queued - 1 failed delivery - 2 undelivered; 1 bad line
    assert result.failures == [  # sorted; line 0: a delivery (librdkafka does not say which line)
        (0, "2 message(s) not delivered within 5 s"),
        (0, "key 'a': broker said no"),
        (2, "expected key<TAB>value or a JSON object"),
    ]


def test_headers_given_on_the_command_line_go_with_every_line():
    result = bulk.BulkResult()
    producer = FakeBulkProducer(result, undelivered=0)
    producer.full_once = False
    lines = [b"a\t1\n", b'{"value": "2", "headers": {"h": "x"}}\n']
    bulk.send_lines(producer, "t", lines, False, [("trace", b"t1")], 5, result=result)  # type: ignore[arg-type]
    assert [kwargs for *_, kwargs in producer.produced] == [
        {"headers": [("trace", b"t1")]},
        {"headers": [("trace", b"t1"), ("h", b"x")]},
    ]
    assert (result.sent, result.failed) == (1, 1)


def test_a_line_that_is_not_utf8_is_reported_by_number_and_the_rest_go_out():
    result = bulk.BulkResult()
    producer = FakeBulkProducer(result, undelivered=0)
    producer.full_once = False
    lines = ["k\tcafé\n".encode(), b"k\t\xff\xfe\n", b"\xc3\t1\n", b"last\t2"]
    bulk.send_lines(producer, "t", lines, False, [], 5, result=result)  # type: ignore[arg-type]
    # a non-ASCII line that is UTF-8 goes out byte for byte, as the string serializer would write it
    assert [(key, value) for _, value, key, _ in producer.produced] == [(b"k", "café".encode()), (b"last", b"2")]
    assert result.failures[1:] == [
        (2, "not UTF-8 text (byte 3: b'\\xff')"),
        (3, "not UTF-8 text (byte 1: b'\\xc3')"),
    ]
    assert (result.sent, result.failed) == (1, 3)  # 2 queued - 1 failed delivery (the fake's); 2 bad lines
