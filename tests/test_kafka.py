"""kafka: settings become librdkafka properties through the table; secrets are masked."""

from __future__ import annotations

from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException, TopicPartition
from helpers import batch_route, flat_config, stream_route

from zig_cli import config, defaults, kafka


def test_consumer_properties_map_zig_keys_and_pin_at_least_once():
    route_raw = batch_route(**{"session-timeout-ms-config": 6000, "kafka-properties": {"fetch.min.bytes": 10}})
    cfg = config.validate(flat_config(**{"batch-routes": {"orders": route_raw}}), "c.edn", {})
    props = kafka.consumer_properties(cfg, cfg.route("orders"))
    assert props == {
        "bootstrap.servers": "localhost:9092",
        "group.id": "orders-group",
        "session.timeout.ms": "6000",
        "group.protocol": "classic",
        "max.poll.interval.ms": "300000",
        "auto.offset.reset": "latest",
        "auto.commit.interval.ms": "5000",
        "fetch.queue.backoff.ms": "100",
        "fetch.min.bytes": "10",
        "enable.auto.offset.store": "false",
        "enable.auto.commit": "true",
    }


@pytest.mark.parametrize(
    ("own", "fetch_wait"),
    [({}, "50"), ({"fetch.wait.max.ms": 200}, "200")],
    ids=["zig's short fetch wait", "the user's own wins"],
)
def test_retry_consumer_has_its_own_group_from_the_earliest_retry(own, fetch_wait):
    route_raw = batch_route(**{"kafka-properties": own, "auto-offset-reset-config": "latest"})
    cfg = config.validate(flat_config(**{"batch-routes": {"orders": route_raw}}), "c.edn", {})
    route = cfg.route("orders")
    props = kafka.retry_consumer_properties(kafka.consumer_properties(cfg, route))
    assert props["group.id"] == "orders-group-retry"
    assert props["auto.offset.reset"] == "earliest"
    assert props["fetch.wait.max.ms"] == fetch_wait
    assert props["enable.auto.offset.store"] == "false"


def test_security_sections_apply_only_when_enabled():
    sasl = {"enabled": True, "protocol": "SASL_SSL", "jaas": {"username": "svc", "password": "pw"}}
    ssl = {"enabled": False, "ssl-ca-location": "/etc/ca.pem"}
    cfg = config.validate(flat_config(sasl=sasl, ssl=ssl), "c.edn", {})
    assert kafka.security_properties(cfg) == {
        "security.protocol": "SASL_SSL",
        "sasl.username": "svc",
        "sasl.password": "pw",
        "sasl.mechanism": "PLAIN",
    }


def test_producer_properties_inherit_the_route_brokers():
    route_raw = batch_route(producer={"acks": 1, "linger-ms": 20})
    cfg = config.validate(flat_config(**{"batch-routes": {"orders": route_raw}}), "c.edn", {})
    props = kafka.producer_properties(cfg, cfg.route("orders"))
    assert props["bootstrap.servers"] == "localhost:9092"
    assert props["acks"] == "1"
    assert props["linger.ms"] == "20"
    assert "key.serializer" not in props


def test_mask_hides_every_secret_kind():
    props = {
        "sasl.username": "u",
        "sasl.password": "p",
        "ssl.key.password": "k",
        "ssl.keystore.password": "s",
        "sasl.oauthbearer.client.secret": "c",
        "fetch.min.bytes": "1",
    }
    assert kafka.mask(props) == {**{k: "***" for k in props}, "fetch.min.bytes": "1"}


# Every librdkafka property the name patterns zig once masked by ("*password*", "*secret*", "sasl.*", "ssl.key*")
# caught: each stays masked now that the settings table alone says what is secret. Not sasl.mechanism(s): a mechanism's
# name (PLAIN, SCRAM-SHA-512) says nothing secret, and `zig validate` shows which one is used.
ONCE_CAUGHT = [
    *("ssl.key.location", "ssl.key.password", "ssl.key.pem", "ssl.keystore.location", "ssl.keystore.password"),
    *("sasl.username", "sasl.password"),
    *("sasl.kerberos.keytab", "sasl.kerberos.kinit.cmd", "sasl.kerberos.min.time.before.relogin"),
    *("sasl.kerberos.principal", "sasl.kerberos.service.name"),
    *("sasl.oauthbearer.assertion.algorithm", "sasl.oauthbearer.assertion.claim.aud"),
    *("sasl.oauthbearer.assertion.claim.exp.seconds", "sasl.oauthbearer.assertion.claim.iss"),
    *("sasl.oauthbearer.assertion.claim.jti.include", "sasl.oauthbearer.assertion.claim.nbf.seconds"),
    *("sasl.oauthbearer.assertion.claim.sub", "sasl.oauthbearer.assertion.file"),
    *("sasl.oauthbearer.assertion.jwt.template.file", "sasl.oauthbearer.assertion.private.key.file"),
    *("sasl.oauthbearer.assertion.private.key.passphrase", "sasl.oauthbearer.assertion.private.key.pem"),
    *("sasl.oauthbearer.client.credentials.client.id", "sasl.oauthbearer.client.credentials.client.secret"),
    *("sasl.oauthbearer.client.id", "sasl.oauthbearer.client.secret", "sasl.oauthbearer.config"),
    *("sasl.oauthbearer.extensions", "sasl.oauthbearer.grant.type", "sasl.oauthbearer.metadata.authentication.type"),
    *("sasl.oauthbearer.method", "sasl.oauthbearer.scope", "sasl.oauthbearer.sub.claim.name"),
    "sasl.oauthbearer.token.endpoint.url",
]


@pytest.mark.parametrize("name", [*ONCE_CAUGHT, "ssl.ca.pem", "sasl.jaas.config", "SASL.PASSWORD"])
def test_every_secret_property_is_masked(name: str):
    assert kafka.is_secret(name)
    assert kafka.mask({name: "v", "fetch.min.bytes": "1"}) == {name: "***", "fetch.min.bytes": "1"}


@pytest.mark.parametrize(
    "name",
    ["bootstrap.servers", "security.protocol", "ssl.ca.location", "ssl.certificate.location", "client.id", "debug"],
)
def test_plain_properties_are_shown(name: str):
    assert not kafka.is_secret(name)


def test_a_plugins_own_client_properties_are_masked_too():
    assert kafka.is_secret("confluent.monitoring.interceptor.sasl.password")
    assert not kafka.is_secret("confluent.monitoring.interceptor.bootstrap.servers")


def test_the_declared_secrets_are_properties_no_setting_becomes():
    settings = [s for section in defaults.sections(defaults.ROOT) for s in section.settings]
    assert defaults.LIBRDKAFKA_SECRETS.isdisjoint(s.kafka for s in settings)
    assert {s.kafka for s in settings if s.secret and s.kafka} <= defaults.secret_properties()


def test_zig_managed_properties_cannot_be_overridden():
    route_raw = batch_route(**{"kafka-properties": {"enable.auto.commit": "false"}})
    cfg = config.validate(flat_config(**{"batch-routes": {"orders": route_raw}}), "c.edn", {})
    problems, _ = kafka.property_problems(cfg)
    assert [str(p) for p in problems] == [
        "c.edn: batch-routes.orders.kafka-properties.enable.auto.commit: "
        "zig sets it to commit only what has been handled (at-least-once)"
    ]


def _problems(route_raw: dict[str, Any], environ: dict[str, str] | None = None) -> list[str]:
    cfg = config.validate(flat_config(**{"batch-routes": {"orders": route_raw}}), "c.edn", environ or {})
    return [str(p) for p in kafka.property_problems(cfg)[0]]


def test_the_consumer_protocol_leaves_the_session_timeout_to_the_broker():
    route_raw = batch_route(**{"group-protocol": "consumer"})
    stream_raw = stream_route(**{"group-protocol": "consumer"})
    cfg = config.validate(flat_config(**{"batch-routes": {"orders": route_raw}, "stream-router": {"s": stream_raw}}))
    for route in cfg.routes:
        props = kafka.consumer_properties(cfg, route)
        assert props["group.protocol"] == "consumer"
        assert "session.timeout.ms" not in props, "zig's default session timeout is not sent: librdkafka refuses it"
        assert "session-timeout-ms-config" not in route.values, "nor shown by zig validate"
    assert _problems(route_raw) == [], "librdkafka accepts the config zig builds"


_CONSUMER = "not used with group-protocol consumer: "


@pytest.mark.parametrize(
    ("route", "problem"),
    [
        (
            {"session-timeout-ms-config": 10_000},
            "c.edn: batch-routes.orders.session-timeout-ms-config: "
            + _CONSUMER
            + "the broker sets the session timeout (group.consumer.session.timeout.ms)",
        ),
        (
            {"kafka-properties": {"heartbeat.interval.ms": 1000}},
            "c.edn: batch-routes.orders.kafka-properties.heartbeat.interval.ms: "
            + _CONSUMER
            + "the broker sets the heartbeat interval (group.consumer.heartbeat.interval.ms)",
        ),
        (
            {"kafka-properties": {"partition.assignment.strategy": "cooperative-sticky"}},
            "c.edn: batch-routes.orders.kafka-properties.partition.assignment.strategy: "
            + _CONSUMER
            + "the broker assigns partitions (choose its assignor with group.remote.assignor)",
        ),
        (
            {"kafka-properties": {"group.protocol.type": "consumer"}},
            "c.edn: batch-routes.orders.kafka-properties.group.protocol.type: "
            + _CONSUMER
            + "only the classic protocol has protocol types",
        ),
    ],
    ids=["session timeout", "heartbeat interval", "assignment strategy", "protocol type"],
)
def test_the_consumer_protocol_refuses_what_the_broker_decides(route: dict[str, Any], problem: str):
    assert _problems(batch_route(**route, **{"group-protocol": "consumer"})) == [problem]
    assert _problems(batch_route(**route)) == [], "the classic protocol takes them"


def test_the_session_timeout_set_in_the_environment_is_refused_with_the_consumer_protocol():
    env = {"ZIGGURAT_BATCH_ROUTES_ORDERS_SESSION_TIMEOUT_MS_CONFIG": "10000"}
    assert _problems(batch_route(**{"group-protocol": "consumer"}), env) == [
        "c.edn: batch-routes.orders.session-timeout-ms-config: "
        + _CONSUMER
        + "the broker sets the session timeout (group.consumer.session.timeout.ms)"
    ]


def test_each_consumer_thread_gets_its_own_instance_id():
    route_raw = batch_route(**{"group-instance-id": "orders-$HOST-{route}-{thread}", "thread-count": 2})
    cfg = config.validate(flat_config(**{"batch-routes": {"orders": route_raw}}), "c.edn", {"HOST": "web1"})
    route = cfg.route("orders")
    ids = [kafka.consumer_properties(cfg, route, thread)["group.instance.id"] for thread in (0, 1, "retry")]
    assert ids == ["orders-web1-orders-0", "orders-web1-orders-1", "orders-web1-orders-retry"]


@pytest.mark.parametrize(
    ("origin", "subscription"),
    [
        ("orders", "orders"),
        ("orders.v1", "orders.v1"),
        ("orders-.*", "^orders-.*$"),
        ("^orders-[0-9]+$", "^orders-[0-9]+$"),
    ],
)
def test_ziggurat_regexes_become_librdkafka_patterns(origin: str, subscription: str):
    assert kafka.subscription(origin) == subscription


def test_forwarding_producer_takes_the_route_producer_settings_on_the_route_cluster_with_every_write_acknowledged():
    plain = config.validate(flat_config(), "c.edn", {})
    assert kafka.forwarding_producer_properties(plain, plain.route("orders")) == {
        "bootstrap.servers": "localhost:9092",
        "acks": "all",
        "linger.ms": "5",
    }
    producer = {
        "bootstrap-servers": "elsewhere:9092",
        "acks": 1,
        "compression-type": "zstd",
        "kafka-properties": {"message.max.bytes": 2_000_000},
    }
    cfg = config.validate(flat_config(**{"batch-routes": {"orders": batch_route(producer=producer)}}), "c.edn", {})
    props = kafka.forwarding_producer_properties(cfg, cfg.route("orders"))
    assert props["bootstrap.servers"] == "localhost:9092", "retry and dead-letter topics live on the route's cluster"
    assert props["acks"] == "all"
    assert (props["compression.type"], props["message.max.bytes"]) == ("zstd", "2000000")


@pytest.mark.parametrize(
    ("exception", "code", "text"),
    [
        (
            KafkaException(KafkaError(KafkaError.MSG_SIZE_TOO_LARGE)),
            KafkaError.MSG_SIZE_TOO_LARGE,
            "Broker: Message size too large",
        ),
        (
            KafkaException(KafkaError(KafkaError._TRANSPORT, "connection refused")),
            KafkaError._TRANSPORT,
            "connection refused",
        ),
        (KafkaException("a plain message"), KafkaError._FAIL, "a plain message"),
        (KafkaException(), KafkaError._FAIL, "unknown Kafka error"),
    ],
    ids=["librdkafka's error", "with its own text", "a plain message", "nothing"],
)
def test_unwrap_gives_the_kafka_error_and_its_text(exception: KafkaException, code: int, text: str):
    error, said = kafka.unwrap(exception)
    assert (error.code(), said) == (code, text)


class _BusyCoordinator:
    """committed() answers NOT_COORDINATOR `busy` times, then the offsets."""

    def __init__(self, busy: int, code: int = KafkaError.NOT_COORDINATOR) -> None:
        self.busy, self.code, self.calls = busy, code, 0

    def committed(self, partitions: list[TopicPartition], timeout: float) -> list[TopicPartition]:
        self.calls += 1
        if self.calls <= self.busy:
            raise KafkaException(KafkaError(self.code, "Failed to get committed offsets: Broker: Not coordinator"))
        return [TopicPartition(tp.topic, tp.partition, 7) for tp in partitions]


def test_committed_asks_again_while_the_coordinator_is_busy():
    consumer = _BusyCoordinator(busy=2)
    assert kafka.committed(consumer, [TopicPartition("t", 0)], 5) == [TopicPartition("t", 0, 7)]
    assert consumer.calls == 3


def test_committed_gives_up_at_its_timeout_and_raises_other_errors_at_once():
    with pytest.raises(KafkaException, match="Not coordinator"):
        kafka.committed(_BusyCoordinator(busy=10**6), [TopicPartition("t", 0)], 0.3)
    denied = _BusyCoordinator(busy=1, code=KafkaError.GROUP_AUTHORIZATION_FAILED)
    with pytest.raises(KafkaException):
        kafka.committed(denied, [TopicPartition("t", 0)], 5)
    assert denied.calls == 1
