"""The zig command as a user runs it: output lines and exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from helpers import SAMPLES, batch_route, flat_config, stream_route, write
from test_config import BROKEN, SERVER_PORTS, SHARED_TOPICS
from typer.testing import CliRunner

from zig_cli import defaults
from zig_cli.cli import app

runner = CliRunner()


def zig(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args), env=env)
    return result.exit_code, result.stdout, result.stderr


def test_sample_config_validates_with_its_summary(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(SAMPLES.parent)
    code, out, err = zig("validate", "sample-configs/config.edn")
    assert code == 0, err
    assert "batch route 'orders'  (ziggurat.batch-routes.orders)" in out
    assert "stream route 'default'  (ziggurat.stream-router.default)" in out
    assert "sample-configs/config.edn: valid, 2 route(s)" in out
    assert "messages to retry go to 'sample-app-orders-retry' (linear backoff of 1000 ms, up to 3 times)" in out
    assert err == ""


@pytest.mark.parametrize("sample", sorted(SAMPLES.glob("*.edn")) + sorted(SAMPLES.glob("*.toml")), ids=lambda p: p.name)
def test_every_sample_config_validates(sample: Path):
    code, _, err = zig("validate", str(sample))
    assert code == 0, err


RABBIT_MQ_TEXT = "zig keeps retries in the route's Kafka retry topic and dead letters in its dead-letter topic"


def test_ziggurat_config_warns_once_per_unsupported_section():
    code, out, err = zig("validate", str(SAMPLES / "ziggurat-legacy.edn"))
    assert code == 0, err
    warned = [line for line in err.splitlines() if line.startswith("warning: ")]
    sections = [
        "alpha-features",
        "metrics",
        "jobs",
        "new-relic",
        "nrepl-server",
        "rabbit-mq-connection",
        "sentry",
        "statsd",
        "tracer",
    ]
    for section in sections:
        assert sum(f"ziggurat.{section}: ignored: " in line for line in warned) == 1, section
    streams_only = [
        "changelog-topic-replication-factor",
        "consumer-type",
        "stream-thread-exception-response",
        "channels",
    ]
    for key in streams_only:
        assert sum(f"ziggurat.stream-router.booking.{key}: ignored: " in line for line in warned) == 1, key
    for key in ("middlewares", "thread-count"):
        assert sum(f"ziggurat.http-server.{key}: ignored: " in line for line in warned) == 1, key
    rabbit_mq = [line for line in warned if "ziggurat.rabbit-mq" in line and "rabbit-mq-connection" not in line]
    assert [line.split(": ", 2)[2] for line in rabbit_mq] == [
        "ziggurat.rabbit-mq: ignored 'instant', 'dead-letter': " + RABBIT_MQ_TEXT,
        "ziggurat.rabbit-mq.delay: ignored 'queue-name', 'exchange-name': " + RABBIT_MQ_TEXT,
    ]
    assert len(warned) == len(sections) + len(streams_only) + 2 + len(rabbit_mq)
    # Its :rabbit-mq has no :queue-timeout-ms: Ziggurat's default delay of 5000 ms is the retry backoff.
    assert "(linear backoff of 5000 ms, up to 5 times)" in out


def test_invalid_config_prints_every_problem_and_exits_2(tmp_path: Path):
    raw = flat_config(
        **{
            "batch-routes": {
                "orders": batch_route(**{"thread-count": 0, "handler-fn": "zig_fixture_nowhere/handle"}),
                "audit": batch_route(**{"origin-topic": "audit", "auto-offset-reset-config": "sideways"}),
            }
        }
    )
    path = write(tmp_path, raw)
    code, out, err = zig("validate", str(path))
    assert code == 2
    assert err.splitlines() == [
        f"{path}: batch-routes.audit.auto-offset-reset-config: must be one of 'earliest', 'latest', got 'sideways'",
        f"{path}: batch-routes.orders.handler-fn: module 'zig_fixture_nowhere' not found (looked in the config's "
        "folder, the working directory and the installed packages)",
        f"{path}: batch-routes.orders.thread-count: must be at least 1, got 0",
        f"{path}: 3 problems",
    ]
    assert "Traceback" not in out + err


def test_a_handler_module_that_raises_shows_its_traceback(tmp_path: Path):
    path = write(
        tmp_path,
        flat_config(**{"batch-routes": {"orders": batch_route(**{"handler-fn": "zig_fixture_raises/on-batch"})}}),
    )
    code, _, err = zig("validate", str(path))
    assert code == 2
    assert "module 'zig_fixture_raises' raised RuntimeError while importing: database URL is not set" in err
    assert "Traceback (most recent call last)" in err
    assert 'raise RuntimeError("database URL is not set")' in err


def test_parse_error_is_reported_with_line_and_column(tmp_path: Path):
    path = tmp_path / "config.edn"
    path.write_text('{:app-name "x"\n :batch-routes {:orders {:thread-count 2}}\n')
    code, _, err = zig("validate", str(path))
    assert code == 2
    assert err.splitlines()[0] == f"{path}:1:1: '{{' is never closed"


def test_a_misspelled_raw_property_is_reported_with_the_other_problems(tmp_path: Path):
    route = batch_route(**{"thread-count": 0, "fetch-min-byte": 2, "kafka-properties": {"fetch.min.byte": 1}})
    path = write(tmp_path, flat_config(**{"batch-routes": {"orders": route}}))
    code, _, err = zig("validate", str(path))
    assert code == 2
    assert err.splitlines() == [
        f"{path}: batch-routes.orders.fetch-min-byte: unknown key 'fetch-min-byte': neither a setting of Batch route "
        "(:batch-routes {name {...}}) nor a librdkafka property ('fetch.min.byte'); did you mean 'fetch-min-bytes' "
        "(librdkafka's fetch.min.bytes)?",
        f"{path}: batch-routes.orders.kafka-properties.fetch.min.byte: librdkafka has no property 'fetch.min.byte'; "
        "did you mean 'fetch.min.bytes'?",
        f"{path}: batch-routes.orders.thread-count: must be at least 1, got 0",
        f"{path}: 3 problems",
    ]


def test_properties_a_plugin_may_add_are_left_to_librdkafka(tmp_path: Path):
    props = {"plugin.library.paths": "no-such-plugin", "monitoring.interceptor.url": "x"}
    path = write(tmp_path, flat_config(**{"batch-routes": {"orders": batch_route(**{"kafka-properties": props})}}))
    code, _, err = zig("validate", str(path))
    assert code == 2
    assert "librdkafka has no property" not in err
    assert "librdkafka refuses the consumer config" in err, "the plugin is loaded when the client is built"


def test_librdkafka_rejects_inconsistent_settings(tmp_path: Path):
    route = batch_route(**{"session-timeout-ms-config": 60000, "max-poll-interval-ms": 1000})
    path = write(tmp_path, flat_config(**{"batch-routes": {"orders": route}}))
    code, _, err = zig("validate", str(path))
    assert code == 2
    assert "`max.poll.interval.ms`must be >= `session.timeout.ms`" in err.splitlines()[0]


def test_validate_refuses_what_the_consumer_protocol_leaves_to_the_broker(tmp_path: Path):
    route = batch_route(
        **{
            "group-protocol": "consumer",
            "session-timeout-ms-config": 10_000,
            "kafka-properties": {"partition.assignment.strategy": "range"},
        }
    )
    path = write(tmp_path, flat_config(**{"batch-routes": {"orders": route}}))
    code, _, err = zig("validate", str(path))
    assert code == 2
    assert err.splitlines()[:2] == [
        f"{path}: batch-routes.orders.kafka-properties.partition.assignment.strategy: not used with group-protocol "
        "consumer: the broker assigns partitions (choose its assignor with group.remote.assignor)",
        f"{path}: batch-routes.orders.session-timeout-ms-config: not used with group-protocol consumer: the broker "
        "sets the session timeout (group.consumer.session.timeout.ms)",
    ]
    assert "librdkafka refuses" not in err, "zig's reason, not librdkafka's as well"


def test_secrets_are_masked_in_text_and_json(tmp_path: Path):
    raw = flat_config(
        ssl={"enabled": True, "ssl-keystore-password": "hunter2", "jaas": {"username": "svc", "password": "s3cr3t"}},
        **{"batch-routes": {"orders": batch_route(**{"kafka-properties": {"sasl.oauthbearer.client.secret": "xyz"}})}},
    )
    path = write(tmp_path, raw)
    for fmt in ("text", "json"):
        _, out, err = zig("validate", str(path), "--format", fmt)
        for secret in ("hunter2", "s3cr3t", "xyz"):
            assert secret not in out + err, (fmt, secret)
        assert "***" in out


def test_json_format_for_machines(tmp_path: Path):
    good = write(tmp_path, flat_config(), name="good")
    code, out, _ = zig(
        "validate", str(good), "--format", "json", env={"ZIGGURAT_BATCH_ROUTES_ORDERS_THREAD_COUNT": "3"}
    )
    document = json.loads(out)
    assert code == 0
    assert document["valid"] is True
    settings = document["routes"][0]["settings"]
    assert settings["thread-count"] == {"value": 3, "origin": "env"}
    assert settings["max-poll-records"] == {"value": 500, "origin": "default"}

    bad = write(tmp_path, flat_config(**{"batch-routes": {"orders": batch_route(**{"thread-count": 0})}}), name="bad")
    code, out, _ = zig("validate", str(bad), "--format", "json")
    document = json.loads(out)
    assert code == 2
    assert document["valid"] is False
    assert [p["path"] for p in document["problems"]] == ["batch-routes.orders.thread-count"]


def test_validate_shows_how_each_route_calls_its_handler(tmp_path: Path):
    raw = {
        "app-name": "shop",
        "batch-routes": {
            "orders": batch_route(
                **{
                    "handler-fn": "zig_fixture_handlers/on-batch-async",
                    "concurrency": 8,
                    "ordering": "partition",
                    "handler-timeout-ms": 5000,
                    "on-handler-error": "split",
                }
            )
        },
        "stream-router": {"events": stream_route()},
    }
    path = write(tmp_path, raw)
    code, out, err = zig("validate", str(path))
    assert code == 0, err
    assert [line for line in out.splitlines() if " handler: " in line] == [
        "  async handler: up to 8 sub-batches at once per consumer thread, ordering 'partition', "
        "handler-timeout-ms 5000, on-handler-error split",
        "  sync handler: up to 1 message at once per consumer thread, ordering 'key'",
    ]

    code, out, err = zig("validate", str(path), "--format", "json")
    assert code == 0, err
    assert [(r["name"], r["handler"]) for r in json.loads(out)["routes"]] == [
        (
            "orders",
            {
                "kind": "async",
                "concurrency": 8,
                "ordering": "partition",
                "handler-timeout-ms": 5000,
                "on-handler-error": "split",
            },
        ),
        ("events", {"kind": "sync", "concurrency": 1, "ordering": "key"}),
    ]


def test_config_defaults_markdown_is_the_table():
    code, out, _ = zig("config", "defaults", "--format", "markdown")
    assert code == 0
    assert out == defaults.markdown_table()


def test_config_defaults_json_lists_every_setting():
    code, out, _ = zig("config", "defaults", "--format", "json")
    document = json.loads(out)
    batch = {s["key"]: s for s in document["batch-routes.<route>"]}
    assert batch["max-poll-records"]["default"] == 500
    assert batch["consumer-group-id"]["librdkafka"] == "group.id"


def test_convert_writes_a_file_and_refuses_to_overwrite(tmp_path: Path):
    target = tmp_path / "config.toml"
    (tmp_path / "sample_handlers.py").write_text((SAMPLES / "sample_handlers.py").read_text())
    code, _, err = zig("config", "convert", str(SAMPLES / "config.edn"), "--to", "toml", "-o", str(target))
    assert code == 0, err
    code, _, _ = zig("validate", str(target))
    assert code == 0
    code, _, err = zig("config", "convert", str(SAMPLES / "config.edn"), "--to", "toml", "-o", str(target))
    assert code == 2
    assert "exists; pass --force to overwrite it" in err


def test_python_dash_m_works_like_zig():
    completed = subprocess.run(
        [sys.executable, "-m", "zig_cli", "validate", str(SAMPLES / "config.toml")],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert completed.returncode == 0, completed.stderr
    assert "valid, 2 route(s)" in completed.stdout


def test_usage_error_exits_2():
    code, _, _ = zig("validate")
    assert code == 2


INVALID = BROKEN + SHARED_TOPICS + [c for c in SERVER_PORTS if c[3]]


@pytest.mark.parametrize(("raw", "environ", "expected"), [c[1:] for c in INVALID], ids=[c[0] for c in INVALID])
def test_every_broken_config_prints_its_lines_and_exits_2(
    raw: dict[str, Any], environ: dict[str, str], expected: list[str], tmp_path: Path
):
    path = write(tmp_path, raw)
    code, out, err = zig("validate", str(path), env=environ)
    assert code == 2
    count = len(expected)
    assert err.splitlines() == [line.replace("c.edn", str(path), 1) for line in expected] + [
        f"{path}: {count} problem{'s' if count != 1 else ''}"
    ]
    assert "Traceback" not in out + err


def test_missing_file_exits_2(tmp_path: Path):
    code, _, err = zig("validate", str(tmp_path / "nope.edn"))
    assert code == 2
    assert err.splitlines()[0] == f"{tmp_path / 'nope.edn'}: no such file"


def test_an_unloadable_protobuf_class_fails_validation(tmp_path: Path):
    route = batch_route(**{"value-deserializer-class-config": "protobuf:zig_fixture_nowhere.Order"})
    path = write(tmp_path, flat_config(**{"batch-routes": {"orders": route}}))
    code, _, err = zig("validate", str(path))
    assert code == 2
    assert err.splitlines()[0] == (
        f"{path}: batch-routes.orders.value-deserializer-class-config: cannot load protobuf message class "
        "'zig_fixture_nowhere.Order': No module named 'zig_fixture_nowhere'"
    )


def test_a_key_with_a_newline_stays_on_its_problem_line(tmp_path: Path):
    path = tmp_path / "config.toml"
    path.write_text('app-name = "shop"\n"a\\nb" = 1\n')
    code, _, err = zig("validate", str(path))
    assert code == 2
    assert err.splitlines() == [
        f"{path}: a\\nb: unknown key 'a\\nb' for Application",
        f"{path}: 1 problem",
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("{:a " + "[" * 10_000 + "]" * 10_000 + "}", ":1:104: maps and lists are nested more than 100 levels deep"),
        ("{:app-name " + "9" * 5000 + "}", ":1:12: an integer with more than 4300 digits, the most zig reads"),
        ('{:app-name "\\uZZZZ"}', ":1:12: a string with an invalid escape: truncated \\uXXXX escape"),
        ('{:app-name "a" :app-name "b"}', ":1:16: app-name: set twice in the same map (first at line 1, column 2)"),
    ],
    ids=["deep", "long integer", "bad escape", "duplicate key"],
)
def test_hostile_edn_is_one_line_for_validate_and_convert(tmp_path: Path, text: str, expected: str):
    path = tmp_path / "config.edn"
    path.write_text(text)
    for args in (["validate", str(path)], ["config", "convert", str(path), "--to", "toml"]):
        code, out, err = zig(*args)
        assert code == 2
        assert err.splitlines()[0] == f"{path}{expected}"
        assert "Traceback" not in out + err


def test_thread_count_past_its_maximum_and_a_class_handler_fail_validation(tmp_path: Path):
    route = batch_route(**{"thread-count": 10**29, "handler-fn": "zig_fixture_handlers/OnBatch"})
    path = write(tmp_path, flat_config(**{"batch-routes": {"orders": route}}))
    code, _, err = zig("validate", str(path))
    assert code == 2
    assert err.splitlines() == [
        f"{path}: batch-routes.orders.handler-fn: 'zig_fixture_handlers.OnBatch' is a class: calling it makes an "
        "instance, not an outcome; name a function",
        f"{path}: batch-routes.orders.thread-count: must be at most 1000, got 100000000000000000000000000000",
        f"{path}: 2 problems",
    ]


SECRET = "hunter2"

# Hostile places for a secret: each must reach the user's eyes as *** (or not at all), in text and in JSON.
SECRET_INPUTS: list[tuple[str, dict[str, Any], dict[str, str], list[str]]] = [
    (
        "a list as sasl.password",
        flat_config(
            **{"batch-routes": {"orders": batch_route(**{"kafka-properties": {"sasl.password": [SECRET, "x"]}})}}
        ),
        {},
        [
            "{path}: batch-routes.orders.kafka-properties: 'sasl.password': expected a string, number or boolean, got "
            "a list of 2 items"
        ],
    ),
    (
        "a map as a secret property",
        flat_config(
            **{"batch-routes": {"orders": batch_route(**{"kafka-properties": {"ssl.key.pem": {"k": SECRET}}})}}
        ),
        {},
        [
            "{path}: batch-routes.orders.kafka-properties: 'ssl.key.pem': expected a string, number or boolean, got a "
            "map of 1 key"
        ],
    ),
    (
        "kafka-properties as a string",
        flat_config(**{"batch-routes": {"orders": batch_route(**{"kafka-properties": f"sasl.password={SECRET}"})}}),
        {},
        ["{path}: batch-routes.orders.kafka-properties: expected a map of librdkafka properties, got a string"],
    ),
    (
        "a producer's secret property as a list",
        flat_config(
            **{"batch-routes": {"orders": batch_route(producer={"kafka-properties": {"sasl.username": [SECRET]}})}}
        ),
        {},
        [
            "{path}: batch-routes.orders.producer.kafka-properties: 'sasl.username': expected a string, number or "
            "boolean, got a list of 1 item"
        ],
    ),
    (
        "the jaas password as a list",
        flat_config(sasl={"jaas": {"username": "u", "password": [SECRET]}}),
        {},
        ["{path}: sasl.jaas.password: expected a string, got '***'"],
    ),
    (
        "the jaas section as a string",
        flat_config(sasl={"jaas": SECRET}),
        {},
        ["{path}: sasl.jaas: expected a map, got '***'"],
    ),
    ("the ssl section as a string", flat_config(ssl=SECRET), {}, ["{path}: ssl: expected a map, got '***'"]),
    (
        "the sasl section as a list of tables",
        flat_config(sasl=[{"jaas": {"password": SECRET}}]),
        {},
        ["{path}: sasl: expected a map, got '***'"],
    ),
    (
        "a secret setting as a number",
        flat_config(ssl={"ssl-key-password": 20120305}),
        {},
        ["{path}: ssl.ssl-key-password: expected a string, got '***'"],
    ),
    (
        "a misspelled jaas key holding the password",
        flat_config(sasl={"jaas": {"pasword": SECRET}}),
        {},
        ["{path}: sasl.jaas.pasword: unknown key 'pasword'; did you mean 'password'?"],
    ),
    (
        "a misspelled secret property",
        flat_config(**{"batch-routes": {"orders": batch_route(**{"kafka-properties": {"sasl.pasword": SECRET}})}}),
        {},
        [
            "{path}: batch-routes.orders.kafka-properties.sasl.pasword: librdkafka has no property 'sasl.pasword'; "
            "did you mean 'sasl.password'?"
        ],
    ),
    (
        "a secret property librdkafka echoes as invalid",
        flat_config(
            **{
                "batch-routes": {
                    "orders": batch_route(**{"kafka-properties": {"sasl.oauthbearer.method": SECRET}}),
                }
            }
        ),
        {},
        [
            "{path}: batch-routes.orders.kafka-properties: librdkafka refuses the consumer config: Invalid value "
            '"***" for configuration property "sasl.oauthbearer.method"'
        ],
    ),
    (
        "a password that is also another property's bad value",
        flat_config(
            sasl={"enabled": True, "jaas": {"username": "u", "password": SECRET}},
            **{"batch-routes": {"orders": batch_route(**{"kafka-properties": {"debug": SECRET}})}},
        ),
        {},
        [
            "warning: {path}: sasl.enabled: SASL PLAIN over SASL_PLAINTEXT sends the password in clear text: use "
            "SASL_SSL, or a SCRAM mechanism",
            "{path}: batch-routes.orders.kafka-properties: librdkafka refuses the consumer config: Invalid value "
            '"***" for configuration property "debug"',
        ],
    ),
    (
        "a keystore librdkafka cannot open",
        flat_config(ssl={"enabled": True, "ssl-keystore-location": SECRET, "ssl-keystore-password": "x"}),
        {},
        [],  # librdkafka names the file it cannot open, in OpenSSL's words
    ),
    (
        "a secret from the environment beside a broken setting",
        flat_config(
            sasl={"enabled": True, "jaas": {"username": "u"}},
            **{"batch-routes": {"orders": batch_route(**{"thread-count": 0})}},
        ),
        {"ZIGGURAT_SASL_JAAS_PASSWORD": SECRET},
        [
            "warning: {path}: sasl.enabled: SASL PLAIN over SASL_PLAINTEXT sends the password in clear text: use "
            "SASL_SSL, or a SCRAM mechanism",
            "{path}: batch-routes.orders.thread-count: must be at least 1, got 0",
        ],
    ),
    (
        "a secret from the environment in a valid config",
        flat_config(sasl={"enabled": True, "jaas": {"username": "u"}}),
        {"ZIGGURAT_SASL_JAAS_PASSWORD": SECRET},
        [],
    ),
]


@pytest.mark.parametrize(
    ("raw", "environ", "expected"), [c[1:] for c in SECRET_INPUTS], ids=[c[0] for c in SECRET_INPUTS]
)
def test_a_secret_never_shows_in_validate_output(
    raw: dict[str, Any], environ: dict[str, str], expected: list[str], tmp_path: Path
):
    path = write(tmp_path, raw)
    for fmt in ("text", "json"):
        code, out, err = zig("validate", str(path), "--format", fmt, env=environ)
        assert "Traceback" not in out + err
        assert SECRET not in out + err, (fmt, out + err)
        assert "20120305" not in out + err
    _, _, err = zig("validate", str(path), env=environ)
    problems = [line for line in err.splitlines() if not line.startswith("warning: ")]
    assert code == (2 if problems else 0)
    assert [line.format(path=path) for line in expected] == err.splitlines()[: len(expected)]
