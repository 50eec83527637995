"""Deserializers: what the handler receives for each *-deserializer-class-config, and what does not decode."""

from __future__ import annotations

import pytest

from zig_cli import codecs
from zig_cli.errors import DecodeError


@pytest.mark.parametrize(
    ("spec", "data", "expected"),
    [
        ("bytes", b"\xff\x00", b"\xff\x00"),
        ("string", "zoë".encode(), "zoë"),
        ("json", b'{"a": [1, 2]}', {"a": [1, 2]}),
        ("json", None, None),
        ("string", None, None),
    ],
)
def test_decoders(spec: str, data: bytes | None, expected: object):
    assert codecs.decoder(spec)(data) == expected


@pytest.mark.parametrize(
    ("spec", "data", "message"),
    [
        ("string", b"\xff", "not UTF-8 text: 'utf-8' codec can't decode byte 0xff in position 0: invalid start byte"),
        ("json", b"{oops", "not JSON: Expecting property name enclosed in double quotes: line 1 column 2 (char 1)"),
    ],
)
def test_what_does_not_decode_says_why(spec: str, data: bytes, message: str):
    with pytest.raises(DecodeError) as caught:
        codecs.decoder(spec)(data)
    assert str(caught.value) == message


def test_protobuf_decodes_to_a_dict():
    from zig_fixture_proto import Order  # type: ignore[import-not-found]

    decode = codecs.decoder("protobuf:zig_fixture_proto.Order")
    assert decode(Order(order_id="A-1", quantity=3).SerializeToString()) == {"order_id": "A-1", "quantity": 3}
    with pytest.raises(DecodeError, match="not a Order protobuf message"):
        decode(b"\xff\xff\xff")


def test_an_unloadable_protobuf_class_is_a_clear_error():
    with pytest.raises(ValueError, match="cannot load protobuf message class 'zig_fixture_nowhere.Order'"):
        codecs.decoder("protobuf:zig_fixture_nowhere.Order")
    with pytest.raises(ValueError, match="'zig_fixture_handlers.on_batch' is not a generated protobuf message class"):
        codecs.decoder("protobuf:zig_fixture_handlers.on_batch")


def test_json_nested_deeper_than_python_can_read_is_a_decode_error():
    deep = b"[" * 100_000 + b"]" * 100_000
    with pytest.raises(DecodeError, match="nested too deeply"):
        codecs.decoder("json")(deep)


class Exploding:
    """Stands for a generated message class whose runtime fails on hostile input with more than DecodeError."""

    @staticmethod
    def FromString(data: bytes) -> object:  # noqa: N802 (protobuf's naming)
        raise RecursionError("maximum recursion depth exceeded")


def test_any_protobuf_runtime_failure_is_a_decode_error():
    decode = codecs.decoder("protobuf:test_codecs.Exploding")
    with pytest.raises(DecodeError, match="not a Exploding protobuf message: RecursionError: maximum recursion"):
        decode(b"")
