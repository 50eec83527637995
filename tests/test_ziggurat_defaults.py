"""Ziggurat's defaults and keys mean the same in zig: retry off, its RabbitMQ delay as the retry backoff, Kafka
Streams serdes as deserializers, and keys zig has no use for read with a warning, never an error."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from helpers import FIXTURES, batch_route, flat_config, stream_route

from zig_cli import config, envelope, loader, preflight

ZIGGURAT = FIXTURES / "ziggurat"
STRING_SERDE = "org.apache.kafka.common.serialization.Serdes$StringSerde"
BYTES_SERDE = "org.apache.kafka.common.serialization.Serdes$ByteArraySerde"
RABBIT_MQ_TEXT = "zig keeps retries in the route's Kafka retry topic and dead letters in its dead-letter topic"


def checked(raw: dict[str, Any], environ: dict[str, str] | None = None) -> config.Report:
    return config.check({"ziggurat": raw}, "c.edn", environ or {})


def test_retry_is_off_unless_the_config_turns_it_on():
    assert config.validate(flat_config(), "c.edn", {}).route("orders").retry.enabled is False
    assert config.validate(flat_config(retry={"enabled": True}), "c.edn", {}).route("orders").retry.enabled is True


# (case, the file's :retry and :rabbit-mq, env, the backoff-ms and its origin)
BACKOFFS: list[tuple[str, dict[str, Any], dict[str, str], tuple[int, str]]] = [
    ("no :rabbit-mq: zig's default", {}, {}, (1000, "default")),
    ("queue-timeout-ms", {"rabbit-mq": {"delay": {"queue-timeout-ms": 2500}}}, {}, (2500, "derived")),
    ("a :rabbit-mq without it: Ziggurat's 5000", {"rabbit-mq": {"delay": {"queue-name": "q"}}}, {}, (5000, "derived")),
    ("an empty :rabbit-mq", {"rabbit-mq": {}}, {}, (5000, "derived")),
    (
        "backoff-ms wins",
        {"retry": {"backoff-ms": 700}, "rabbit-mq": {"delay": {"queue-timeout-ms": 2500}}},
        {},
        (700, "file"),
    ),
    (
        "ZIGGURAT_RABBIT_MQ_DELAY_QUEUE_TIMEOUT_MS",
        {"rabbit-mq": {"delay": {"queue-timeout-ms": 2500}}},
        {"ZIGGURAT_RABBIT_MQ_DELAY_QUEUE_TIMEOUT_MS": "900"},
        (900, "env"),
    ),
    (
        "ZIGGURAT_RETRY_BACKOFF_MS wins",
        {"rabbit-mq": {"delay": {"queue-timeout-ms": 2500}}},
        {"ZIGGURAT_RETRY_BACKOFF_MS": "300"},
        (300, "env"),
    ),
]


@pytest.mark.parametrize(("case", "sections", "environ", "expected"), BACKOFFS, ids=[b[0] for b in BACKOFFS])
def test_the_rabbit_mq_delay_is_the_retry_backoff_unless_backoff_ms_is_set(
    case: str, sections: dict[str, Any], environ: dict[str, str], expected: tuple[int, str]
):
    report = checked(flat_config(**sections), environ)
    assert report.problems == ()
    backoff = report.config.route("orders").values["retry.backoff-ms"]  # type: ignore[union-attr]
    assert (backoff.value, backoff.origin) == expected


def test_a_route_s_own_backoff_wins_over_the_rabbit_mq_delay_and_exponential_grows_from_it():
    routes = {"orders": batch_route(retry={"backoff-ms": 300}), "audit": batch_route(**{"origin-topic": "audit"})}
    raw = flat_config(
        **{"batch-routes": routes, "retry": {"enabled": True, "type": "exponential", "count": 5}},
        **{"rabbit-mq": {"delay": {"queue-timeout-ms": 2500}}},
    )
    cfg = config.validate({"ziggurat": raw}, "c.edn", {})
    assert cfg.route("orders").retry.backoff_ms == 300
    audit = cfg.route("audit").retry
    # Ziggurat's get-exponential-backoff-timeout-ms: (2^n - 1) * queue-timeout-ms before the n-th retry.
    assert [envelope.backoff_ms(audit, n) for n in (1, 2, 3)] == [2500, 7500, 17500]


def test_other_rabbit_mq_keys_warn_once_per_map_and_a_bad_delay_is_an_error():
    rabbit = {
        "delay": {"queue-name": "d", "exchange-name": "e", "queue-timeout-ms": 100},
        "instant": {"queue-name": "i"},
        "dead-letter": {"queue-name": "dl"},
    }
    report = checked(flat_config(**{"rabbit-mq": rabbit}))
    assert report.problems == ()
    assert [str(w) for w in report.warnings] == [
        f"c.edn: ziggurat.rabbit-mq: ignored 'instant', 'dead-letter': {RABBIT_MQ_TEXT}",
        f"c.edn: ziggurat.rabbit-mq.delay: ignored 'queue-name', 'exchange-name': {RABBIT_MQ_TEXT}",
    ]
    bad = checked(flat_config(**{"rabbit-mq": {"delay": {"queue-timeout-ms": "5s"}}}))
    assert [str(p) for p in bad.problems] == [
        "c.edn: ziggurat.rabbit-mq.delay.queue-timeout-ms: expected an integer, got '5s' (string)"
    ]


def test_a_queue_timeout_beside_backoff_ms_warns_that_it_is_not_used():
    report = checked(flat_config(retry={"backoff-ms": 700}, **{"rabbit-mq": {"delay": {"queue-timeout-ms": 2500}}}))
    assert [str(w) for w in report.warnings] == [
        "c.edn: ziggurat.rabbit-mq.delay.queue-timeout-ms: not used: retry.backoff-ms (700) is the retry backoff"
    ]


@pytest.mark.parametrize(("serde", "codec"), [(STRING_SERDE, "string"), (BYTES_SERDE, "bytes")])
def test_a_stream_route_s_default_serdes_are_its_deserializers(serde: str, codec: str):
    route = stream_route(**{"default-key-serde": serde, "default-value-serde": serde})
    report = checked({"app-name": "shop", "stream-router": {"events": route}})
    assert report.problems == () and report.warnings == ()
    events = report.config.route("events")  # type: ignore[union-attr]
    assert (events["key-deserializer-class-config"], events["value-deserializer-class-config"]) == (codec, codec)


def test_a_serde_zig_cannot_decode_is_refused_with_what_it_maps():
    long_serde = "org.apache.kafka.common.serialization.Serdes$LongSerde"
    route = stream_route(**{"default-value-serde": long_serde, "default-key-serde": STRING_SERDE})
    route["key-deserializer-class-config"] = "string"
    report = checked({"app-name": "shop", "stream-router": {"events": route}})
    assert [str(p) for p in report.problems] == [
        "c.edn: ziggurat.stream-router.events.default-value-serde: 'org.apache.kafka.common.serialization.Serdes$L"
        "ongSerde' is a Java class zig has no codec for (zig maps ByteArrayDeserializer is 'bytes'; "
        "StringDeserializer is 'string'; Serdes$ByteArraySerde is 'bytes'; Serdes$StringSerde is 'string'); "
        "use 'bytes' and convert in the handler, or 'bytes', 'string', 'json' or 'protobuf:<message class>'",
        "c.edn: ziggurat.stream-router.events.key-deserializer-class-config: set twice, also as 'default-key-serde'",
    ]


def test_keys_ziggurat_accepts_and_zig_does_not_need_are_warnings():
    raw = flat_config(
        **{
            "http-server": {"graceful-shutdown-timeout-ms": 30000, "enabled": "true"},
            "shutdown": {"drain-timeout-ms": 5000},
            "default-api-timeout-ms-config": 600000,
            "prometheus": {"enabled": "False"},
        }
    )
    report = checked(raw)
    assert report.problems == ()
    assert [str(w) for w in report.warnings] == [
        "c.edn: ziggurat.default-api-timeout-ms-config: ignored: Ziggurat's code reads it only inside a route, "
        "as zig does (a route's default-api-timeout-ms)",
        "c.edn: ziggurat.http-server.enabled: 'true' is a string; read as true (write true or [true :bool])",
        "c.edn: ziggurat.http-server.graceful-shutdown-timeout-ms: ignored: zig's HTTP server answers until the "
        "workers have stopped (zig run --graceful-timeout), then stops at once",
        "c.edn: ziggurat.prometheus.enabled: 'False' is a string; read as false (write false or [false :bool]; "
        'Ziggurat read it as true: any string was true there, "false" included)',
        "c.edn: ziggurat.shutdown: ignored: zig run waits for the messages in hand up to --graceful-timeout (30 s), "
        "not :drain-timeout-ms",
    ]
    cfg = report.config
    assert cfg is not None
    assert (cfg.setting("http-server.enabled"), cfg.setting("prometheus.enabled")) == (True, False)
    assert cfg.route("orders").api_timeout_ms == 60_000


def test_a_string_that_is_not_a_boolean_stays_an_error():
    report = checked(flat_config(prometheus={"enabled": "yes"}))
    assert [str(p) for p in report.problems] == [
        "c.edn: ziggurat.prometheus.enabled: expected a boolean (true or false), got 'yes' (string)"
    ]


def warned(checked_file: preflight.Checked) -> list[str]:
    return [w.path for w in checked_file.warnings]


def test_ziggurat_s_config_test_edn_validates_with_ziggurat_s_meaning():
    found = preflight.check_file(ZIGGURAT / "config.test.edn", {})
    assert found.problems == ()
    cfg = found.config
    assert cfg is not None
    assert {r.name: (r.retry.enabled, r.retry.backoff_ms, r.retry.count) for r in cfg.routes} == dict.fromkeys(
        ("default", "using-string-serde", "consumer-1", "consumer-2"), (True, 100, 5)
    )
    serde = cfg.route("using-string-serde")
    assert (serde["key-deserializer-class-config"], serde["value-deserializer-class-config"]) == ("string", "string")
    assert cfg.route("consumer-1")["value-deserializer-class-config"] == "bytes"
    assert (cfg.setting("http-server.port"), cfg.setting("prometheus.enabled")) == (8010, False)
    assert {"ziggurat.rabbit-mq", "ziggurat.rabbit-mq.delay", "ziggurat.jobs"} <= set(warned(found))


def test_the_configuration_md_example_validates_with_ziggurat_s_meaning(tmp_path: Path):
    raw = loader.load(ZIGGURAT / "configuration-md.edn")
    # Its :ssl names a keystore that is not there, which librdkafka refuses: security is checked elsewhere.
    del raw["ziggurat"]["ssl"]
    path = tmp_path / "configuration-md.edn"
    path.write_text(loader.dumps(raw, "edn"), encoding="utf-8")
    found = preflight.check_file(path, {})
    assert found.problems == ()
    cfg = found.config
    assert cfg is not None
    assert [(r.name, r.retry.enabled, r.retry.backoff_ms, r.retry.count) for r in cfg.routes] == [
        ("restaurants-updates-to-non-personalized-es", False, 5000, 5),
        ("stream-id", False, 5000, 5),
    ]
    assert {
        "ziggurat.default-api-timeout-ms-config",
        "ziggurat.http-server.graceful-shutdown-timeout-ms",
        "ziggurat.rabbit-mq.delay",
    } <= set(warned(found))


@pytest.mark.parametrize(
    ("section", "written", "warning"),
    [
        ("sasl", "false", "'false' is a string; read as false (write false or [false :bool])"),
        ("ssl", "true", "'true' is a string; read as true (write true or [true :bool])"),
        (
            "ssl",
            "TRUE",
            "'TRUE' is a string; read as true (write true or [true :bool]; Ziggurat read it as false: only \"true\" "
            "was true there)",
        ),
        (
            "retry",
            "false",
            "'false' is a string; read as false (write false or [false :bool]; Ziggurat read it as true: any string "
            'was true there, "false" included)',
        ),
    ],
    ids=["ssl and sasl: false as Ziggurat", "true as Ziggurat", "ssl: TRUE, false to Ziggurat", "elsewhere: false"],
)
def test_a_string_boolean_warns_of_how_ziggurat_read_it_only_where_that_differs(
    section: str, written: str, warning: str
):
    report = checked(flat_config(**{section: {"enabled": written}}))
    assert f"c.edn: ziggurat.{section}.enabled: {warning}" in [str(w) for w in report.warnings]
