"""librdkafka's configuration properties as zig names them: whether librdkafka has one (asked without building a
client), the property a kebab-case key names, and a value as the property's text.

Ziggurat passed any kebab-case key of a route, :ssl or :sasl to the Java client (`isolation-level` became
isolation.level); zig passes on such a key when librdkafka knows the property it names.
"""

from __future__ import annotations

import difflib
import functools
import re

from confluent_kafka import KafkaException, Producer

from zig_cli.librdkafka_names import NAMES

# A property librdkafka knows, with a value it refuses: setting it fails after the probed one is set, so the probe
# never builds a client (nothing connects, no plugin or file is loaded).
_REFUSED = ("batch.num.messages", "zig-probe")
_UNKNOWN = "No such configuration property"
# Dotted lower-case words: kebab-case keys of one word ("logger") would name the Python client's own settings.
_NAME = re.compile(r"[a-z][a-z0-9]*(\.[a-z0-9]+)+")


def property_name(key: str) -> str:
    """The librdkafka property a kebab-case key names: `fetch-max-bytes` is fetch.max.bytes."""
    return key.replace("-", ".")


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
