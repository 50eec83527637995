"""What brokers refuse zig as it is configured, in words that say what to change: its credentials, its trust in their
certificates, and the ACLs of the principal it connects as.

Start-up asks before anything is consumed (zig_cli.kafka.prepare_topics): a refused connection ends the wait for the
brokers at once, and each topic and group a route uses is described with the operations its principal may perform
(KIP-430), so a missing ACL is named before a message is read. Errors librdkafka reports while running get the same
words. No client is made here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from confluent_kafka import KafkaError

from zig_cli.errors import KafkaFatalError

# Codes of a connection no retry can fix: the credentials or the certificates have to change first.
AUTHENTICATION_CODES = frozenset({KafkaError._AUTHENTICATION, KafkaError.SASL_AUTHENTICATION_FAILED})
# librdkafka's prefix of a connection error ("sasl_plaintext://127.0.0.1:9092/bootstrap: ") and its suffix
# ("(after 312ms in state AUTH_REQ)"): the message names the brokers itself.
_BROKER_PREFIX = re.compile(r"^\w+://\S+: ")
_STATE_SUFFIX = re.compile(r"\s*\(after \d+ms in state \w+\)\s*$")
# What the broker answers a principal that may not even DESCRIBE the resource.
DENIED_CODES = {"topic": KafkaError.TOPIC_AUTHORIZATION_FAILED, "group": KafkaError.GROUP_AUTHORIZATION_FAILED}


def _reason(error: KafkaError) -> str:
    return _STATE_SUFFIX.sub("", _BROKER_PREFIX.sub("", str(error.str())))


def connection_refusal(error: KafkaError, props: Mapping[str, Any]) -> str | None:
    """Why no client with these settings can connect to their brokers until the settings change (credentials the
    broker refuses, a certificate zig cannot verify), as one line; None for errors a wait may fix."""
    servers = props.get("bootstrap.servers", "")
    code = error.code()
    if code in AUTHENTICATION_CODES:
        return (
            f"authentication failed at broker(s) {servers}: {_reason(error)} "
            "(check the :jaas username, password and mechanism of :sasl or :ssl)"
        )
    if code != KafkaError._SSL:
        return None
    if "certificate verify failed" in str(error.str()):
        ca = props.get("ssl.ca.location")
        where = f"the CA certificates in ssl-ca-location ({ca})" if ca else "the system's CA certificates"
        return (
            f"the TLS certificate of broker(s) {servers} could not be verified with {where}: set :ssl "
            "ssl-ca-location to the CA that signed it (and check that it names the host zig connects to)"
        )
    return f"TLS handshake with broker(s) {servers} failed: {_reason(error)}"


class Refusal:
    """The first error a client reports (its error_cb) that no wait can fix: credentials or a certificate refused.
    librdkafka keeps retrying such a connection and its requests end in timeouts; this says why at once.

    With `unreachable`, every bootstrap server failing to connect before any broker was ever up is such an error
    too (librdkafka's _ALL_BROKERS_DOWN after a _TRANSPORT or _RESOLVE error per server): for a one-shot command
    like `zig send`, not for zig run, which waits for brokers to come up."""

    def __init__(self, unreachable: bool = False) -> None:
        self.error: KafkaError | None = None
        self._watch_unreachable = unreachable
        self._failures: dict[str, str] = {}  # bootstrap server -> why connecting to it failed, first reason kept
        self._was_up = False
        self.unreachable = False

    @property
    def refused(self) -> bool:
        """True once something no wait can fix was reported: nothing queued will be delivered."""
        return self.error is not None or self.unreachable

    def on_error(self, error: KafkaError) -> None:
        code = error.code()
        if self.error is None and (code in AUTHENTICATION_CODES or code == KafkaError._SSL):
            self.error = error
        elif not self._watch_unreachable or self._was_up:
            return
        elif code in _CONNECTION_CODES:
            broker, _, why = str(error.str()).partition(": ")
            if not broker.endswith("/bootstrap") or _WAS_UP in why:
                self._was_up = True  # a broker answered once: a later outage is waited for, as librdkafka does
            else:
                server = broker.removesuffix("/bootstrap").rpartition("://")[2]
                self._failures.setdefault(server, _STATE_SUFFIX.sub("", why))
        elif code == KafkaError._ALL_BROKERS_DOWN:
            self.unreachable = True

    def check(self, props: Mapping[str, Any]) -> None:
        """Raise KafkaFatalError saying what to change, once a refusal has been reported."""
        if self.error is not None:
            raise KafkaFatalError(connection_refusal(self.error, props) or str(self.error.str()))
        if self.unreachable:
            servers = props.get("bootstrap.servers", "")
            order = [server.strip().rpartition("://")[2] for server in servers.split(",")]
            failed = sorted(self._failures.items(), key=lambda item: order.index(item[0]) if item[0] in order else 0)
            why = "; ".join(f"{server}: {reason}" for server, reason in failed)
            raise KafkaFatalError(
                f"cannot connect to any bootstrap server ({servers})"
                + (f": {why}" if why else "")
                + "; is the broker running, and are these its host and port?"
            )


# Errors librdkafka reports per broker connection: a refused or dropped connection, or a name that does not resolve.
_CONNECTION_CODES = frozenset({KafkaError._TRANSPORT, KafkaError._RESOLVE})
# How librdkafka ends the error of a connection that had been up ("... (after 5021ms in state UP)").
_WAS_UP = "in state UP"


@dataclass(frozen=True)
class Need:
    """An operation a route performs on a topic or a group, which an ACL must allow to its principal."""

    kind: str  # "topic" or "group"
    name: str
    operation: str  # an AclOperation's name: "READ", "WRITE"
    role: str  # what it is to the route: "origin topic", "dead-letter topic", ...


def route_needs(
    origin_topic: str | None, dead_letter_topic: str, retry_topic: str | None, group: str, retry_group: str | None
) -> list[Need]:
    """What a route's workers do: read the origin topic (when it is a name, not a regex) in their group, write
    dead letters, and, with retry on, write and read back the retry topic in the retry group."""
    needs = [Need("group", group, "READ", "consumer group")]
    if origin_topic is not None:
        needs.insert(0, Need("topic", origin_topic, "READ", "origin topic"))
    if retry_topic is not None and retry_group is not None:
        needs += [
            Need("topic", retry_topic, "WRITE", "retry topic"),
            Need("topic", retry_topic, "READ", "retry topic"),
            Need("group", retry_group, "READ", "retry consumer group"),
        ]
    needs.append(Need("topic", dead_letter_topic, "WRITE", "dead-letter topic"))
    return needs


def unmet(needs: Sequence[Need], answers: Mapping[tuple[str, str], Any]) -> list[Need]:
    """The needs the brokers' answers refuse. An answer is a description with `authorized_operations`, or the
    KafkaError describing it failed with. Only a refusal counts: a resource not described (missing, or the broker
    not answering in time) is judged by whatever uses it next, and a broker that does not report operations (None,
    as without KIP-430 or an authorizer that says nothing) is trusted."""
    refused = []
    for need in needs:
        answer = answers.get((need.kind, need.name))
        if isinstance(answer, KafkaError):
            if answer.code() == DENIED_CODES[need.kind]:
                refused.append(need)
            continue
        allowed = {operation.name for operation in getattr(answer, "authorized_operations", None) or ()}
        if allowed and need.operation not in allowed and "ALL" not in allowed:
            refused.append(need)
    return refused


def denied_message(route: str, servers: str, refused: Sequence[Need]) -> str:
    """One line naming every refused operation, and what grants it."""
    where = f"route {route!r}: " if route else ""
    operations: dict[tuple[str, str, str], list[str]] = {}  # one phrase per resource: "WRITE and READ topic 'x'"
    for need in refused:
        operations.setdefault((need.kind, need.name, need.role), []).append(need.operation)
    phrases = [
        f"not allowed to {' and '.join(ops)} {kind} {name!r} ({role})" for (kind, name, role), ops in operations.items()
    ]
    return (
        f"{where}broker(s) {servers} refuse: {'; '.join(phrases)}. Add ACLs allowing these "
        "to the principal zig connects as (the :jaas username, or the subject of the TLS client certificate)"
    )


def runtime_denial(error: KafkaError, topic: str, operation: str) -> str | None:
    """The words for an authorization error librdkafka reports while consuming (`operation` READ) or writing (WRITE)
    `topic`; None for other errors."""
    code = error.code()
    if code == KafkaError.TOPIC_AUTHORIZATION_FAILED:
        return f"not allowed to {operation} topic {topic!r} ({error.str()}); add an ACL allowing it"
    if code == KafkaError.GROUP_AUTHORIZATION_FAILED:
        return f"not allowed to READ its consumer group ({error.str()}); add an ACL allowing it"
    return None


def explained(error: KafkaError, topic: str, operation: str) -> KafkaError:
    """`error` with runtime_denial's words when it is an authorization error, else `error` itself."""
    denied = runtime_denial(error, topic, operation)
    return error if denied is None else KafkaError(error.code(), denied, fatal=error.fatal())
