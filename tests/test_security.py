"""zig's :sasl and :ssl settings against an Apache Kafka that checks them: SASL/SCRAM-SHA-512 and SASL/PLAIN, TLS with
client certificates, and ACLs of the standard authorizer (tests/secure_kafka.py). Wrong credentials, an untrusted
certificate or a missing ACL end `zig run` and `zig send` with one line saying what to change, and nothing is read."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import secure_kafka
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition
from confluent_kafka.admin import AclOperation, ResourceType
from conftest import BROKER_LOGS
from helpers import wait_until
from kafka_helpers import RECORDER, Zig, unique
from secure_kafka import LIMITED_USER, PLAIN_USER, SCRAM_USER, SecureKafka

from zig_cli import loader

pytestmark = pytest.mark.apache_kafka

HANDLERS = (
    RECORDER
    + """
def on_batch(batch):
    record("batch", batch)

def on_message(message):
    record("stream", [message])
    return "success"

def on_batch_retry(batch):
    record("batch", batch)
    return {"retry": batch}
"""
)
# Apache Kafka's shortest session timeout; zig's start-up wait for brokers, kept short for the failures.
QUICK = {"auto-offset-reset-config": "earliest", "session-timeout-ms-config": 6000, "default-api-timeout-ms": 20000}
SEND_TIMEOUT_S = 20


@pytest.fixture(scope="module")
def secure(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureKafka]:
    with secure_kafka.start(tmp_path_factory.mktemp("secure-kafka")) as kafka:
        BROKER_LOGS["secure"] = kafka.broker.log
        yield kafka
    BROKER_LOGS.pop("secure", None)


def sasl(user: tuple[str, str], mechanism: str) -> dict[str, Any]:
    jaas = {"username": user[0], "password": user[1], "mechanism": mechanism}
    return {"sasl": {"enabled": True, "protocol": "SASL_PLAINTEXT", "jaas": jaas}}


def tls(secure: SecureKafka, ca: Path | None = None) -> dict[str, Any]:
    certs = secure.certs
    return {
        "ssl": {
            "enabled": True,
            "security-protocol": "SSL",
            "ssl-ca-location": str(ca or certs.ca),
            "ssl-certificate-location": str(certs.client_certificate),
            "ssl-key-location": str(certs.client_key),
        }
    }


def write_config(
    folder: Path,
    bootstrap: str,
    security: dict[str, Any],
    batch: dict[str, Any] | None = None,
    stream: dict[str, Any] | None = None,
) -> Path:
    """A config with a batch route `b` (with a producer) and, if given, a stream route `s`, both on `bootstrap`."""
    (folder / "h.py").write_text(HANDLERS, encoding="utf-8")
    route = {"bootstrap-servers": bootstrap, **QUICK}
    raw: dict[str, Any] = {"app-name": unique("sec"), "prometheus": {"port": 0}, "http-server": {"port": 0}, **security}
    raw["retry"] = {"enabled": True}  # the ACL checks include the retry topic's and group's
    raw["batch-routes"] = {"b": {"handler-fn": "h/on-batch", "poll-timeout-ms-config": 200, "producer": {}, **route}}
    raw["batch-routes"]["b"] |= batch or {}
    if stream is not None:
        raw["stream-routes"] = {"s": {"handler-fn": "h/on-message", **route, **stream}}
    path = folder / "config.edn"
    path.write_text(loader.dumps(raw, "edn"), encoding="utf-8")
    return path


def zig_send(folder: Path, topic: str, key: str, value: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "zig_cli", "send", "b", topic, key, value, "--timeout", str(SEND_TIMEOUT_S)],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=SEND_TIMEOUT_S + 30,
        env={**os.environ, "ZIG_CONFIG": str(folder / "config.edn")},
    )


def routes(secure: SecureKafka, folder: Path) -> tuple[dict[str, Any], dict[str, Any], list[str]]:
    """A batch and a stream route on topics of their own, already created: their settings and their topics."""
    batch_topic, stream_topic = unique("sec-batch"), unique("sec-stream")
    secure.create_topics(batch_topic, stream_topic)
    batch = {"origin-topic": batch_topic, "consumer-group-id": unique("sec-batch")}
    stream = {"origin-topic": stream_topic, "application-id": unique("sec-stream")}
    return batch, stream, [batch_topic, stream_topic]


def sends_and_handles(secure: SecureKafka, folder: Path, bootstrap: str, security: dict[str, Any]) -> None:
    """`zig send` writes one message to each route's topic, and `zig run` hands each to its route's handler."""
    batch, stream, topics = routes(secure, folder)
    write_config(folder, bootstrap, security, batch, stream)
    for topic in topics:
        sent = zig_send(folder, topic, "k", topic)
        assert sent.returncode == 0, sent.stderr
        assert sent.stdout.startswith(f"delivered to {topic} partition 0 offset 0")
    zig = Zig(folder / "config.edn", folder / "record.jsonl")
    wait_until(lambda: zig.count() >= 2 or zig.process.poll() is not None, 60, "both routes' messages")
    handled = {(r["route"], r["value"]) for r in zig.records()}  # at least once: a rebalance may hand one over again
    assert zig.stop() == 0, zig.output()
    assert handled == {("batch", topics[0]), ("stream", topics[1])}


@pytest.mark.parametrize(("mechanism", "user"), [("SCRAM-SHA-512", SCRAM_USER), ("PLAIN", PLAIN_USER)])
def test_sasl_runs_a_batch_and_a_stream_route_and_sends(
    secure: SecureKafka, tmp_path: Path, mechanism: str, user: tuple[str, str]
):
    sends_and_handles(secure, tmp_path, secure.sasl, sasl(user, mechanism))


def test_tls_with_a_client_certificate_runs_a_batch_and_a_stream_route_and_sends(secure: SecureKafka, tmp_path: Path):
    sends_and_handles(secure, tmp_path, secure.tls, tls(secure))


def test_a_ziggurat_shaped_sasl_config_consumes_retries_dead_letters_and_sends(secure: SecureKafka, tmp_path: Path):
    """Ziggurat's own shape (:protocol and :mechanism beside :jaas, a ScramLoginModule) and a route key that is a
    librdkafka property reach every client: `zig send`, the consumers, the retry consumer, the retry and dead-letter
    producer, and the admin client that creates those topics."""
    login_module = "org.apache.kafka.common.security.scram.ScramLoginModule"
    credentials = {"username": SCRAM_USER[0], "password": SCRAM_USER[1], "login-module": login_module}
    ziggurat = {
        "sasl": {"enabled": True, "protocol": "SASL_PLAINTEXT", "mechanism": "SCRAM-SHA-512", "jaas": credentials},
        "retry": {"enabled": True, "count": 1, "backoff-ms": 100},
    }
    batch, _, topics = routes(secure, tmp_path)
    route = batch | {"handler-fn": "h/on-batch-retry", "isolation-level": "read_committed", "thread-count": 1}
    write_config(tmp_path, secure.sasl, ziggurat, route)
    sent = zig_send(tmp_path, topics[0], "k", "ziggurat")
    assert sent.returncode == 0, sent.stderr
    zig = Zig(tmp_path / "config.edn", tmp_path / "record.jsonl")
    wait_until(lambda: zig.count() >= 2 or zig.process.poll() is not None, 60, "the message and its one retry")
    dead_letter = read_as_admin(secure, f"{loader.load(tmp_path / 'config.edn')['app-name']}-b-dead-letter")
    assert zig.stop() == 0, zig.output()
    assert sorted(r["retry_count"] for r in zig.records())[:2] == [0, 1]
    assert (dead_letter.key(), dead_letter.value()) == (b"k", b"ziggurat")


def read_as_admin(secure: SecureKafka, topic: str, timeout: float = 30) -> Any:
    """The first message of partition 0 of `topic`, read as the super user."""
    consumer = Consumer({**secure.admin_config(), "group.id": unique("reader"), "enable.auto.commit": False})
    try:
        consumer.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is not None and message.error() is None:
                return message
    finally:
        consumer.close()
    raise AssertionError(f"nothing on {topic} within {timeout} s")


def refused(folder: Path, topic: str) -> tuple[subprocess.CompletedProcess[str], float, str, int]:
    """`zig send` and `zig run` with a config the broker refuses: send's result and time, run's output and code."""
    started = time.monotonic()
    sent = zig_send(folder, topic, "k", "v")
    send_seconds = time.monotonic() - started
    zig = Zig(folder / "config.edn", folder / "record.jsonl")
    code = zig.wait(QUICK["default-api-timeout-ms"] / 1000 + 30)
    return sent, send_seconds, zig.output(), code


@pytest.mark.parametrize(("mechanism", "user"), [("SCRAM-SHA-512", SCRAM_USER), ("PLAIN", PLAIN_USER)])
def test_a_wrong_password_ends_run_and_send_at_once_without_showing_it(
    secure: SecureKafka, tmp_path: Path, mechanism: str, user: tuple[str, str]
):
    password = f"wrong-{user[1]}"
    batch, _, topics = routes(secure, tmp_path)
    write_config(tmp_path, secure.sasl, sasl((user[0], password), mechanism), batch)
    sent, send_seconds, output, code = refused(tmp_path, topics[0])
    expected = f"authentication failed at broker(s) {secure.sasl}: "
    assert sent.returncode == 1, sent.stdout + sent.stderr
    assert send_seconds < SEND_TIMEOUT_S
    assert sent.stderr.startswith(expected) and sent.stderr.count("\n") == 1, sent.stderr
    assert code == 1, output
    assert expected in output
    for text in (sent.stdout, sent.stderr, output):
        assert password not in text
        assert "Traceback" not in text


def test_a_bulk_send_with_a_wrong_password_says_so_instead_of_every_message_timing_out(
    secure: SecureKafka, tmp_path: Path
):
    batch, _, topics = routes(secure, tmp_path)
    write_config(tmp_path, secure.sasl, sasl((PLAIN_USER[0], "wrong-password"), "PLAIN"), batch)
    (tmp_path / "lines.txt").write_text("k\tv1\nk\tv2\n", encoding="utf-8")
    command = ["send", "b", topics[0], "--file", "lines.txt", "--timeout", "3"]
    sent = subprocess.run(
        [sys.executable, "-m", "zig_cli", *command], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert sent.returncode == 1, sent.stdout + sent.stderr
    assert sent.stderr.startswith(f"authentication failed at broker(s) {secure.sasl}: "), sent.stderr
    assert "wrong-password" not in sent.stdout + sent.stderr


def test_an_untrusted_broker_certificate_ends_run_and_send_naming_ssl_ca_location(secure: SecureKafka, tmp_path: Path):
    batch, _, topics = routes(secure, tmp_path)
    write_config(tmp_path, secure.tls, tls(secure, ca=secure.certs.other_ca), batch)
    sent, send_seconds, output, code = refused(tmp_path, topics[0])
    expected = (
        f"the TLS certificate of broker(s) {secure.tls} could not be verified with the CA certificates in "
        f"ssl-ca-location ({secure.certs.other_ca}): set :ssl ssl-ca-location to the CA that signed it"
    )
    assert sent.returncode == 1, sent.stdout + sent.stderr
    assert send_seconds < SEND_TIMEOUT_S
    assert sent.stderr.startswith(expected) and sent.stderr.count("\n") == 1, sent.stderr
    assert code == 1, output
    assert expected in output
    assert "Traceback" not in sent.stderr + output


# Every ACL a route with retry needs, but one: (what is left out, the words zig says for it).
FULL_GRANTS = {
    "origin READ": (ResourceType.TOPIC, "origin", AclOperation.READ),
    "group READ": (ResourceType.GROUP, "group", AclOperation.READ),
    "retry group READ": (ResourceType.GROUP, "group-retry", AclOperation.READ),
    "retry READ": (ResourceType.TOPIC, "retry", AclOperation.READ),
    "retry WRITE": (ResourceType.TOPIC, "retry", AclOperation.WRITE),
    "dead-letter WRITE": (ResourceType.TOPIC, "dead", AclOperation.WRITE),
}


def limited_route(secure: SecureKafka, folder: Path, left_out: str = "") -> dict[str, str]:
    """Topics and a group of their own, three messages on the origin topic, the limited principal granted every ACL
    of FULL_GRANTS but `left_out`, and a config of route `b` on them as that principal; returns the names."""
    names = {"origin": unique("acl-origin"), "retry": unique("acl-retry"), "dead": unique("acl-dead")}
    names["group"] = unique("acl-group")
    names["group-retry"] = f"{names['group']}-retry"
    secure.create_topics(names["origin"], names["retry"], names["dead"])
    secure.produce(names["origin"], 3)
    grants = [(kind, names[key], operation) for name, (kind, key, operation) in FULL_GRANTS.items() if name != left_out]
    secure.grant(f"User:{LIMITED_USER[0]}", *grants)
    route = {
        "origin-topic": names["origin"],
        "consumer-group-id": names["group"],
        "retry-topic": names["retry"],
        "dead-letter-topic": names["dead"],
    }
    write_config(folder, secure.sasl, sasl(LIMITED_USER, "PLAIN"), route)
    return names


@pytest.mark.parametrize(
    ("left_out", "message"),
    [
        ("origin READ", "not allowed to READ topic '{origin}' (origin topic)"),
        ("group READ", "not allowed to READ group '{group}' (consumer group)"),
        ("retry WRITE", "not allowed to WRITE topic '{retry}' (retry topic)"),
        ("dead-letter WRITE", "not allowed to WRITE topic '{dead}' (dead-letter topic)"),
    ],
)
def test_a_missing_acl_is_named_before_anything_is_consumed(
    secure: SecureKafka, tmp_path: Path, left_out: str, message: str
):
    names = limited_route(secure, tmp_path, left_out)
    zig = Zig(tmp_path / "config.edn", tmp_path / "record.jsonl")
    code = zig.wait(60)
    output = zig.output()
    assert code == 1, output
    assert f"route 'b': broker(s) {secure.sasl} refuse: {message.format(**names)}. Add ACLs" in output
    assert output.count("not allowed to") == 1, output  # only the one left out
    assert zig.records() == []
    assert secure.committed(names["group"], names["origin"]) is None


def test_the_full_grants_let_the_limited_principal_run(secure: SecureKafka, tmp_path: Path):
    """The ACLs the test above leaves one out of are enough: what failed there was the one missing."""
    names = limited_route(secure, tmp_path)
    zig = Zig(tmp_path / "config.edn", tmp_path / "record.jsonl")
    wait_until(lambda: zig.count() >= 3 or zig.process.poll() is not None, 60, "three messages handled")
    wait_until(lambda: secure.committed(names["group"], names["origin"]) == 3, 30, "offset 3 committed")
    assert zig.stop() == 0, zig.output()


def test_an_acl_revoked_while_running_stops_zig_naming_it(secure: SecureKafka, tmp_path: Path):
    names = limited_route(secure, tmp_path)
    zig = Zig(tmp_path / "config.edn", tmp_path / "record.jsonl")
    wait_until(lambda: zig.count() >= 3 or zig.process.poll() is not None, 60, "three messages handled")
    secure.revoke(f"User:{LIMITED_USER[0]}", ResourceType.TOPIC, names["origin"], AclOperation.READ)
    secure.produce(names["origin"], 1)
    code = zig.wait(60)
    output = zig.output()
    assert code == 1, output
    assert f"route 'b': not allowed to READ topic '{names['origin']}' (" in output
    assert max(record["offset"] for record in zig.records()) == 2  # the message written after it is not handled
