"""bulk: every line is sent or reported, and the counts add up (no broker: a fake producer)."""

from __future__ import annotations

from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException

from zig_cli import bulk
from zig_cli.errors import EncodeError


class FakeBulkProducer:
    """Queues what is produced, refusing values over `max_bytes` as librdkafka does; at flush, fails one delivery
    (unless `fail_one` is off) and leaves `undelivered` messages unsent."""

    def __init__(self, result: bulk.BulkResult, undelivered: int, fail_one: bool = True) -> None:
        self.produced: list[tuple[str, Any, Any, dict[str, Any]]] = []
        self._result = result
        self._undelivered = undelivered
        self._fail_one = fail_one
        self.full_once = True
        self.max_bytes = 1000

    def raw_produce(self, topic: str, value: Any, key: Any, **kwargs: Any) -> None:
        if self.full_once:  # librdkafka's queue is full at first: the line must still go out, once
            self.full_once = False
            raise BufferError
        if len(value or b"") > self.max_bytes:
            raise KafkaException(KafkaError(KafkaError.MSG_SIZE_TOO_LARGE))
        self.produced.append((topic, value, key, kwargs))

    def refusal(self, error: KafkaError, topic: str, partition: int | None, key: Any, value: Any) -> str:
        return f"refused: {error.name()}"

    def poll(self, timeout: float) -> int:
        return 0

    def encode(self, key: Any, value: Any) -> tuple[bytes | None, bytes | None]:
        return (None if key is None else str(key).encode(), str(value).encode())

    def flush(self, timeout: float) -> int:
        if self._fail_one:
            self._result.delivery_report(_Error("broker said no"), _Message(self.produced[0][2]))
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


@pytest.mark.parametrize("json_values", [False, True])
def test_a_line_librdkafka_refuses_fails_by_number_and_the_rest_go_out(json_values: bool):
    result = bulk.BulkResult()
    producer = FakeBulkProducer(result, undelivered=0, fail_one=False)
    big = b'"' + b"y" * 5000 + b'"'
    lines = [b"a\t1\n", b"big\t" + big + b"\n", b'{"value": ' + big + b"}\n", b"c\t2"]
    bulk.send_lines(producer, "t", lines, json_values, [], 5, result=result)  # type: ignore[arg-type]
    assert [(key, value) for _, value, key, _ in producer.produced] == [(b"a", b"1"), (b"c", b"2")]
    refused = "refused: MSG_SIZE_TOO_LARGE"
    assert result.failures == [(2, refused), (3, refused)]
    assert (result.sent, result.failed) == (2, 2)


@pytest.mark.parametrize(("json_values", "headers"), [(False, []), (True, []), (False, [("h", b"1")])])
def test_blank_lines_are_skipped_not_failed(json_values: bool, headers: list[tuple[str, bytes]]):
    result = bulk.BulkResult()
    producer = FakeBulkProducer(result, undelivered=0, fail_one=False)
    lines = [b"a\t1\n", b"\n", b"  \r\n", b"\r\n", b" \x0c\x0b\n", b"b\t2\n", b""]
    bulk.send_lines(producer, "t", lines, json_values, headers, 5, result=result)  # type: ignore[arg-type]
    assert [key for _, _, key, _ in producer.produced] == [b"a", b"b"]
    assert (result.sent, result.failed, result.blank) == (2, 0, 5)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"value": 1, "partition": 99999999999999}', "partition must be from 0 to 2147483647, got 99999999999999"),
        ('{"value": 1, "partition": 2147483648}', "partition must be from 0 to 2147483647, got 2147483648"),
        ('{"value": 1, "partition": -1}', "partition must be from 0 to 2147483647, got -1"),
        ('{"value": 1, "partition": 1.5}', "partition must be an integer, got 1.5"),
        ('{"value": 1, "headers": {"\\ud800": "x"}}', "header '\\ud800' is not UTF-8 text"),
        ('{"value": 1, "headers": {"h": "\\udcff"}}', "header 'h' is not UTF-8 text"),
    ],
)
def test_a_json_line_that_librdkafka_could_not_take_is_a_clear_error(line: str, message: str):
    with pytest.raises((ValueError, EncodeError)) as caught:
        bulk.parse(line, False)
    assert str(caught.value) == message
