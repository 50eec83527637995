"""librdkafka's configuration properties as zig names them: whether librdkafka has one (asked without building a
client), the property a kebab-case key names, and a value as the property's text.

Ziggurat passed any kebab-case key of a route, :ssl or :sasl to the Java client (`isolation-level` became
isolation.level); zig passes on such a key when librdkafka knows the property it names.
"""

from __future__ import annotations

import difflib
import functools
import re
from collections.abc import Mapping

from confluent_kafka import KafkaException, Producer

from zig_cli.librdkafka_names import NAMES

# A property librdkafka knows, with a value it refuses: setting it fails after the probed one is set, so the probe
# never builds a client (nothing connects, no plugin or file is loaded).
_REFUSED = ("batch.num.messages", "zig-probe")
_UNKNOWN = "No such configuration property"
# Dotted lower-case words: kebab-case keys of one word ("logger") would name the Python client's own settings.
_NAME = re.compile(r"[a-z][a-z0-9]*(\.[a-z0-9]+)+")


# Properties librdkafka knows by two names (its table's "Alias for"), by the one zig uses: the Java client's, which
# zig's settings use too. One property, one name: a config that sets both names would otherwise have librdkafka apply
# whichever comes last, silently (`:sasl-mechanisms` beside :mechanism). tests/test_librdkafka_names.py checks it.
SAME_PROPERTY: Mapping[str, str] = {
    "metadata.broker.list": "bootstrap.servers",
    "sasl.mechanisms": "sasl.mechanism",
    "sasl.oauthbearer.client.credentials.client.id": "sasl.oauthbearer.client.id",
    "sasl.oauthbearer.client.credentials.client.secret": "sasl.oauthbearer.client.secret",
    "max.in.flight": "max.in.flight.requests.per.connection",
    "fetch.message.max.bytes": "max.partition.fetch.bytes",
    "queue.buffering.max.ms": "linger.ms",
    "message.send.max.retries": "retries",
    "compression.codec": "compression.type",
    "request.required.acks": "acks",
    "message.timeout.ms": "delivery.timeout.ms",
}


def canonical(name: str) -> str:
    """The one name zig gives a property librdkafka knows by two (SAME_PROPERTY), or `name`."""
    return SAME_PROPERTY.get(name, name)


def property_name(key: str) -> str:
    """The librdkafka property a kebab-case key names: `fetch-max-bytes` is fetch.max.bytes; `sasl-mechanisms`, one of
    two names of a property, is sasl.mechanism (canonical)."""
    return canonical(key.replace("-", "."))


def text(value: object) -> str:
    """A value as librdkafka takes a property's: text, with booleans as true and false."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@functools.cache
def knows(name: str) -> bool:
    """True when librdkafka has a configuration property of this name (of any client kind or topic)."""
    if not _NAME.fullmatch(name) or name == _REFUSED[0]:
        return name == _REFUSED[0]
    try:
        Producer({name: "", _REFUSED[0]: _REFUSED[1]})
    except KafkaException as error:
        return _UNKNOWN not in str(error)
    except (TypeError, ValueError, AttributeError):  # a setting of the Python client itself, not librdkafka's
        return False
    return True  # not reached: librdkafka refuses the probe's value


def has_property(name: str) -> bool:
    """True for a raw property name as written in kafka-properties: one librdkafka lists, or one it knows (a
    version newer than the list's may have more)."""
    return name in NAMES or knows(name)


def close_name(name: str) -> str | None:
    """The property librdkafka lists whose name is closest to `name`, if one is close enough to be the one meant."""
    close = difflib.get_close_matches(name, sorted(NAMES), n=1, cutoff=0.8)
    return close[0] if close else None
