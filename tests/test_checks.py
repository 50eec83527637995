"""checks: one value, the environment and one map, each on its own, without walking a whole config."""

from __future__ import annotations

from typing import Any

import pytest

from zig_cli import defaults
from zig_cli.checks import Bad, Environment, Findings, SectionCheck, check_value, coerce_text
from zig_cli.defaults import Section, Setting
from zig_cli.model import Value

PORT = Setting("port", "int", 80, "a port", minimum=0, maximum=65535)
TOKEN = Setting("token", "str", None, "a token", secret=True)
ACKS = defaults.PRODUCER.setting("acks")
KEYS = defaults.BATCH_ROUTE.setting("key-deserializer-class-config")
PROPS = defaults.BATCH_ROUTE.setting("kafka-properties")


@pytest.mark.parametrize(
    ("setting", "raw", "expected"),
    [
        (PORT, 8080, 8080),
        (PORT, 70000, Bad("must be at most 65535, got 70000")),
        (PORT, True, Bad("expected an integer, got True (boolean)")),
        (TOKEN, 12345, Bad("expected a string, got '***'")),
        (ACKS, 1, "1"),
        (ACKS, "most", Bad("must be one of 'all', '-1', '0', '1', got 'most'")),
        (KEYS, "org.apache.kafka.common.serialization.StringDeserializer", "string"),
        (
            KEYS,
            "protobuf:Order",
            Bad("'protobuf:Order': after 'protobuf:' name the generated message class, e.g. 'protobuf:app.pb2.Order'"),
        ),
        (PROPS, {"linger.ms": 5, "enable.idempotence": True}, {"linger.ms": "5", "enable.idempotence": "true"}),
        (
            PROPS,
            {"sasl.password": ["p"]},
            Bad("'sasl.password': expected a string, number or boolean, got a list of 1 item"),
        ),
    ],
)
def test_one_value_is_checked_against_its_setting_alone(setting: Setting | None, raw: Any, expected: Any):
    assert setting is not None
    assert check_value(setting, raw) == expected


@pytest.mark.parametrize(
    ("setting", "text", "expected"),
    [
        (PORT, " 8080 ", 8080),
        (PORT, "eighty", Bad("ZIGGURAT_PORT='eighty': expected an integer")),
        (TOKEN, "hunter2", "hunter2"),
        (Setting("on", "bool", False, "a switch"), "Yes", True),
        (
            Setting("on", "bool", False, "a switch", secret=True),
            "hunter2",
            Bad("ZIGGURAT_PORT='***': expected true or false"),
        ),
    ],
)
def test_text_is_coerced_to_the_settings_type(setting: Setting, text: str, expected: Any):
    assert coerce_text(setting, text, "ZIGGURAT_PORT") == expected


def test_the_environment_knows_every_variable_it_was_asked_about():
    env = Environment({"ZIGGURAT_STREAM_ROUTES_E_PORT": "1", "ZIGGURAT_PROT": "2", "HOME": "/root"})
    assert env.override(PORT, ("stream-router", "e")) == ("ZIGGURAT_STREAM_ROUTER_E_PORT", "1")
    assert env.override(PORT, ()) == ("ZIGGURAT_PORT", None)
    assert env.override(Setting("props", "properties", None, "raw"), ())[1] is None
    assert env.unknown() == ["environment variable ZIGGURAT_PROT matches no setting; did you mean ZIGGURAT_PORT?"]


def test_one_map_gives_its_values_with_their_origins_and_reports_the_rest():
    section = Section("s", "Some section", (PORT, TOKEN, Setting("name", "str", None, "a name", mandatory=True)))
    findings = Findings("c.edn")
    check = SectionCheck(findings, Environment({"ZIGGURAT_S_TOKEN": "t"}))
    values = check.check(section, {"prot": 1, "name": "n"}, "s", ("s",))
    assert values == {"name": Value("n", "file"), "port": Value(80, "default"), "token": Value("t", "env")}
    assert [str(p) for p in findings.problems] == ["c.edn: s.prot: unknown key 'prot'; did you mean 'port'?"]
