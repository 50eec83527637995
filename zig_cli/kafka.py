"""The only module that knows librdkafka property names: client configs from a route, secret masking, checks.

A route's settings become properties through the `kafka` column of the settings table; zig's own keys never
reach librdkafka. Raw `kafka-properties` are passed through after librdkafka itself has accepted them.
"""

from __future__ import annotations

import concurrent.futures
import logging
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicCollection, TopicPartition
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from zig_cli import access, defaults, librdkafka, membership, security
from zig_cli.config import Config, Route, Value
from zig_cli.config import is_plain_topic as is_plain_topic  # config validates origin topics by the same rule
from zig_cli.config import subscription as subscription
from zig_cli.defaults import Section
from zig_cli.errors import KafkaFatalError, Problem, ZigError
from zig_cli.model import passed

logger = logging.getLogger(__name__)

MASK = "***"
_SECRETS = defaults.secret_properties()

# Properties zig sets itself to guarantee at-least-once delivery; a user may not override them.
CONSUMER_FIXED: Mapping[str, str] = {
    "enable.auto.offset.store": "false",  # an offset is stored only after its message's outcome is applied
    "enable.auto.commit": "true",  # ...and librdkafka commits what is stored, every commit-interval-ms
}
_FIXED_REASON = "zig sets it to commit only what has been handled (at-least-once)"


def is_secret(name: str) -> bool:
    """True for librdkafka properties whose values are never shown (defaults.secret_properties), also after a
    plugin's prefix: a plugin configures its own client with librdkafka's names behind its own."""
    parts = name.lower().split(".")
    return any(".".join(parts[start:]) in _SECRETS for start in range(len(parts)))


def mask(properties: Mapping[str, str]) -> dict[str, str]:
    return {k: MASK if is_secret(k) else v for k, v in properties.items()}


def _mapped(section: Section, values: Mapping[str, Value]) -> dict[str, str]:
    props: dict[str, str] = {}
    for setting in section.settings:
        if setting.kafka and setting.key in values:
            props[setting.kafka] = librdkafka.text(values[setting.key].value)
    return props


def security_properties(config: Config) -> dict[str, str]:
    """librdkafka's security settings from the enabled :ssl and :sasl sections, as Ziggurat resolves them."""
    return security.resolve(config.security).properties


def security_explained(config: Config) -> tuple[str, ...]:
    """How the security properties were made from the :ssl and :sasl sections, for `zig validate`."""
    return security.resolve(config.security).explained


def route_raw_properties(route: Route) -> dict[str, str]:
    """The librdkafka properties a route names itself: its kebab-case keys passed through, then kafka-properties."""
    return passed(route.own()) | (route["kafka-properties"] if "kafka-properties" in route.values else {})


# What a client needs to reach and authenticate to a cluster. Of a route's own properties only these reach the clients
# that are not its consumers (admin, retry and dead-letter producer, dead set): a consumer property there would only
# make librdkafka warn.
_CONNECTION_PREFIXES = (
    "security.protocol",
    "ssl.",
    "sasl.",
    "enable.ssl.",
    "enable.sasl.",
    "https.",
    "socket.",
    "broker.address.",
    "client.dns.",
)


def connects(name: str) -> bool:
    """True for a property that says how a client reaches and authenticates to its cluster."""
    return name.startswith(_CONNECTION_PREFIXES)


def connection_properties(config: Config, route: Route) -> dict[str, str]:
    """How every client on a route's cluster reaches and authenticates to it: the global :ssl and :sasl, then the
    route's own connection properties (a route's keys win over the global sections, as in Ziggurat), and its brokers.
    Every client zig makes on that cluster starts from this."""
    own = {name: value for name, value in route_raw_properties(route).items() if connects(name)}
    return security_properties(config) | own | {"bootstrap.servers": str(route["bootstrap-servers"])}


# What the consumer group protocol (KIP-848) moves to the broker: librdkafka refuses these with group.protocol=consumer.
BROKER_SIDE: Mapping[str, str] = {
    "session.timeout.ms": "the broker sets the session timeout (group.consumer.session.timeout.ms)",
    "heartbeat.interval.ms": "the broker sets the heartbeat interval (group.consumer.heartbeat.interval.ms)",
    "partition.assignment.strategy": "the broker assigns partitions (choose its assignor with group.remote.assignor)",
    "group.protocol.type": "only the classic protocol has protocol types",
}


def uses_consumer_protocol(route: Route) -> bool:
    """True when the route's consumers join their group with the consumer protocol (KIP-848)."""
    return "group-protocol" in route.values and route["group-protocol"] == "consumer"


def consumer_properties(config: Config, route: Route, thread: int | str = 0) -> dict[str, str]:
    """The full librdkafka consumer config of one of a route's consumers: `thread` fills its group-instance-id.
    With the consumer protocol, what the broker decides is left out (a value set anyway is a config problem)."""
    props = connection_properties(config, route)
    props.update(_mapped(route.table, route.own()))
    props.update(route_raw_properties(route))
    props.update(CONSUMER_FIXED)
    if uses_consumer_protocol(route):
        props = {k: v for k, v in props.items() if k not in BROKER_SIDE}
    if membership.KEY in route.values:
        props["group.instance.id"] = membership.instance_id(route[membership.KEY], route.name, thread)
    return props


def _route_problems(route: Route) -> list[tuple[str, str]]:
    """(key path, reason) for raw properties zig sets itself, and for settings the route's group protocol does not
    use."""
    own = route["kafka-properties"] if "kafka-properties" in route.values else {}
    raw = f"{route.path}.kafka-properties"
    found = [(f"{raw}.{prop}", _FIXED_REASON) for prop in sorted(set(own) & set(CONSUMER_FIXED))]
    found += [
        (f"{route.path}.{key}", _FIXED_REASON) for key, value in route.own().items() if value.passed in CONSUMER_FIXED
    ]
    if uses_consumer_protocol(route):
        unused = "not used with group-protocol consumer: "
        for setting in route.table.settings:
            value = route.values.get(setting.key)
            reason = BROKER_SIDE.get(setting.kafka or "")
            if reason and value is not None and value.origin != "default":
                found.append((f"{route.path}.{setting.key}", unused + reason))
        found += [(f"{raw}.{prop}", unused + BROKER_SIDE[prop]) for prop in sorted(set(own) & set(BROKER_SIDE))]
        found += [
            (f"{route.path}.{key}", unused + BROKER_SIDE[value.passed])
            for key, value in route.own().items()
            if value.passed in BROKER_SIDE
        ]
    return found


# How long the broker may hold a retry consumer's fetch when it has nothing new. librdkafka keeps one fetch in
# flight per broker, so a partition resumed when its next retry falls due waits for that fetch to come back: a
# retry is late by up to this much. A user's own fetch.wait.max.ms still wins.
RETRY_FETCH_WAIT_MS = 50


def retry_consumer_properties(consumer: Mapping[str, str]) -> dict[str, str]:
    """The consumer config of a route's retry worker: its own group, from the earliest retry, short fetch waits."""
    props = {"fetch.wait.max.ms": str(RETRY_FETCH_WAIT_MS)} | dict(consumer)
    # The retry topic's group starts from the earliest message: a retry written before it first joined counts.
    return props | {"group.id": f"{consumer['group.id']}-retry", "auto.offset.reset": "earliest"}


def producer_properties(config: Config, route: Route) -> dict[str, str]:
    """The full librdkafka producer config of a route's :producer block: on the route's own cluster it connects as the
    route's consumers do; its own keys win."""
    producer = route.section("producer")
    servers = producer.get("bootstrap-servers")
    on_route_cluster = servers is None or servers.value == route["bootstrap-servers"]
    props = connection_properties(config, route) if on_route_cluster else security_properties(config)
    props.update(_mapped(defaults.PRODUCER, producer))
    props.update(passed(producer))
    props.update(producer["kafka-properties"].value if "kafka-properties" in producer else {})
    return props


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def property_problems(config: Config) -> tuple[list[Problem], list[Problem]]:
    """Let librdkafka itself judge each client config, without connecting; returns (problems, warnings). What it
    refuses in the global :ssl and :sasl sections is reported once, at the section, not at every route."""
    problems: list[Problem] = []
    warnings: list[Problem] = []
    shared = _SharedRefusal(config)
    for route in config.routes:
        checks: list[tuple[str, str, dict[str, str]]] = [
            ("consumer", f"{route.path}.kafka-properties", consumer_properties(config, route))
        ]
        problems.extend(Problem(config.file, path, reason) for path, reason in _route_problems(route))
        if route.has_producer:
            checks.append(("producer", f"{route.path}.producer.kafka-properties", producer_properties(config, route)))
        for role, path, props in checks:
            error, notes = _try_client(role, props)
            hide = _masker(props)
            if error and not shared.refused(error):
                problems.append(Problem(config.file, path, hide(f"librdkafka refuses the {role} config: {error}")))
            warnings.extend(
                Problem(config.file, path, hide(note), severity="warning") for note in notes if not shared.warned(note)
            )
    problems.extend(shared.problems)
    warnings.extend(shared.warnings)
    return problems, warnings


def raw_property_problems(file: str, clients: Sequence[tuple[str, str, Mapping[str, Any]]]) -> list[Problem]:
    """What librdkafka refuses among the raw properties a file gives a route's clients (path, role, properties),
    judged on their own: asked while zig's own settings have problems, so that both come in one pass. Names
    librdkafka does not know are left out (zig reports them, with a did-you-mean)."""
    problems: list[Problem] = []
    for path, role, raw in clients:
        props = {k: librdkafka.text(v) for k, v in raw.items() if isinstance(k, str) and librdkafka.knows(k)}
        if not props:
            continue
        needed = {"group.id": "zig-validate"} if role == "consumer" else {}
        error, _ = _try_client(role, needed | props)
        if error:
            problems.append(Problem(file, path, _masker(props)(f"librdkafka refuses the {role} config: {error}")))
    return problems


# How librdkafka's refusal begins, naming the kind of client: the same refusal reads alike for both kinds without it.
_CLIENT_KIND = re.compile(r"^Failed to create (consumer|producer): ")
# A librdkafka property name in its messages.
_PROPERTY = re.compile(r"[a-z][a-z0-9]*(?:\.[a-z0-9]+)+")


class _SharedRefusal:
    """What librdkafka says of the global :ssl and :sasl properties alone. The clients of every route carry them, so
    each would repeat it; it is reported once, at the section whose property it names (the first enabled one when
    it names none of theirs)."""

    def __init__(self, config: Config) -> None:
        self.problems: list[Problem] = []
        self.warnings: list[Problem] = []
        props = security_properties(config)
        error, notes = _try_client("producer", props) if props else ("", [])
        self._error = _CLIENT_KIND.sub("", error)
        self._notes = set(notes)
        self._warned: set[str] = set()
        self._config = config
        self._said = False
        self._hide = _masker(props)

    def refused(self, error: str) -> bool:
        """True when a route's refusal is the sections' own (reported once, by this)."""
        if not self._error or _CLIENT_KIND.sub("", error) != self._error:
            return False
        if not self._said:
            self._said = True
            message = self._hide(f"librdkafka refuses these settings: {self._error}")
            self.problems.append(Problem(self._config.file, self._path(self._error), message))
        return True

    def warned(self, note: str) -> bool:
        """True when a route's warning is about the sections' properties (reported once, by this)."""
        if note not in self._notes:
            return False
        if note not in self._warned:
            self._warned.add(note)
            self.warnings.append(Problem(self._config.file, self._path(note), self._hide(note), severity="warning"))
        return True

    def _path(self, text: str) -> str:
        named = (security.section_of(self._config.security, name) for name in _PROPERTY.findall(text))
        section = next((name for name in named if name), None) or security.enabled(self._config.security)[0]
        return f"{self._config.root}.{section}" if self._config.root else section


def _masker(props: Mapping[str, str]) -> Callable[[str], str]:
    """Mask in librdkafka's text every value of a secret property: its messages quote the values they refuse, and
    one value may be both a password and another property's bad value."""
    values = sorted({v for k, v in props.items() if is_secret(k) and v}, key=len, reverse=True)
    if not values:
        return lambda text: text
    # Whole tokens only, so a one-letter password does not blank every such letter of the message.
    pattern = re.compile("|".join(rf"(?<!\w){re.escape(v)}(?!\w)" for v in values))
    return lambda text: pattern.sub(MASK, text)


def _try_client(role: str, props: Mapping[str, str]) -> tuple[str, list[str]]:
    """Build (and close) a client that never connects; returns librdkafka's error and its config warnings."""
    collect = _Collect()
    logger = logging.getLogger(f"zig_cli.kafka.check.{role}")
    logger.propagate = False
    logger.addHandler(collect)
    conf: dict[str, Any] = {k: v for k, v in props.items() if k != "bootstrap.servers"}
    conf["logger"] = logger
    try:
        if role == "consumer":
            consumer = Consumer(conf)
            consumer.close()
        else:
            producer = Producer(conf)
            producer.poll(0)
    except KafkaException as error:
        return unwrap(error)[1], []
    finally:
        logger.removeHandler(collect)
    notes = [m.split("]: ", 1)[-1] for m in collect.messages if "CONFWARN" in m and "bootstrap.servers" not in m]
    return "", notes


# --- running: clients, topics and errors ---

# Errors no retry can fix: the process stops with the cause instead of spinning.
_FATAL_CODES = {
    KafkaError.TOPIC_AUTHORIZATION_FAILED,
    KafkaError.GROUP_AUTHORIZATION_FAILED,
    KafkaError.CLUSTER_AUTHORIZATION_FAILED,
    KafkaError.SASL_AUTHENTICATION_FAILED,
    KafkaError._AUTHENTICATION,
    KafkaError._INVALID_ARG,
}
_MISSING_TOPIC_CODES = {KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError._UNKNOWN_TOPIC}
# Refusals that retrying cannot cure, because they come from the route's own settings: what to change.
_SETTING_REFUSED = {
    KafkaError.INVALID_SESSION_TIMEOUT: (
        "the broker refuses the route's session-timeout-ms-config: set it between the broker's "
        "group.min.session.timeout.ms and group.max.session.timeout.ms (Apache Kafka's defaults: 6000 and 1800000)"
    ),
}


# What a group's coordinator answers while it moves or loads the offsets topic (a fresh Apache Kafka does, for seconds):
# librdkafka hands these back from committed() and from describing a group instead of asking again; zig asks again.
COORDINATOR_BUSY = frozenset(
    {KafkaError.NOT_COORDINATOR, KafkaError.COORDINATOR_LOAD_IN_PROGRESS, KafkaError.COORDINATOR_NOT_AVAILABLE}
)
COORDINATOR_RETRY_S = 0.1


def committed(consumer: Any, partitions: list[TopicPartition], timeout: float) -> list[TopicPartition]:
    """The group's committed offsets of these partitions, asking again while the coordinator is busy, for up to
    `timeout` seconds in all; other errors (and a coordinator still busy at the end) raise KafkaException."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            left = max(deadline - time.monotonic(), COORDINATOR_RETRY_S)
            offsets: list[TopicPartition] = consumer.committed(partitions, timeout=left)
            return offsets
        except KafkaException as error:
            if unwrap(error)[0].code() not in COORDINATOR_BUSY or time.monotonic() + COORDINATOR_RETRY_S >= deadline:
                raise
        time.sleep(COORDINATOR_RETRY_S)


def unwrap(exception: KafkaException) -> tuple[KafkaError, str]:
    """The KafkaError a KafkaException carries, and its text. librdkafka puts the error first in `args`; an exception
    raised with a plain message gives a KafkaError of code _FAIL with that message."""
    carried = exception.args[0] if exception.args else None
    if isinstance(carried, KafkaError):
        return carried, str(carried.str())
    text = str(carried) if carried is not None else "unknown Kafka error"
    return KafkaError(KafkaError._FAIL, text), text


def is_fatal(error: KafkaError, plain_topic: bool) -> bool:
    """True for errors that stop the process: fatal ones, auth and ACL failures, a subscribed topic that is gone."""
    if error.fatal():
        return True
    code = error.code()
    return code in _FATAL_CODES or code in _SETTING_REFUSED or (plain_topic and code in _MISSING_TOPIC_CODES)


def fatal_text(error: KafkaError) -> str:
    """What a fatal error says, and for a refused setting, which one to change."""
    hint = _SETTING_REFUSED.get(error.code())
    return f"{error.str()}: {hint}" if hint else str(error.str())


def new_consumer(props: Mapping[str, str], callbacks: Mapping[str, Callable[..., None]]) -> Consumer:
    """A consumer with zig's callbacks (error_cb, on_commit) and its log lines routed to Python logging."""
    conf: dict[str, Any] = dict(props) | dict(callbacks)
    conf["logger"] = _librdkafka_logger
    return Consumer(conf)


def new_producer(props: Mapping[str, Any]) -> Producer:
    conf: dict[str, Any] = dict(props)
    conf["logger"] = _librdkafka_logger
    return Producer(conf)


# Kafka's protocol numbers partitions with a signed 32-bit integer; librdkafka raises OverflowError above it.
MAX_PARTITION = 2**31 - 1
# librdkafka's own default of message.max.bytes: the largest record a producer writes unless told otherwise.
DEFAULT_MESSAGE_MAX_BYTES = 1_000_000


def partition_problem(partition: int) -> str | None:
    """What is wrong with a partition number a user gave, or None; -1 (librdkafka's "any") is not accepted."""
    if 0 <= partition <= MAX_PARTITION:
        return None
    return f"partition must be from 0 to {MAX_PARTITION}, got {partition}"


def produce_refusal(
    error: KafkaError, topic: str, partition: int | None, size: int, producer_props: Mapping[str, Any]
) -> str:
    """Why librdkafka would not queue a message (a KafkaException from produce), in words that say what to change."""
    code = error.code()
    if code == KafkaError.MSG_SIZE_TOO_LARGE:
        limit = producer_props.get("message.max.bytes", DEFAULT_MESSAGE_MAX_BYTES)
        return (
            f"{size:,} bytes of key and value: too large for the producer's message.max.bytes ({limit}, "
            "which counts headers and framing too)"
        )
    if code == KafkaError._UNKNOWN_PARTITION:
        return f"topic {topic!r} has no partition {partition}"
    return str(error.str())


def admin_properties(config: Config, route: Route) -> dict[str, str]:
    """Enough to reach the route's cluster: its brokers and how to connect (the admin client, the dead set)."""
    return connection_properties(config, route)


def forwarding_producer_properties(config: Config, route: Route) -> dict[str, str]:
    """The producer for a route's retry and dead-letter writes: the route's :producer settings (so a larger
    message.max.bytes or a compression applies to forwarded copies too), on the route's own cluster and connecting
    as its consumers do, with every write acknowledged by all in-sync replicas.

    Workers do not wait for these writes batch by batch, so a 5 ms linger costs no handling time, and it lets the few
    records of many batches share a request instead of each batch sending one of its own.
    """
    props = {"linger.ms": "5"}
    if route.has_producer:
        props |= {k: v for k, v in producer_properties(config, route).items() if not connects(k)}
    return props | connection_properties(config, route) | {"acks": "all"}


# While start-up waits for the brokers, it asks in steps this short: librdkafka's calls hold the main thread, and a
# stop signal's handler runs only between them. What it waits for is logged at once, then every few seconds.
WAIT_STEP_S = 0.5
WAIT_LOG_EVERY_S = 5.0


class _StartupWait:
    """The wait for one route's brokers at start-up: ends with the stop event, or with the timeout."""

    def __init__(self, route: str, servers: str, timeout_s: float, stop: threading.Event | None) -> None:
        self.route = route
        self.servers = servers
        self.timeout_s = timeout_s
        self.stop = stop or threading.Event()
        self.started = time.monotonic()
        self.deadline = self.started + timeout_s
        self.next_log = self.started

    def step(self) -> float:
        """How long the next call may block."""
        return max(0.001, min(WAIT_STEP_S, self.deadline - time.monotonic()))

    def not_yet(self, reason: str) -> None:
        """One step found nothing: raise if stopped or out of time, else log (now and then) and go on."""
        now = time.monotonic()
        if self.stop.is_set():
            raise ZigError(f"stopped while waiting for broker(s) {self.servers} ({now - self.started:.0f} s): {reason}")
        if now >= self.deadline:
            raise KafkaFatalError(f"cannot reach broker(s) {self.servers} within {self.timeout_s:g} s: {reason}")
        if now >= self.next_log:
            waited = (self.servers, now - self.started, self.timeout_s, reason)
            if self.route:
                logger.warning(
                    "route=%s waiting for broker(s) %s (%.0f s of %.0f s): %s",
                    self.route,
                    *waited,
                    extra={"route": self.route},
                )
            else:
                logger.warning("waiting for broker(s) %s (%.0f s of %.0f s): %s", *waited)
            self.next_log = now + WAIT_LOG_EVERY_S


class _LastComplaint(logging.Handler):
    """Keeps librdkafka's last warning ("Connect to ... failed: Connection refused"), which says more than the
    exception ("Broker transport failure")."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.text = ""

    def emit(self, record: logging.LogRecord) -> None:
        self.text = record.getMessage().split("]: ", 1)[-1]


def _retriable(error: KafkaError) -> bool:
    """A broker not answering (yet) is worth waiting for; auth failures, fatal and invalid requests are not."""
    return not error.fatal() and error.code() not in _FATAL_CODES


def prepare_topics(
    admin_props: Mapping[str, str],
    origin_topic: str,
    needed: list[str],
    timeout_s: float,
    may_create_origin: bool,
    route: str = "",
    stop: threading.Event | None = None,
    needs: Sequence[access.Need] = (),
) -> None:
    """Check the origin topic exists, create the retry and dead-letter topics that are missing, and check that the
    brokers allow what the route does (`needs`, see access.route_needs) to the principal zig connects as.

    Run before anything is consumed, so a broker that refuses (credentials, certificates, ACLs, policies) stops zig
    with the reason up front. Brokers that do not answer are waited for up to `timeout_s`, in short steps that honour
    `stop`.
    """
    complaints = logging.getLogger("zig_cli.kafka.startup")
    complaints.propagate = False  # kept for the waiting lines, not logged one by one (several a second)
    last = _LastComplaint()
    refusal = access.Refusal()
    conf: dict[str, Any] = dict(admin_props) | {"logger": complaints, "error_cb": refusal.on_error}
    admin = AdminClient(conf)
    servers = admin_props.get("bootstrap.servers", "")
    wait = _StartupWait(route, servers, timeout_s, stop)
    complaints.addHandler(last)
    try:
        while True:
            try:
                metadata = admin.list_topics(timeout=wait.step())
                break
            except KafkaException as exception:
                error, text = unwrap(exception)
                if not _retriable(error):
                    refused = access.connection_refusal(error, admin_props)
                    raise KafkaFatalError(refused or f"cannot read topics from {servers}: {text}") from None
                admin.poll(0)  # serves librdkafka's log lines to `last`, its errors to `refusal`
                refusal.check(admin_props)
                wait.not_yet(last.text or text)
    finally:
        complaints.removeHandler(last)
    denied = access.unmet(needs, _described(admin, needs, wait))
    if denied:
        raise KafkaFatalError(access.denied_message(route, servers, denied))
    topics = metadata.topics
    partitions = 1
    if is_plain_topic(origin_topic):
        found = topics.get(origin_topic)
        if found is None or found.error is not None:
            if not may_create_origin:
                raise KafkaFatalError(
                    f"origin topic {origin_topic!r} does not exist on {servers} (create it, or set "
                    "allow.auto.create.topics=true in kafka-properties)"
                )
        else:
            partitions = max(1, len(found.partitions))
    missing = [name for name in needed if name not in topics or topics[name].error is not None]
    _create(admin, missing, partitions, wait)


def _described(admin: AdminClient, needs: Sequence[access.Need], wait: _StartupWait) -> dict[tuple[str, str], Any]:
    """Each topic and group of `needs`, described with the operations the principal may perform on it (KIP-430):
    (kind, name) -> its description, or the KafkaError describing it failed with."""
    answers: dict[tuple[str, str], Any] = {}
    topics = list(dict.fromkeys(need.name for need in needs if need.kind == "topic"))
    groups = list(dict.fromkeys(need.name for need in needs if need.kind == "group"))
    if topics:
        futures = admin.describe_topics(
            TopicCollection(topics), include_authorized_operations=True, request_timeout=wait.timeout_s
        )
        answers |= {("topic", name): _settled(future, wait, f"topic {name!r}") for name, future in futures.items()}
    while groups:
        futures = admin.describe_consumer_groups(
            groups, include_authorized_operations=True, request_timeout=wait.timeout_s
        )
        answers |= {("group", name): _settled(future, wait, f"group {name!r}") for name, future in futures.items()}
        groups = [name for name in groups if _code(answers["group", name]) in COORDINATOR_BUSY]
        if groups:
            wait.not_yet(f"the coordinator of group {groups[0]!r} is not ready yet")
            wait.stop.wait(wait.step())
    return answers


def _code(answer: Any) -> int | None:
    return answer.code() if isinstance(answer, KafkaError) else None


def _settled(future: concurrent.futures.Future[Any], wait: _StartupWait, what: str) -> Any:
    """A description future's result, or the KafkaError it failed with; waits in steps that honour the stop event."""
    while True:
        try:
            return future.result(wait.step())
        except concurrent.futures.TimeoutError:
            wait.not_yet(f"no answer yet to describing {what}")
        except KafkaException as exception:
            return unwrap(exception)[0]


def create_topics(
    admin_props: Mapping[str, str],
    names: list[str],
    partitions: int,
    timeout_s: float,
    stop: threading.Event | None = None,
) -> None:
    """Create topics that do not exist yet (an existing one is left as it is), as start-up creates the retry and
    dead-letter topics: waiting up to `timeout_s` for brokers that do not answer, in short steps that honour `stop`."""
    conf: dict[str, Any] = dict(admin_props) | {"logger": _librdkafka_logger}
    wait = _StartupWait("", admin_props.get("bootstrap.servers", ""), timeout_s, stop)
    _create(AdminClient(conf), names, partitions, wait)


def _create(admin: AdminClient, names: list[str], partitions: int, wait: _StartupWait) -> None:
    """The one way zig creates topics; one that already exists counts as created."""
    if not names:
        return
    futures = admin.create_topics([NewTopic(name, partitions) for name in names], request_timeout=wait.timeout_s)
    for name, future in futures.items():
        while True:
            try:
                future.result(wait.step())
                logger.info("created topic %s with %d partition(s)", name, partitions)
                break
            except concurrent.futures.TimeoutError:
                wait.not_yet(f"no answer yet to creating topic {name!r}")
            except KafkaException as exception:
                error, text = unwrap(exception)
                if error.code() != KafkaError.TOPIC_ALREADY_EXISTS:
                    raise KafkaFatalError(f"cannot create topic {name!r} on {wait.servers}: {text}") from None
                break


_librdkafka_logger = logging.getLogger("zig_cli.librdkafka")
