"""Deserializers: bytes from Kafka -> what the handler receives, per the route's *-deserializer-class-config.

`bytes` passes bytes through, `string` decodes UTF-8, `json` parses JSON, and `protobuf:<module.Class>` decodes a
generated protobuf message class into a dict (needs the `protobuf` extra). A missing key or value stays None.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable
from typing import Any

from zig_cli.defaults import PROTOBUF_PREFIX
from zig_cli.errors import DecodeError, EncodeError

Decoder = Callable[[bytes | None], Any]


def _bytes(data: bytes | None) -> Any:
    return data


def _string(data: bytes | None) -> Any:
    if data is None:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise DecodeError(f"not UTF-8 text: {error}") from None


def _json(data: bytes | None) -> Any:
    if data is None:
        return None
    try:
        return json.loads(data)
    except ValueError as error:  # JSONDecodeError and UnicodeDecodeError are both ValueErrors
        raise DecodeError(f"not JSON: {error}") from None
    except RecursionError:  # nesting deeper than Python's recursion limit: no handler could take it anyway
        raise DecodeError("not JSON zig can read: nested too deeply") from None


def decoder(spec: str) -> Decoder:
    """The decoder for a validated deserializer spec; raises ValueError when a protobuf class cannot be loaded."""
    if spec == "bytes":
        return _bytes
    if spec == "string":
        return _string
    if spec == "json":
        return _json
    if spec.startswith(PROTOBUF_PREFIX):
        return _protobuf(spec[len(PROTOBUF_PREFIX) :])
    raise ValueError(f"unknown deserializer {spec!r}")


def _protobuf(class_path: str) -> Decoder:
    try:
        from google.protobuf.json_format import MessageToDict
        from google.protobuf.message import DecodeError as ProtobufDecodeError
    except ImportError:
        raise ValueError("protobuf deserializers need the protobuf extra: pip install 'zig-cli[protobuf]'") from None
    module_name, _, class_name = class_path.rpartition(".")
    try:
        message_class = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError) as error:
        raise ValueError(f"cannot load protobuf message class {class_path!r}: {error}") from None
    if not hasattr(message_class, "FromString"):
        raise ValueError(f"{class_path!r} is not a generated protobuf message class")

    def decode(data: bytes | None) -> Any:
        if data is None:
            return None
        try:
            return MessageToDict(message_class.FromString(data), preserving_proto_field_name=True)
        except ProtobufDecodeError as error:
            raise DecodeError(f"not a {class_name} protobuf message: {error}") from None
        except Exception as error:  # the protobuf runtime raises more than its DecodeError on hostile input
            raise DecodeError(f"not a {class_name} protobuf message: {type(error).__name__}: {error}") from None

    return decode


# --- serializers: what a producer writes, per the producer's *-serializer-class ---

Encoder = Callable[[Any], bytes | None]


def _encode_text(data: Any) -> bytes | None:
    if data is None or isinstance(data, bytes):
        return data
    if isinstance(data, bytearray):
        return bytes(data)
    if isinstance(data, str):
        return data.encode("utf-8")
    raise EncodeError(f"expected str or bytes, got {type(data).__name__}")


def _encode_json(data: Any) -> bytes | None:
    if data is None:
        return None
    try:
        return json.dumps(data).encode("utf-8")
    except (TypeError, ValueError) as error:
        raise EncodeError(f"not JSON serializable: {error}") from None


def encoder(spec: str) -> Encoder:
    """The encoder for a validated serializer spec: string and bytes take str (as UTF-8) or bytes; json any JSON."""
    if spec in ("string", "bytes"):
        return _encode_text
    if spec == "json":
        return _encode_json
    raise ValueError(f"unknown serializer {spec!r}")
