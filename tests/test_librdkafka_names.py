"""The list of librdkafka property names zig suggests from stays librdkafka's own."""

from __future__ import annotations

import pytest
from confluent_kafka import KafkaException, Producer
from librdkafka_table import aliases, bundled_library, property_names

from zig_cli import librdkafka
from zig_cli.librdkafka_names import NAMES


def librdkafka_has(name: str) -> bool:
    """librdkafka's answer for any name, one word or dotted; a setting the Python client takes itself is one too."""
    try:
        Producer({name: "", "batch.num.messages": "zig-probe"})
    except KafkaException as error:
        return "No such configuration property" not in str(error)
    except (TypeError, ValueError):  # read by the Python client itself: delivery.report.only.error, the callbacks
        return True
    return True


def test_every_listed_name_is_a_property_librdkafka_has():
    assert [name for name in sorted(NAMES) if not librdkafka_has(name)] == []


def test_the_list_is_the_installed_librdkafkas_table():
    library = bundled_library()
    if library is None:
        pytest.skip("confluent-kafka is linked to a librdkafka outside the wheel; the check above still holds")
    assert sorted(NAMES) == property_names(library), "regenerate it: python tests/librdkafka_table.py"


@pytest.mark.parametrize(
    ("written", "meant"),
    [
        ("fetch.min.byte", "fetch.min.bytes"),
        ("sesion.timeout.ms", "session.timeout.ms"),
        ("enable.auto.comit", "enable.auto.commit"),
        ("linger", "linger.ms"),
        ("frobnicate", None),
    ],
)
def test_the_closest_name_is_suggested(written: str, meant: str | None):
    assert librdkafka.close_name(written) == meant


def test_one_word_properties_count_as_properties():
    assert librdkafka.has_property("acks") and librdkafka.has_property("debug")
    assert not librdkafka.has_property("fetch.min.byte")


def test_zig_gives_each_property_librdkafka_knows_by_two_names_one_name():
    library = bundled_library()
    if library is None:
        pytest.skip("confluent-kafka is linked to a librdkafka outside the wheel")
    named = {frozenset(pair) for pair in librdkafka.SAME_PROPERTY.items()}
    assert named == aliases(library)
    assert not set(librdkafka.SAME_PROPERTY) & set(librdkafka.SAME_PROPERTY.values())
