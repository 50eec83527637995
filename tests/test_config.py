"""config.check / validate: every problem reported, with its key path and exact message."""

from __future__ import annotations

from typing import Any

import pytest
from helpers import batch_route, flat_config, stream_route

from zig_cli import config, defaults
from zig_cli.errors import ConfigError


def messages(raw: dict[str, Any], environ: dict[str, str] | None = None) -> list[str]:
    report = config.check(raw, "c.edn", environ or {})
    return [str(p) for p in report.problems]


def warnings(raw: dict[str, Any], environ: dict[str, str] | None = None) -> list[str]:
    return [str(p) for p in config.check(raw, "c.edn", environ or {}).warnings]


BROKEN: list[tuple[str, dict[str, Any], dict[str, str], list[str]]] = [
    (
        "missing mandatory key",
        flat_config(**{"batch-routes": {"orders": {k: v for k, v in batch_route().items() if k != "origin-topic"}}}),
        {},
        [
            "c.edn: batch-routes.orders.origin-topic: missing mandatory setting "
            "(Topic to read (a regex when it is not a plain topic name))"
        ],
    ),
    (
        "wrong type",
        flat_config(**{"batch-routes": {"orders": batch_route(**{"max-poll-records": "many"})}}),
        {},
        ["c.edn: batch-routes.orders.max-poll-records: expected an integer, got 'many' (string)"],
    ),
    (
        "boolean is not an integer",
        flat_config(**{"batch-routes": {"orders": batch_route(**{"thread-count": True})}}),
        {},
        ["c.edn: batch-routes.orders.thread-count: expected an integer, got True (boolean)"],
    ),
    (
        "thread-count 0",
        flat_config(**{"batch-routes": {"orders": batch_route(**{"thread-count": 0})}}),
        {},
        ["c.edn: batch-routes.orders.thread-count: must be at least 1, got 0"],
    ),
    (
        "thread-count negative",
        flat_config(**{"batch-routes": {"orders": batch_route(**{"thread-count": -3})}}),
        {},
        ["c.edn: batch-routes.orders.thread-count: must be at least 1, got -3"],
    ),
    (
        "auto-offset-reset sideways",
        flat_config(**{"batch-routes": {"orders": batch_route(**{"auto-offset-reset-config": "sideways"})}}),
        {},
        ["c.edn: batch-routes.orders.auto-offset-reset-config: must be one of 'earliest', 'latest', got 'sideways'"],
    ),
    (
        "unknown key with suggestion",
        flat_config(**{"batch-routes": {"orders": batch_route(**{"max-pol-records": 10})}}),
        {},
        ["c.edn: batch-routes.orders.max-pol-records: unknown key 'max-pol-records'; did you mean 'max-poll-records'?"],
    ),
    (
        "unknown top-level key",
        flat_config(**{"retyr": {"count": 3}}),
        {},
        ["c.edn: retyr: unknown key 'retyr'; did you mean 'retry'?"],
    ),
    (
        "unknown deserializer",
        flat_config(**{"batch-routes": {"orders": batch_route(**{"value-deserializer-class-config": "avro"})}}),
        {},
        [
            "c.edn: batch-routes.orders.value-deserializer-class-config: unknown 'avro'; use 'bytes', 'string', "
            "'json' or 'protobuf:<message class>' (or the Java class names Ziggurat used)"
        ],
    ),
    (
        "env override that does not coerce",
        flat_config(),
        {"ZIGGURAT_BATCH_ROUTES_ORDERS_THREAD_COUNT": "four"},
        [
            "c.edn: batch-routes.orders.thread-count: "
            "ZIGGURAT_BATCH_ROUTES_ORDERS_THREAD_COUNT='four': expected an integer"
        ],
    ),
    (
        "env override out of range",
        flat_config(),
        {"ZIGGURAT_BATCH_ROUTES_ORDERS_THREAD_COUNT": "0"},
        [
            "c.edn: batch-routes.orders.thread-count: "
            "ZIGGURAT_BATCH_ROUTES_ORDERS_THREAD_COUNT: must be at least 1, got 0"
        ],
    ),
    (
        "route is not a map",
        flat_config(**{"batch-routes": {"orders": "yes"}}),
        {},
        ["c.edn: batch-routes.orders: expected a map of route settings, got 'yes' (string)"],
    ),
    (
        "no routes",
        {"app-name": "shop"},
        {},
        ["c.edn: batch-routes: no routes: add :batch-routes or :stream-router"],
    ),
    (
        "retry topic equal to origin",
        flat_config(**{"batch-routes": {"orders": batch_route(**{"retry-topic": "orders"})}}),
        {},
        ["c.edn: batch-routes.orders.retry-topic: 'orders' is also the route's origin-topic; each needs its own topic"],
    ),
    (
        "java property with a zig key",
        flat_config(**{"batch-routes": {"orders": batch_route(**{"kafka-properties": {"group.id": "x"}})}}),
        {},
        ["c.edn: batch-routes.orders.kafka-properties.group.id: set this with zig's key 'consumer-group-id' instead"],
    ),
    (
        "java property that does not coerce",
        flat_config(**{"batch-routes": {"orders": batch_route(**{"kafka-properties": {"max.poll.records": "many"}})}}),
        {},
        ["c.edn: batch-routes.orders.kafka-properties.max.poll.records: max.poll.records='many': expected an integer"],
    ),
    (
        "a list where a number belongs is shown by its size",
        flat_config(**{"batch-routes": {"orders": batch_route(**{"thread-count": [1, 2]})}}),
        {},
        ["c.edn: batch-routes.orders.thread-count: expected an integer, got a list of 2 items"],
    ),
    (
        "env override that is not UTF-8",
        flat_config(),
        {"ZIGGURAT_BATCH_ROUTES_ORDERS_CONSUMER_GROUP_ID": "orders-\udcff"},
        [
            "c.edn: batch-routes.orders.consumer-group-id: ZIGGURAT_BATCH_ROUTES_ORDERS_CONSUMER_GROUP_ID: "
            "not valid UTF-8 (byte 0xff)"
        ],
    ),
    (
        "key set twice through an alias",
        flat_config(
            **{
                "batch-routes": {
                    "orders": batch_route(**{"default-api-timeout-ms": 1, "default-api-timeout-ms-config": 2})
                }
            }
        ),
        {},
        [
            "c.edn: batch-routes.orders.default-api-timeout-ms-config: set twice, also as 'default-api-timeout-ms'",
        ],
    ),
    (
        "stream route missing application-id, bad retry type, everything at once",
        {
            "app-name": "shop",
            "retry": {"type": "quadratic"},
            "stream-routes": {"events": {k: v for k, v in stream_route().items() if k != "application-id"}},
        },
        {},
        [
            "c.edn: retry.type: must be one of 'linear', 'exponential', got 'quadratic'",
            "c.edn: stream-router.events.application-id: missing mandatory setting "
            "(Consumer group of the route's consumers)",
        ],
    ),
]


HANDLING: list[tuple[str, dict[str, Any], dict[str, str], list[str]]] = [
    (
        "concurrency 0",
        flat_config(**{"batch-routes": {"orders": batch_route(concurrency=0)}}),
        {},
        ["c.edn: batch-routes.orders.concurrency: must be at least 1, got 0"],
    ),
    (
        "concurrency past its maximum",
        {"app-name": "shop", "stream-router": {"events": stream_route(concurrency=10_001)}},
        {},
        ["c.edn: stream-router.events.concurrency: must be at most 10000, got 10001"],
    ),
    (
        "concurrency that is not an integer",
        flat_config(**{"batch-routes": {"orders": batch_route(concurrency="64")}}),
        {},
        ["c.edn: batch-routes.orders.concurrency: expected an integer, got '64' (string)"],
    ),
    (
        "unknown ordering on a batch route",
        flat_config(**{"batch-routes": {"orders": batch_route(ordering="offset")}}),
        {},
        ["c.edn: batch-routes.orders.ordering: must be one of 'key', 'partition', 'none', got 'offset'"],
    ),
    (
        "unknown ordering on a stream route",
        {"app-name": "shop", "stream-router": {"events": stream_route(ordering="Key")}},
        {},
        ["c.edn: stream-router.events.ordering: must be one of 'key', 'partition', 'none', got 'Key'"],
    ),
    (
        "negative handler timeout",
        flat_config(**{"batch-routes": {"orders": batch_route(**{"handler-timeout-ms": -1})}}),
        {},
        ["c.edn: batch-routes.orders.handler-timeout-ms: must be at least 0, got -1"],
    ),
    (
        "handler timeout past a day",
        {"app-name": "shop", "stream-router": {"events": stream_route(**{"handler-timeout-ms": 86_400_001})}},
        {},
        ["c.edn: stream-router.events.handler-timeout-ms: must be at most 86400000, got 86400001"],
    ),
    (
        "env ordering that is not a choice",
        flat_config(),
        {"ZIGGURAT_BATCH_ROUTES_ORDERS_ORDERING": "random"},
        [
            "c.edn: batch-routes.orders.ordering: ZIGGURAT_BATCH_ROUTES_ORDERS_ORDERING: "
            "must be one of 'key', 'partition', 'none', got 'random'"
        ],
    ),
    (
        "env concurrency out of range",
        {"app-name": "shop", "stream-routes": {"events": stream_route()}},
        {"ZIGGURAT_STREAM_ROUTER_EVENTS_CONCURRENCY": "0"},
        [
            "c.edn: stream-router.events.concurrency: ZIGGURAT_STREAM_ROUTER_EVENTS_CONCURRENCY: "
            "must be at least 1, got 0"
        ],
    ),
]


@pytest.mark.parametrize(("raw", "environ", "expected"), [c[1:] for c in HANDLING], ids=[c[0] for c in HANDLING])
def test_handling_settings_out_of_range_report_exact_messages(
    raw: dict[str, Any], environ: dict[str, str], expected: list[str]
):
    assert messages(raw, environ) == expected


@pytest.mark.parametrize("kind", ["batch", "stream"])
def test_handling_settings_default_to_one_call_at_a_time_in_key_order_without_timeout(kind: str):
    raw = {"app-name": "shop", "batch-routes": {"orders": batch_route()}, "stream-router": {"events": stream_route()}}
    route = next(r for r in config.validate(raw, "c.edn", {}).routes if r.kind == kind)
    assert (route["concurrency"], route["ordering"], route["handler-timeout-ms"]) == (1, "key", 0)
    assert {route.values[k].origin for k in ("concurrency", "ordering", "handler-timeout-ms")} == {"default"}


def test_handling_settings_come_from_the_file_and_env_overrides_them():
    raw = {
        "app-name": "shop",
        "batch-routes": {"orders": batch_route(concurrency=8, ordering="partition")},
        "stream-routes": {"events": stream_route(concurrency=64, **{"handler-timeout-ms": 5000})},
    }
    environ = {
        "ZIGGURAT_BATCH_ROUTES_ORDERS_CONCURRENCY": "16",
        "ZIGGURAT_STREAM_ROUTER_EVENTS_ORDERING": "none",
        "ZIGGURAT_STREAM_ROUTER_EVENTS_HANDLER_TIMEOUT_MS": "250",
    }
    cfg = config.validate(raw, "c.edn", environ)
    orders, events = cfg.route("orders"), cfg.route("events")
    assert [(orders[k], orders.values[k].origin) for k in ("concurrency", "ordering", "handler-timeout-ms")] == [
        (16, "env"),
        ("partition", "file"),
        (0, "default"),
    ]
    assert [(events[k], events.values[k].origin) for k in ("concurrency", "ordering", "handler-timeout-ms")] == [
        (64, "file"),
        ("none", "env"),
        (250, "env"),
    ]


@pytest.mark.parametrize(("raw", "environ", "expected"), [c[1:] for c in BROKEN], ids=[c[0] for c in BROKEN])
def test_broken_configs_report_exact_messages(raw: dict[str, Any], environ: dict[str, str], expected: list[str]):
    assert messages(raw, environ) == expected


def test_validate_raises_with_every_problem_sorted():
    raw = flat_config(
        **{"batch-routes": {"orders": batch_route(**{"thread-count": 0, "max-poll-records": 0, "colour": "red"})}}
    )
    with pytest.raises(ConfigError) as caught:
        config.validate(raw, "c.edn", {})
    assert [p.path for p in caught.value.problems] == [
        "batch-routes.orders.colour",
        "batch-routes.orders.max-poll-records",
        "batch-routes.orders.thread-count",
    ]


def test_defaults_come_from_the_table_and_origins_are_marked():
    route = config.validate(flat_config(), "c.edn", {}).route("orders")
    assert route["max-poll-records"] == 500
    assert route.values["max-poll-records"].origin == "default"
    assert route["thread-count"] == 2
    assert route["session-timeout-ms-config"] == 60000
    assert route["poll-timeout-ms-config"] == 1000
    assert route["default-api-timeout-ms"] == 60000
    assert route["max-poll-interval-ms"] == 300000
    assert route["key-deserializer-class-config"] == "bytes"
    assert route.values["origin-topic"].origin == "file"
    assert route["retry-topic"] == "shop-orders-retry"
    assert route["dead-letter-topic"] == "shop-orders-dead-letter"
    assert route.values["retry-topic"].origin == "derived"


def test_ziggurat_root_form_and_flat_form_give_the_same_routes():
    flat = config.validate(flat_config(), "c.edn", {})
    nested = config.validate({"ziggurat": flat_config()}, "c.edn", {})
    assert [r.values for r in flat.routes] == [r.values for r in nested.routes]
    assert nested.routes[0].path == "ziggurat.batch-routes.orders"


def test_env_overrides_any_key_even_when_the_file_omits_it():
    environ = {
        "ZIGGURAT_BATCH_ROUTES_ORDERS_THREAD_COUNT": "4",
        "ZIGGURAT_BATCH_ROUTES_ORDERS_MANUAL_COMMIT_ENABLED": "false",
        "ZIGGURAT_RETRY_ENABLED": "false",
        "ZIGGURAT_APP_NAME": "other",
    }
    cfg = config.validate({"ziggurat": flat_config()}, "c.edn", environ)
    route = cfg.route("orders")
    assert route["thread-count"] == 4
    assert route.values["thread-count"].origin == "env"
    assert route["manual-commit-enabled"] is False
    assert route.retry.enabled is False
    assert cfg.app_name == "other"


def test_env_override_beats_the_file_and_stream_routes_use_the_canonical_name():
    raw = {"app-name": "shop", "stream-routes": {"events": stream_route(**{"stream-threads-count": 2})}}
    cfg = config.validate(raw, "c.edn", {"ZIGGURAT_STREAM_ROUTER_EVENTS_STREAM_THREADS_COUNT": "3"})
    assert cfg.route("events")["stream-threads-count"] == 3


def test_route_properties_read_what_both_kinds_spell_differently():
    raw = {
        "app-name": "shop",
        "batch-routes": {"orders": batch_route(**{"thread-count": 3, "default-api-timeout-ms-config": 7000})},
        "stream-router": {"events": stream_route(**{"stream-threads-count": 4, "default-api-timeout-ms": 8000})},
    }
    cfg = config.validate(raw, "c.edn", {"ZIGGURAT_STREAM_ROUTER_EVENTS_APPLICATION_ID": "from-env"})
    orders, events = cfg.route("orders"), cfg.route("events")
    assert (orders.group_id, orders.threads, orders.api_timeout_ms) == ("orders-group", 3, 7000)
    assert (events.group_id, events.threads, events.api_timeout_ms) == ("from-env", 4, 8000)
    assert (orders.table, events.table) == (defaults.BATCH_ROUTE, defaults.STREAM_ROUTE)


@pytest.mark.parametrize("kind", ["batch", "stream"])
def test_every_route_spelling_is_a_setting_of_its_kind(kind: defaults.RouteKind):
    section = defaults.route_section(kind)
    for spellings in defaults.ROUTE_SPELLINGS.values():
        setting = section.setting(spellings[kind])
        assert setting is not None and setting.key == spellings[kind], (kind, spellings)
    assert config.ROUTE_SECTIONS == {"batch": "batch-routes", "stream": "stream-router"}


def test_unknown_env_variable_is_a_warning_with_a_suggestion():
    found = warnings(flat_config(), {"ZIGGURAT_BATCH_ROUTES_ORDERS_THREAD_CONT": "4", "OTHER": "x"})
    assert found == [
        "c.edn: environment variable ZIGGURAT_BATCH_ROUTES_ORDERS_THREAD_CONT matches no setting; "
        "did you mean ZIGGURAT_BATCH_ROUTES_ORDERS_THREAD_COUNT?"
    ]


def test_route_retry_overrides_the_global_retry():
    raw = flat_config(
        retry={"count": 7, "type": "exponential"},
        **{"batch-routes": {"orders": batch_route(retry={"count": 2}), "audit": batch_route(**{"origin-topic": "a"})}},
    )
    cfg = config.validate(raw, "c.edn", {})
    assert cfg.route("orders").retry.count == 2
    assert cfg.route("orders").retry.type == "exponential"
    assert cfg.route("audit").retry.count == 7


def test_unsupported_ziggurat_sections_warn_once_each_and_are_not_errors():
    raw = {"ziggurat": flat_config(**{"jobs": {"instant": {}}, "statsd": {"port": 8125}, "nrepl-server": {}})}
    report = config.check(raw, "c.edn", {})
    assert report.problems == ()
    assert [str(w) for w in report.warnings] == [
        "c.edn: ziggurat.jobs: ignored: zig has no RabbitMQ jobs; a retry consumer per route reads the route's "
        "retry topic",
        "c.edn: ziggurat.nrepl-server: ignored: zig is a Python process and starts no nREPL server",
        "c.edn: ziggurat.statsd: ignored: zig sends no StatsD metrics",
    ]


def test_java_only_property_is_translated_not_passed_through():
    raw = flat_config(**{"batch-routes": {"orders": batch_route(**{"kafka-properties": {"max.poll.records": 50}})}})
    report = config.check(raw, "c.edn", {})
    route = report.config.route("orders")  # type: ignore[union-attr]
    assert route["max-poll-records"] == 50
    assert "max.poll.records" not in route["kafka-properties"]
    assert [str(w) for w in report.warnings] == [
        "c.edn: batch-routes.orders.kafka-properties.max.poll.records: "
        "a Java client property; translated to zig's 'max-poll-records'"
    ]


def test_java_serializer_class_names_are_mapped():
    producer = {"value-serializer-class": "org.apache.kafka.common.serialization.ByteArraySerializer", "retries": 3}
    cfg = config.validate(flat_config(**{"batch-routes": {"orders": batch_route(producer=producer)}}), "c.edn", {})
    route = cfg.route("orders")
    assert route["producer.value-serializer-class"] == "bytes"
    assert route["producer.key-serializer-class"] == "string"
    assert route["producer.retries-config"] == 3
    assert route["producer.bootstrap-servers"] == "localhost:9092"


def test_a_key_path_leads_to_its_setting_and_says_whether_it_is_secret():
    password, acks = defaults.ROOT.find("sasl.jaas.password"), defaults.PRODUCER.find("acks")
    assert (password and password.secret, acks and acks.secret) == (True, False)
    assert defaults.ROOT.find("ssl.jaas.nope") is None and defaults.ROOT.find("nope.password") is None
    cfg = config.validate(flat_config(**{"batch-routes": {"orders": batch_route(producer={})}}), "c.edn", {})
    assert [key for key in cfg.route("orders").values if cfg.route("orders").is_secret(key)] == []


def test_secret_env_values_are_never_echoed():
    raw = flat_config(sasl={"enabled": True, "jaas": {"username": "u", "password": "p"}})
    found = messages(raw, {"ZIGGURAT_SASL_ENABLED": "hunter2-secret"})
    assert found == ["c.edn: sasl.enabled: ZIGGURAT_SASL_ENABLED='hunter2-secret': expected true or false"]
    found = messages(flat_config(sasl={"jaas": {"password": 12345}}))
    assert found == ["c.edn: sasl.jaas.password: expected a string, got '***'"]


def _routes(batch: dict[str, Any] | None = None, stream: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"app-name": "shop", "batch-routes": batch or {}, "stream-router": stream or {}}


LONG_TOPIC = "t" * 250

SHARED_TOPICS: list[tuple[str, dict[str, Any], dict[str, str], list[str]]] = [
    (
        "batch and stream route with the same name",
        _routes({"orders": batch_route()}, {"orders": stream_route()}),
        {},
        [
            "c.edn: stream-router.orders: route name 'orders' is also batch-routes.orders; route names must be unique",
            "c.edn: stream-router.orders.dead-letter-topic: 'shop-orders-dead-letter' is also "
            "batch-routes.orders.dead-letter-topic; each route needs its own retry and dead-letter topics",
            "c.edn: stream-router.orders.retry-topic: 'shop-orders-retry' is also batch-routes.orders.retry-topic; "
            "each route needs its own retry and dead-letter topics",
        ],
    ),
    (
        "a retry topic that is another route's derived retry topic",
        _routes({"orders": batch_route(), "audit": batch_route(**{"retry-topic": "shop-orders-retry"})}),
        {},
        [
            "c.edn: batch-routes.audit.retry-topic: 'shop-orders-retry' is also batch-routes.orders.retry-topic; "
            "each route needs its own retry and dead-letter topics",
        ],
    ),
    (
        "a dead-letter topic that is another route's retry topic",
        _routes({"orders": batch_route()}, {"events": stream_route(**{"dead-letter-topic": "shop-orders-retry"})}),
        {},
        [
            "c.edn: stream-router.events.dead-letter-topic: 'shop-orders-retry' is also "
            "batch-routes.orders.retry-topic; each route needs its own retry and dead-letter topics",
        ],
    ),
    (
        "a retry topic that is another route's origin topic",
        _routes({"orders": batch_route(), "audit": batch_route(**{"origin-topic": "audit", "retry-topic": "orders"})}),
        {},
        [
            "c.edn: batch-routes.audit.retry-topic: 'orders' is also batch-routes.orders.origin-topic; "
            "each route needs its own retry and dead-letter topics",
        ],
    ),
    (
        "an origin topic that is another route's dead-letter topic",
        _routes({"orders": batch_route(), "audit": batch_route(**{"origin-topic": "shop-orders-dead-letter"})}),
        {},
        [
            "c.edn: batch-routes.audit.origin-topic: 'shop-orders-dead-letter' is also "
            "batch-routes.orders.dead-letter-topic; each route needs its own retry and dead-letter topics",
        ],
    ),
    (
        "an origin regex that matches another route's retry topic",
        _routes({"orders": batch_route(), "all": batch_route(**{"origin-topic": "shop-.*"})}),
        {},
        [
            "c.edn: batch-routes.all.origin-topic: the regex 'shop-.*' also matches "
            "batch-routes.all.dead-letter-topic ('shop-all-dead-letter'); its consumers would read those messages",
            "c.edn: batch-routes.all.origin-topic: the regex 'shop-.*' also matches "
            "batch-routes.all.retry-topic ('shop-all-retry'); its consumers would read those messages",
            "c.edn: batch-routes.all.origin-topic: the regex 'shop-.*' also matches "
            "batch-routes.orders.dead-letter-topic ('shop-orders-dead-letter'); "
            "its consumers would read those messages",
            "c.edn: batch-routes.all.origin-topic: the regex 'shop-.*' also matches "
            "batch-routes.orders.retry-topic ('shop-orders-retry'); its consumers would read those messages",
        ],
    ),
    (
        "an origin regex that does not compile",
        _routes({"orders": batch_route(**{"origin-topic": "orders-(v1|v2"})}),
        {},
        [
            "c.edn: batch-routes.orders.origin-topic: 'orders-(v1|v2' is not a plain topic name, so it is read as "
            "a regex, and it does not compile: missing ), unterminated subpattern at position 7",
        ],
    ),
    (
        "retry and dead-letter topics with characters Kafka refuses",
        _routes({"orders": batch_route(**{"retry-topic": "orders retry", "dead-letter-topic": "orders/dead"})}),
        {},
        [
            "c.edn: batch-routes.orders.dead-letter-topic: 'orders/dead' is not a valid Kafka topic name: "
            "use only letters, digits, '.', '_' and '-'",
            "c.edn: batch-routes.orders.retry-topic: 'orders retry' is not a valid Kafka topic name: "
            "use only letters, digits, '.', '_' and '-'",
        ],
    ),
    (
        "topic names Kafka reserves or finds too long",
        _routes(
            {
                "orders": batch_route(**{"retry-topic": ".", "dead-letter-topic": ".."}),
                "audit": batch_route(**{"origin-topic": LONG_TOPIC, "retry-topic": ""}),
            }
        ),
        {},
        [
            f"c.edn: batch-routes.audit.origin-topic: {'t' * 54!r}... "
            "(250 characters) is not a valid Kafka topic name: it has more than 249 characters",
            "c.edn: batch-routes.audit.retry-topic: '' is not a valid Kafka topic name: "
            "use only letters, digits, '.', '_' and '-'",
            "c.edn: batch-routes.orders.dead-letter-topic: '..' is not a valid Kafka topic name: "
            "'.' and '..' are reserved",
            "c.edn: batch-routes.orders.retry-topic: '.' is not a valid Kafka topic name: '.' and '..' are reserved",
        ],
    ),
    (
        "a derived topic name that Kafka refuses names where it comes from",
        {"app-name": "my shop", "batch-routes": {"orders": batch_route()}},
        {},
        [
            "c.edn: batch-routes.orders.dead-letter-topic: 'my shop-orders-dead-letter' (derived from app-name and "
            "the route name) is not a valid Kafka topic name: use only letters, digits, '.', '_' and '-'",
            "c.edn: batch-routes.orders.retry-topic: 'my shop-orders-retry' (derived from app-name and the route "
            "name) is not a valid Kafka topic name: use only letters, digits, '.', '_' and '-'",
        ],
    ),
]


@pytest.mark.parametrize(
    ("raw", "environ", "expected"), [c[1:] for c in SHARED_TOPICS], ids=[c[0] for c in SHARED_TOPICS]
)
def test_routes_that_share_topics_or_misname_them_are_errors(
    raw: dict[str, Any], environ: dict[str, str], expected: list[str]
):
    assert messages(raw, environ) == expected


def test_routes_may_share_an_origin_topic_and_read_plain_names_with_dots():
    raw = _routes(
        {"orders": batch_route(), "audit": batch_route(**{"consumer-group-id": "audit"})},
        {"events": stream_route(**{"origin-topic": "orders.v1_x-y"})},
    )
    assert messages(raw) == []


def _every_map(section: defaults.Section, extra: dict[str, Any]) -> dict[str, Any]:
    """A map for `section` holding every map the table declares inside it (one route of each kind), plus `extra`."""
    data = dict(extra)
    for key, child in section.children.items():
        if child.routes is None:
            data[key] = _every_map(child, extra)
        else:
            make, name = (batch_route, "b") if child.routes == "batch" else (stream_route, "s")
            data[key] = {name: make(**_every_map(child.children["*"], extra))}
    return data


def _env_names(section: defaults.Section, parts: tuple[str, ...]) -> list[str]:
    names = [config.env_name(*parts, s.key) for s in section.settings if s.kind != "properties"]
    for key, child in section.children.items():
        if child.routes is None:
            names += _env_names(child, (*parts, key))
        else:
            names += _env_names(child.children["*"], (*parts, key, "b" if child.routes == "batch" else "s"))
    return names


def test_every_map_the_table_declares_is_checked():
    raw = {"app-name": "shop", **_every_map(defaults.ROOT, {"zz": 1})}
    assert [p.path for p in config.check(raw, "c.edn", {}).problems if "unknown key 'zz'" in p.message] == [
        "batch-routes.b.producer.zz",
        "batch-routes.b.retry.zz",
        "batch-routes.b.zz",
        "http-server.zz",
        "prometheus.zz",
        "retry.zz",
        "sasl.jaas.zz",
        "sasl.zz",
        "ssl.jaas.zz",
        "ssl.zz",
        "stream-router.s.producer.zz",
        "stream-router.s.retry.zz",
        "stream-router.s.zz",
        "zz",
    ]


def test_every_setting_the_table_declares_has_its_environment_variable():
    names = _env_names(defaults.ROOT, ())
    assert len(names) == len(set(names)) > 90
    report = config.check({"app-name": "shop", **_every_map(defaults.ROOT, {})}, "c.edn", dict.fromkeys(names, "1"))
    # "1" as every value makes sense of no security section (a login-callback-handler "1" is ignored, with a warning)
    assert [str(w) for w in report.warnings if "login-callback-handler" not in w.path] == [
        "c.edn: rabbit-mq.delay.queue-timeout-ms: not used: retry.backoff-ms (1) is the retry backoff"
    ]
    assert not any("matches no setting" in str(p) for p in report.problems)


def test_every_integer_setting_has_a_maximum():
    unbounded = [
        f"{path}.{s.key}"
        for path, section in defaults.documented_sections()
        for s in section.settings
        if s.kind == "int" and (s.maximum is None or s.minimum is None)
    ]
    assert unbounded == []


TOO_BIG: list[tuple[str, dict[str, Any], dict[str, str], list[str]]] = [
    (
        "thread-count 10^29",
        flat_config(**{"batch-routes": {"orders": batch_route(**{"thread-count": 10**29})}}),
        {},
        ["c.edn: batch-routes.orders.thread-count: must be at most 1000, got 100000000000000000000000000000"],
    ),
    (
        "an integer too long to print in full",
        flat_config(**{"batch-routes": {"orders": batch_route(**{"max-poll-records": 16**5000})}}),
        {},
        ["c.edn: batch-routes.orders.max-poll-records: must be at most 1000000, got an integer of 6021 digits"],
    ),
    (
        "session timeout past librdkafka's limit",
        {"app-name": "shop", "stream-router": {"events": stream_route(**{"session-timeout-ms-config": 3_600_001})}},
        {},
        ["c.edn: stream-router.events.session-timeout-ms-config: must be at most 3600000, got 3600001"],
    ),
    (
        "retry backoff past a week",
        flat_config(retry={"backoff-ms": 604_800_001}),
        {},
        ["c.edn: retry.backoff-ms: must be at most 604800000, got 604800001"],
    ),
    (
        "env override with 5000 digits",
        flat_config(),
        {"ZIGGURAT_BATCH_ROUTES_ORDERS_THREAD_COUNT": "9" * 5000},
        [
            "c.edn: batch-routes.orders.thread-count: ZIGGURAT_BATCH_ROUTES_ORDERS_THREAD_COUNT="
            f"{'9' * 54!r}... (5000 characters): expected an integer"
        ],
    ),
]


@pytest.mark.parametrize(("raw", "environ", "expected"), [c[1:] for c in TOO_BIG], ids=[c[0] for c in TOO_BIG])
def test_integers_past_their_maximum_are_errors(raw: dict[str, Any], environ: dict[str, str], expected: list[str]):
    assert messages(raw, environ) == expected


SERVER_PORTS: list[tuple[str, dict[str, Any], dict[str, str], list[str]]] = [
    (
        "prometheus and http on one port",
        flat_config(prometheus={"port": 9000}, **{"http-server": {"port": 9000}}),
        {},
        ["c.edn: http-server.port: 9000 is also prometheus.port; each server needs its own port"],
    ),
    (
        "one port through the environment, in the root form",
        {"ziggurat": flat_config(prometheus={"port": 9000})},
        {"ZIGGURAT_HTTP_SERVER_PORT": "9000"},
        [
            "c.edn: ziggurat.http-server.port: ZIGGURAT_HTTP_SERVER_PORT: 9000 is also ziggurat.prometheus.port; "
            "each server needs its own port"
        ],
    ),
    (
        "one port, prometheus disabled",
        flat_config(prometheus={"port": 9000, "enabled": False}, **{"http-server": {"port": 9000}}),
        {},
        [],
    ),
    (
        "one port, http disabled",
        flat_config(prometheus={"port": 9000}, **{"http-server": {"port": 9000, "enabled": False}}),
        {},
        [],
    ),
    (
        "one port, prometheus's from the environment",
        flat_config(**{"http-server": {"port": 9000}}),
        {"ZIGGURAT_PROMETHEUS_PORT": "9000"},
        [
            "c.edn: http-server.port: 9000 is also prometheus.port (ZIGGURAT_PROMETHEUS_PORT); "
            "each server needs its own port"
        ],
    ),
    ("both on any free port", flat_config(prometheus={"port": 0}, **{"http-server": {"port": 0}}), {}, []),
]


@pytest.mark.parametrize(
    ("raw", "environ", "expected"), [c[1:] for c in SERVER_PORTS], ids=[c[0] for c in SERVER_PORTS]
)
def test_prometheus_and_http_need_their_own_ports(raw: dict[str, Any], environ: dict[str, str], expected: list[str]):
    assert messages(raw, environ) == expected


def _instance_ids(template: str, threads: int = 1, route: str = "orders") -> dict[str, Any]:
    return batch_route(**{"group-instance-id": template, "thread-count": threads, "origin-topic": route})


INSTANCE_IDS: list[tuple[str, dict[str, Any], dict[str, str], list[str]]] = [
    (
        "an environment variable and the thread",
        flat_config(**{"batch-routes": {"orders": _instance_ids("orders-$HOST-${ZONE}-{thread}", 3)}}),
        {"HOST": "web1", "ZONE": "a"},
        [],
    ),
    (
        "an unset environment variable",
        flat_config(**{"batch-routes": {"orders": _instance_ids("orders-$HOSTNAME-{thread}", 2)}}),
        {},
        [
            "c.edn: batch-routes.orders.group-instance-id: environment variable HOSTNAME is not set (export it, "
            "or leave it out of the id)"
        ],
    ),
    (
        "several threads without {thread}",
        flat_config(**{"batch-routes": {"orders": _instance_ids("orders-$HOST", 2)}}),
        {"HOST": "web1"},
        [
            "c.edn: batch-routes.orders.group-instance-id: has no {thread}, so the route's 2 consumer threads would "
            "share one id and fence each other out; add {thread}"
        ],
    ),
    (
        "one thread needs no {thread}",
        flat_config(**{"batch-routes": {"orders": _instance_ids("orders-$$1")}}),
        {},
        [],
    ),
    (
        "an unknown placeholder",
        flat_config(**{"batch-routes": {"orders": _instance_ids("orders-{host}-{thread}", 2)}}),
        {},
        [
            "c.edn: batch-routes.orders.group-instance-id: unknown placeholder {host}; use {thread} (the thread's "
            "index) or {route}"
        ],
    ),
    (
        "empty",
        flat_config(**{"batch-routes": {"orders": _instance_ids("$EMPTY")}}),
        {"EMPTY": ""},
        ["c.edn: batch-routes.orders.group-instance-id: is empty; leave it out for dynamic members"],
    ),
    (
        "two routes giving one id",
        flat_config(
            **{
                "batch-routes": {
                    "a": _instance_ids("app-{thread}", 2, "t1"),
                    "b": _instance_ids("app-{thread}", 3, "t2"),
                }
            }
        ),
        {},
        [
            "c.edn: batch-routes.b.group-instance-id: gives 'app-0', as batch-routes.a.group-instance-id does; each "
            "consumer needs its own id (add {route})"
        ],
    ),
    (
        "two routes told apart by {route}",
        flat_config(
            **{
                "batch-routes": {"a": _instance_ids("app-{route}-{thread}", 2, "t1")},
                "stream-router": {"b": stream_route(**{"group-instance-id": "app-{route}-{thread}"})},
            }
        ),
        {},
        [],
    ),
]


@pytest.mark.parametrize(
    ("raw", "environ", "expected"), [c[1:] for c in INSTANCE_IDS], ids=[c[0] for c in INSTANCE_IDS]
)
def test_group_instance_id_templates(raw: dict[str, Any], environ: dict[str, str], expected: list[str]):
    assert messages(raw, environ) == expected


def test_group_instance_id_is_kept_with_its_environment_filled_in():
    raw = flat_config(**{"batch-routes": {"orders": _instance_ids("orders-${HOST}-$$-{thread}", 2)}})
    route = config.validate(raw, "c.edn", {"HOST": "web1"}).route("orders")
    assert route["group-instance-id"] == "orders-web1-$-{thread}"
    assert route.values["group-instance-id"].origin == "file"
