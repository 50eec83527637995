"""What brokers refuse, without a broker: connection refusals in words, ACL needs judged against described
operations, and start-up refusing a route whose principal lacks one before it creates or consumes anything.
tests/test_security.py proves the same against Apache Kafka itself."""

from __future__ import annotations

import threading
from concurrent.futures import Future
from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AclOperation

from zig_cli import access, kafka, producer
from zig_cli.errors import KafkaFatalError

BROKERS = {"bootstrap.servers": "b1:9093,b2:9093"}
SASL_FAILED = (
    "sasl_plaintext://b1:9093/bootstrap: SASL authentication error: Authentication failed during authentication due "
    "to invalid credentials with SASL mechanism SCRAM-SHA-512 (after 312ms in state AUTH_REQ)"
)
VERIFY_FAILED = (
    "ssl://b1:9093/bootstrap: SSL handshake failed: error:0A000086:SSL routines::certificate verify failed: broker "
    "certificate could not be verified, verify that ssl.ca.location is correctly configured or root CA certificates "
    "are installed (install ca-certificates package) (after 11ms in state SSL_HANDSHAKE)"
)


@pytest.mark.parametrize(
    ("code", "text", "props", "message"),
    [
        (
            KafkaError._AUTHENTICATION,
            SASL_FAILED,
            BROKERS,
            "authentication failed at broker(s) b1:9093,b2:9093: SASL authentication error: Authentication failed "
            "during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-512 (check the :jaas "
            "username, password and mechanism of :sasl or :ssl)",
        ),
        (
            KafkaError._SSL,
            VERIFY_FAILED,
            BROKERS | {"ssl.ca.location": "/etc/ca.pem"},
            "the TLS certificate of broker(s) b1:9093,b2:9093 could not be verified with the CA certificates in "
            "ssl-ca-location (/etc/ca.pem): set :ssl ssl-ca-location to the CA that signed it (and check that it "
            "names the host zig connects to)",
        ),
        (
            KafkaError._SSL,
            VERIFY_FAILED,
            BROKERS,
            "the TLS certificate of broker(s) b1:9093,b2:9093 could not be verified with the system's CA certificates: "
            "set :ssl ssl-ca-location to the CA that signed it (and check that it names the host zig connects to)",
        ),
        (
            KafkaError._SSL,
            "ssl://b1:9093/bootstrap: SSL handshake failed: Disconnected (after 3ms in state SSL_HANDSHAKE)",
            BROKERS,
            "TLS handshake with broker(s) b1:9093,b2:9093 failed: SSL handshake failed: Disconnected",
        ),
        (KafkaError._TRANSPORT, "b1:9093/bootstrap: Connect failed: Connection refused", BROKERS, None),
    ],
)
def test_connection_refusals_say_what_to_change(code: int, text: str, props: dict[str, str], message: str | None):
    assert access.connection_refusal(KafkaError(code, text), props) == message


def test_a_refusal_is_kept_from_the_first_such_error_and_raised_when_checked():
    refusal = access.Refusal()
    refusal.on_error(KafkaError(KafkaError._TRANSPORT, "Connection refused"))
    refusal.check(BROKERS)  # a wait may fix that one
    refusal.on_error(KafkaError(KafkaError._AUTHENTICATION, SASL_FAILED))
    refusal.on_error(KafkaError(KafkaError._SSL, VERIFY_FAILED))
    with pytest.raises(KafkaFatalError, match=r"^authentication failed at broker\(s\) b1:9093,b2:9093: SASL "):
        refusal.check(BROKERS)


def refused(broker: str, why: str = "Connect to ipv4#10.0.0.1:9093 failed: Connection refused") -> KafkaError:
    return KafkaError(KafkaError._TRANSPORT, f"{broker}: {why} (after 0ms in state CONNECT)")


ALL_DOWN = KafkaError(KafkaError._ALL_BROKERS_DOWN, "2/2 brokers are down")


def test_every_bootstrap_server_refusing_is_a_refusal_only_when_asked_for():
    failures = [
        refused("sasl_ssl://b2:9093/bootstrap"),
        KafkaError(KafkaError._RESOLVE, "b1:9093/bootstrap: Failed to resolve 'b1:9093': Name or service not known"),
    ]
    waiting, one_shot = access.Refusal(), access.Refusal(unreachable=True)
    for error in [*failures, ALL_DOWN]:
        waiting.on_error(error)
        one_shot.on_error(error)
    waiting.check(BROKERS)  # zig run waits for brokers to come up
    assert one_shot.refused
    with pytest.raises(KafkaFatalError) as caught:
        one_shot.check(BROKERS)
    assert str(caught.value) == (
        "cannot connect to any bootstrap server (b1:9093,b2:9093): b1:9093: Failed to resolve 'b1:9093': Name or "
        "service not known; b2:9093: Connect to ipv4#10.0.0.1:9093 failed: Connection refused; is the broker "
        "running, and are these its host and port?"
    )


@pytest.mark.parametrize(
    "up",
    ["b1:9093/1: Connect to ipv4#10.0.0.1:9093 failed", "b1:9093/bootstrap: Disconnected (after 5021ms in state UP)"],
    ids=["a broker of the cluster", "a bootstrap server that was up"],
)
def test_brokers_going_down_after_one_was_up_are_waited_for(up: str):
    refusal = access.Refusal(unreachable=True)
    refusal.on_error(KafkaError(KafkaError._TRANSPORT, up))
    refusal.on_error(refused("b2:9093/bootstrap"))
    refusal.on_error(ALL_DOWN)
    assert not refusal.refused
    refusal.check(BROKERS)


class Described:
    def __init__(self, *operations: AclOperation) -> None:
        self.authorized_operations = list(operations) or None


NEEDS = access.route_needs("orders", "orders-dead", "orders-retry", "g", "g-retry")


def test_a_route_needs_to_read_its_topics_and_groups_and_write_retries_and_dead_letters():
    assert [(n.operation, n.kind, n.name, n.role) for n in NEEDS] == [
        ("READ", "topic", "orders", "origin topic"),
        ("READ", "group", "g", "consumer group"),
        ("WRITE", "topic", "orders-retry", "retry topic"),
        ("READ", "topic", "orders-retry", "retry topic"),
        ("READ", "group", "g-retry", "retry consumer group"),
        ("WRITE", "topic", "orders-dead", "dead-letter topic"),
    ]
    without_retry = access.route_needs(None, "orders-dead", None, "g", None)  # a regex origin: no topic to ask about
    assert [(n.operation, n.name) for n in without_retry] == [("READ", "g"), ("WRITE", "orders-dead")]


@pytest.mark.parametrize(
    ("answers", "refused"),
    [
        ({}, []),  # nothing described: whatever uses them next judges
        ({("topic", "orders"): Described()}, []),  # operations not reported: trusted
        ({("topic", "orders"): Described(AclOperation.DESCRIBE)}, ["READ orders"]),
        ({("topic", "orders"): KafkaError(KafkaError.TOPIC_AUTHORIZATION_FAILED)}, ["READ orders"]),
        ({("topic", "orders"): KafkaError(KafkaError.UNKNOWN_TOPIC_OR_PART)}, []),  # missing: said elsewhere
        ({("group", "g"): KafkaError(KafkaError.GROUP_AUTHORIZATION_FAILED)}, ["READ g"]),
        ({("group", "g"): Described(AclOperation.READ, AclOperation.DESCRIBE)}, []),
        (
            {("topic", "orders-retry"): Described(AclOperation.READ, AclOperation.DESCRIBE)},
            ["WRITE orders-retry"],
        ),
        ({("topic", "orders-dead"): Described(AclOperation.ALL)}, []),
    ],
)
def test_only_a_refusal_counts_as_an_unmet_need(answers: dict[tuple[str, str], Any], refused: list[str]):
    assert [f"{n.operation} {n.name}" for n in access.unmet(NEEDS, answers)] == refused


def test_the_denial_names_each_resource_once_with_its_missing_operations():
    refused = [need for need in NEEDS if need.kind == "topic" and need.name != "orders"]
    assert access.denied_message("orders", "b:9092", refused) == (
        "route 'orders': broker(s) b:9092 refuse: not allowed to WRITE and READ topic 'orders-retry' (retry topic); "
        "not allowed to WRITE topic 'orders-dead' (dead-letter topic). Add ACLs allowing these to the principal zig "
        "connects as (the :jaas username, or the subject of the TLS client certificate)"
    )


@pytest.mark.parametrize(
    ("code", "operation", "message"),
    [
        (
            KafkaError.TOPIC_AUTHORIZATION_FAILED,
            "WRITE",
            "not allowed to WRITE topic 'orders-dead' (Broker: Topic authorization failed); add an ACL allowing it",
        ),
        (
            KafkaError.GROUP_AUTHORIZATION_FAILED,
            "READ",
            "not allowed to READ its consumer group (Broker: Group authorization failed); add an ACL allowing it",
        ),
        (KafkaError._TRANSPORT, "READ", None),
    ],
)
def test_authorization_errors_while_running_get_the_same_words(code: int, operation: str, message: str | None):
    assert access.runtime_denial(KafkaError(code), "orders-dead", operation) == message


def _done(result: Any) -> Future[Any]:
    future: Future[Any] = Future()
    if isinstance(result, KafkaError):
        future.set_exception(KafkaException(result))
    else:
        future.set_result(result)
    return future


class GuardedAdmin:
    """An AdminClient whose broker has every topic, lets the principal only DESCRIBE the dead-letter topic, has a
    group coordinator that is loading on the first ask, and records topics it is asked to create."""

    asks: list[str] = []

    def __init__(self, conf: dict[str, Any]) -> None:
        pass

    def list_topics(self, timeout: float) -> Any:
        class Metadata:
            topics = {
                name: type("Topic", (), {"error": None, "partitions": {0: None}})()
                for name in ("orders", "orders-dead", "orders-retry")
            }

        return Metadata()

    def describe_topics(self, topics: Any, **options: Any) -> dict[str, Future[Any]]:
        assert options["include_authorized_operations"] is True
        GuardedAdmin.asks.append("topics")
        everything = Described(AclOperation.READ, AclOperation.WRITE, AclOperation.DESCRIBE)
        return {
            name: _done(Described(AclOperation.DESCRIBE) if name == "orders-dead" else everything)
            for name in topics.topic_names
        }

    def describe_consumer_groups(self, groups: list[str], **options: Any) -> dict[str, Future[Any]]:
        GuardedAdmin.asks.append("groups")
        loading = KafkaError(KafkaError.COORDINATOR_LOAD_IN_PROGRESS)
        first = GuardedAdmin.asks.count("groups") == 1
        return {name: _done(loading if first else Described(AclOperation.READ)) for name in groups}

    def create_topics(self, topics: list[Any], request_timeout: float) -> dict[str, Future[None]]:
        raise AssertionError("nothing is created for a route its principal may not run")


def test_start_up_refuses_a_principal_without_an_acl_before_creating_anything(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(kafka, "AdminClient", GuardedAdmin)
    monkeypatch.setattr(GuardedAdmin, "asks", [])
    with pytest.raises(KafkaFatalError) as caught:
        kafka.prepare_topics(
            {"bootstrap.servers": "b:9092"}, "orders", ["orders-new"], 10, False, "orders", threading.Event(), NEEDS
        )
    assert str(caught.value).startswith(
        "route 'orders': broker(s) b:9092 refuse: not allowed to WRITE topic 'orders-dead' (dead-letter topic). "
    )
    assert GuardedAdmin.asks == ["topics", "groups", "groups"]  # the loading coordinator was asked again


def test_needs_are_checked_only_when_given(monkeypatch: pytest.MonkeyPatch):
    """Callers that only prepare topics (and brokers of tests without the describe calls) are not asked about ACLs."""
    monkeypatch.setattr(kafka, "AdminClient", GuardedAdmin)
    monkeypatch.setattr(GuardedAdmin, "asks", [])
    kafka.prepare_topics({"bootstrap.servers": "b:9092"}, "orders", ["orders-dead"], 10, False)
    assert GuardedAdmin.asks == []


class Written:
    def __init__(self, topic: str) -> None:
        self._topic = topic

    def topic(self) -> str:
        return self._topic


def test_a_write_the_broker_refuses_names_the_topic_and_the_operation():
    delivery = producer.Delivery(2)
    delivery.report(KafkaError(KafkaError.TOPIC_AUTHORIZATION_FAILED), Written("orders-dead"))
    delivery.report(KafkaError(KafkaError.MSG_SIZE_TOO_LARGE), Written("orders-retry"))
    assert delivery.errors == [
        "not allowed to WRITE topic 'orders-dead' (Broker: Topic authorization failed); add an ACL allowing it",
        "orders-retry: Broker: Message size too large",
    ]


def test_a_consumer_error_is_explained_keeping_its_code_and_only_when_it_is_a_refusal():
    denied = KafkaError(KafkaError.GROUP_AUTHORIZATION_FAILED, "FindCoordinator: denied")
    refused = access.explained(denied, "t", "READ")
    assert (refused.code(), refused.str()) == (
        KafkaError.GROUP_AUTHORIZATION_FAILED,
        "not allowed to READ its consumer group (FindCoordinator: denied); add an ACL allowing it",
    )
    other = KafkaError(KafkaError._TRANSPORT, "Connection refused")
    assert access.explained(other, "t", "READ") is other
