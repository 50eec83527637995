"""THE table of settings: every key zig understands, its type, default, and the librdkafka property it becomes.

Validation, `zig validate`'s summary, `zig config defaults` and the README's settings table are all derived from
the sections below; nothing else in zig may declare a default.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Literal

Kind = Literal["str", "int", "bool", "float", "choice", "deserializer", "serializer", "properties"]
RouteKind = Literal["batch", "stream"]
Scalar = str | int | bool | float

BYTE_ARRAY_DESERIALIZER = "org.apache.kafka.common.serialization.ByteArrayDeserializer"
STRING_SERIALIZER = "org.apache.kafka.common.serialization.StringSerializer"

# Codec names zig implements, and the Java class names Ziggurat configs use for them.
DESERIALIZERS: Mapping[str, str] = {
    "bytes": "bytes",
    "string": "string",
    "json": "json",
    BYTE_ARRAY_DESERIALIZER: "bytes",
    "org.apache.kafka.common.serialization.StringDeserializer": "string",
    # Kafka Streams serdes, as a Ziggurat stream route's default-key-serde / default-value-serde name them.
    "org.apache.kafka.common.serialization.Serdes$ByteArraySerde": "bytes",
    "org.apache.kafka.common.serialization.Serdes$StringSerde": "string",
}
SERIALIZERS: Mapping[str, str] = {
    "bytes": "bytes",
    "string": "string",
    "json": "json",
    "org.apache.kafka.common.serialization.ByteArraySerializer": "bytes",
    STRING_SERIALIZER: "string",
}
PROTOBUF_PREFIX = "protobuf:"


@dataclass(frozen=True)
class Setting:
    """One key: how it is typed and checked, its default, and where it goes."""

    key: str
    kind: Kind
    default: Scalar | None
    description: str
    mandatory: bool = False
    kafka: str | None = None  # the librdkafka property it becomes; None for zig's own keys
    choices: tuple[str, ...] = ()
    minimum: int | None = None
    maximum: int | None = None
    aliases: tuple[str, ...] = ()  # other spellings accepted in config files (Ziggurat's variants)
    secret: bool = False
    default_text: str = ""  # how to show a default that is derived rather than fixed


@dataclass(frozen=True)
class Section:
    """A map in the config file: its settings, the nested sections it may hold, and Ziggurat keys it tolerates."""

    name: str
    title: str
    settings: tuple[Setting, ...]
    children: Mapping[str, Section] = field(default_factory=dict)
    # Ziggurat keys zig reads but does not use: key -> what zig does instead (reported as a warning).
    ignored: Mapping[str, str] = field(default_factory=dict)
    # A Ziggurat section zig reads only in part: what zig does instead of any key the table does not list (one
    # warning naming them, never an error).
    tolerates: str = ""
    routes: RouteKind | None = None  # a map of user-named routes of this kind, each shaped like the child "*"
    optional: bool = False  # checked only when the file has it: a route without :producer has no producer
    # Ziggurat passed any other key of this map to the Kafka client: a kebab-case key that librdkafka knows as a
    # property (`isolation-level` is isolation.level) is passed on to it.
    passes_through: bool = False
    # Where a root section's values go: the zig process's own settings (Config.operations), every Kafka client's
    # (Config.security), or every route's, filling what the route's section of the same name leaves unset.
    scope: Literal["process", "clients", "routes"] = "process"

    def setting(self, key: str) -> Setting | None:
        for setting in self.settings:
            if key == setting.key or key in setting.aliases:
                return setting
        return None

    def known_keys(self) -> list[str]:
        return [s.key for s in self.settings] + list(self.children)

    def find(self, path: str) -> Setting | None:
        """The setting at a dotted key path inside this section ("producer.acks"), or None."""
        *parents, key = path.split(".")
        section: Section | None = self
        for name in parents:
            section = section.children.get(name) if section is not None else None
        return section.setting(key) if section is not None else None


# A retry may wait no longer than Kafka keeps it by default (retention.ms): it could be deleted before it is due.
_WEEK_MS = 604_800_000
# librdkafka's own limits for the properties zig keys map to.
_SESSION_TIMEOUT_MAX_MS = 3_600_000
_DAY_MS = 86_400_000
# Each thread is a consumer with its own connections and librdkafka threads.
_THREADS_MAX = 1000
# zig's own waits on a broker call; a stop waits for the one in hand.
_API_TIMEOUT_MAX_MS = 3_600_000


def _retry_settings(route_override: bool) -> tuple[Setting, ...]:
    inherit = "the global retry setting" if route_override else ""

    def text(fixed: str) -> str:
        return inherit or fixed

    return (
        Setting(
            "enabled",
            "bool",
            None if route_override else False,  # Ziggurat's default; a failed message is dead-lettered, never lost
            "Retry failed messages through the retry topic; when false a message to retry (or whose handler raised) "
            "goes to the dead-letter topic",
            default_text=text(""),
        ),
        Setting(
            "count",
            "int",
            None if route_override else 5,
            "Retries before a message goes to the dead-letter topic",
            minimum=0,
            maximum=10_000,
            default_text=text(""),
        ),
        Setting(
            "type",
            "choice",
            None if route_override else "linear",
            "Backoff between retries: linear (backoff-ms each time) or exponential ((2^n - 1) * backoff-ms)",
            choices=("linear", "exponential"),
            default_text=text(""),
        ),
        Setting(
            "backoff-ms",
            "int",
            None if route_override else 1000,
            "Base delay before a retried message is handled again",
            minimum=0,
            maximum=_WEEK_MS,
            default_text=text(""),
        ),
        Setting(
            "max-backoff-ms",
            "int",
            None if route_override else 3_600_000,
            "Upper bound of the exponential backoff",
            minimum=0,
            maximum=_WEEK_MS,
            default_text=text(""),
        ),
        Setting(
            "max-held-bytes",
            "int",
            None if route_override else 67_108_864,
            "Bytes (keys and values) of not-yet-due retries the retry worker holds in memory before it pauses their "
            "partitions until they fall due",
            minimum=1,
            maximum=68_719_476_736,  # 64 GiB: more than any machine zig runs on should hold for retries
            default_text=text(""),
        ),
    )


RETRY = Section("retry", "Retry (global)", _retry_settings(route_override=False), scope="routes")
ROUTE_RETRY = Section("route-retry", "Retry (per-route override)", _retry_settings(route_override=True))

PRODUCER = Section(
    "producer",
    "Producer (a route's :producer)",
    (
        Setting(
            "bootstrap-servers",
            "str",
            None,
            "Kafka brokers for this producer, host:port[,host:port]",
            kafka="bootstrap.servers",
            default_text="the route's bootstrap-servers",
        ),
        Setting(
            "acks",
            "choice",
            "all",
            "Acknowledgements the leader waits for",
            kafka="acks",
            choices=("all", "-1", "0", "1"),
        ),
        Setting(
            "retries-config",
            "int",
            2_147_483_647,
            "Times a failed produce request is retried",
            kafka="retries",
            minimum=0,
            maximum=2_147_483_647,
            aliases=("retries",),
        ),
        Setting(
            "enable-idempotence",
            "bool",
            False,
            "Exactly-once, in-order writes per partition",
            kafka="enable.idempotence",
        ),
        Setting(
            "max-in-flight-requests-per-connection",
            "int",
            5,
            "Unacknowledged requests per connection",
            kafka="max.in.flight.requests.per.connection",
            minimum=1,
            maximum=1_000_000,
        ),
        Setting(
            "linger-ms",
            "int",
            5,
            "Time to wait for more messages before sending a batch",
            kafka="linger.ms",
            minimum=0,
            maximum=900_000,
        ),
        Setting(
            "compression-type",
            "choice",
            "none",
            "Compression of produced batches",
            kafka="compression.type",
            choices=("none", "gzip", "snappy", "lz4", "zstd"),
        ),
        Setting(
            "key-serializer-class",
            "serializer",
            STRING_SERIALIZER,
            "How keys are encoded: string (UTF-8), bytes or json; Java class names are mapped",
            aliases=("key-serializer-class-config", "key-serializer"),
        ),
        Setting(
            "value-serializer-class",
            "serializer",
            STRING_SERIALIZER,
            "How values are encoded: string (UTF-8), bytes or json; Java class names are mapped",
            aliases=("value-serializer-class-config", "value-serializer"),
        ),
        Setting(
            "kafka-properties",
            "properties",
            None,
            "Any other librdkafka producer property, by its own name; checked at validation",
        ),
    ),
    optional=True,
    passes_through=True,
)

_HANDLER_TEXT = 'Dotted path of the handler, "module/function" or "module:function"'
_DESERIALIZER_TEXT = "decoded as bytes, string (UTF-8), json or protobuf:<message class>; Java class names are mapped"
# A Ziggurat stream route names its deserializers as Kafka Streams serdes.
_SERDE_TEXT = " (Kafka Streams serdes too: Serdes$StringSerde is string, Serdes$ByteArraySerde bytes)"
_ROUTE_TOPICS = (
    Setting(
        "retry-topic",
        "str",
        None,
        "Topic that holds messages waiting for a retry",
        default_text="<app-name>-<route>-retry",
    ),
    Setting(
        "dead-letter-topic",
        "str",
        None,
        "Topic that receives messages that will not be retried",
        default_text="<app-name>-<route>-dead-letter",
    ),
)

# Kafka Streams settings a Ziggurat stream route may carry; zig consumes with plain consumers, so they mean nothing.
_STREAMS_ONLY = "a Kafka Streams setting; zig consumes with plain consumers and ignores it"
_STREAM_IGNORED = {
    "changelog-topic-replication-factor": _STREAMS_ONLY,
    "stream-thread-exception-response": _STREAMS_ONLY,
    "buffered-records-per-partition": _STREAMS_ONLY,
    "upgrade-from": _STREAMS_ONLY,
    "key-deserializer-encoding": "the string deserializer always decodes UTF-8",
    "value-deserializer-encoding": "the string deserializer always decodes UTF-8",
    "deserializer-encoding": "the string deserializer always decodes UTF-8",
    "consumer-type": "zig has one consumer type",
    "channels": "channels are not supported; the route's handler-fn handles every message",
    "input-topics": "stream joins are not supported; use origin-topic",
    "join-cfg": "stream joins are not supported",
}

# librdkafka stops prefetching a partition whose local queue is full and looks again only after this long; its own
# default of 1000 ms stalls a worker draining a backlog for most of a second each time the queue fills.
_FETCH_QUEUE_BACKOFF = Setting(
    "fetch-queue-backoff-ms",
    "int",
    100,
    "Wait before prefetching again once the consumer's local queue is full (librdkafka's 1000 ms stalls backlogs)",
    kafka="fetch.queue.backoff.ms",
    minimum=0,
    maximum=300_000,
)

# The consumer group protocol (KIP-848's `consumer` moves the session, heartbeats and assignment to the broker)
# and static membership: what a route's consumers tell the group coordinator about themselves.
_GROUP_PROTOCOL = Setting(
    "group-protocol",
    "choice",
    "classic",
    "Consumer group protocol: classic, or consumer (KIP-848, Kafka 4.0+: the broker assigns partitions "
    "incrementally and sets the session timeout and heartbeats, so session-timeout-ms-config and "
    "partition.assignment.strategy are refused with it)",
    kafka="group.protocol",
    choices=("classic", "consumer"),
)
_GROUP_INSTANCE_ID = Setting(
    "group-instance-id",
    "str",
    None,
    "Static membership: each consumer's id in its group, a template where {thread} is the consumer thread's index "
    "(required with more than one thread; the retry worker's is `retry`), {route} the route's name, and $NAME or "
    '${NAME} an environment variable, e.g. "orders-$HOSTNAME-{thread}"; a consumer restarted with the same id '
    "within the session timeout gets its partitions back without a rebalance",
    kafka="group.instance.id",
    default_text="none (dynamic members)",
)
# The session timeout's description: the classic protocol's alone.
_SESSION_TIMEOUT_TEXT = "Consumer session timeout (group-protocol classic; with consumer the broker sets it)"

# More handler calls at once than this costs a consumer thread more in its pool or event loop than it gains.
_CONCURRENCY_MAX = 10_000
_ORDERING_CHOICES = ("key", "partition", "none")
ON_HANDLER_ERROR_CHOICES = ("retry-batch", "split")
_HANDLER_TIMEOUT = Setting(
    "handler-timeout-ms",
    "int",
    0,
    "A handler call running longer is logged, counted in /metrics and makes /health answer 503 naming the route "
    "until it returns (zig cannot stop a handler); 0: off",
    minimum=0,
    maximum=_DAY_MS,
)
_BATCH_HANDLING = (
    Setting(
        "concurrency",
        "int",
        1,
        "How many sub-batches one consumer thread has in its handler at once; each batch is split into at most "
        "this many",
        minimum=1,
        maximum=_CONCURRENCY_MAX,
    ),
    Setting(
        "ordering",
        "choice",
        "key",
        "How a batch is split: key (a key's messages in one sub-batch, in offset order; messages without a key "
        "ordered per partition), partition (a partition's messages in one sub-batch) or none (no order kept)",
        choices=_ORDERING_CHOICES,
    ),
    _HANDLER_TIMEOUT,
    Setting(
        "on-handler-error",
        "choice",
        "retry-batch",
        "When the handler raises: retry-batch (every message of the batch failed, as Ziggurat does) or split (the "
        "batch's messages are handed to the handler again one at a time, so only those that raise alone fail)",
        choices=ON_HANDLER_ERROR_CHOICES,
    ),
)
_STREAM_HANDLING = (
    Setting(
        "concurrency",
        "int",
        1,
        "How many messages one consumer thread has in its handler at once",
        minimum=1,
        maximum=_CONCURRENCY_MAX,
    ),
    Setting(
        "ordering",
        "choice",
        "key",
        "Which messages may be in the handler together: key (a key's messages one at a time, in offset order; "
        "messages without a key one at a time per partition), partition (one at a time per partition) or none "
        "(no order kept)",
        choices=_ORDERING_CHOICES,
    ),
    _HANDLER_TIMEOUT,
)

BATCH_ROUTE = Section(
    "batch-route",
    "Batch route (:batch-routes {name {...}})",
    (
        Setting("handler-fn", "str", None, _HANDLER_TEXT + "; called with a list of messages", mandatory=True),
        Setting(
            "bootstrap-servers",
            "str",
            None,
            "Kafka brokers, host:port[,host:port]",
            mandatory=True,
            kafka="bootstrap.servers",
        ),
        Setting(
            "consumer-group-id",
            "str",
            None,
            "Consumer group of the route's consumers",
            mandatory=True,
            kafka="group.id",
        ),
        Setting(
            "origin-topic", "str", None, "Topic to read (a regex when it is not a plain topic name)", mandatory=True
        ),
        Setting(
            "max-poll-records",
            "int",
            500,
            "Most messages handed to the handler in one batch",
            minimum=1,
            maximum=1_000_000,
        ),
        Setting(
            "session-timeout-ms-config",
            "int",
            60_000,
            _SESSION_TIMEOUT_TEXT,
            kafka="session.timeout.ms",
            minimum=1,
            maximum=_SESSION_TIMEOUT_MAX_MS,
        ),
        _GROUP_PROTOCOL,
        _GROUP_INSTANCE_ID,
        Setting(
            "key-deserializer-class-config",
            "deserializer",
            BYTE_ARRAY_DESERIALIZER,
            "How keys are " + _DESERIALIZER_TEXT,
        ),
        Setting(
            "value-deserializer-class-config",
            "deserializer",
            BYTE_ARRAY_DESERIALIZER,
            "How values are " + _DESERIALIZER_TEXT,
        ),
        Setting(
            "poll-timeout-ms-config",
            "int",
            1000,
            "Longest wait for a batch before polling again",
            minimum=0,
            maximum=60_000,  # a stop waits for the poll in hand
        ),
        Setting("thread-count", "int", 2, "Consumer threads for the route", minimum=1, maximum=_THREADS_MAX),
        *_BATCH_HANDLING,
        Setting(
            "default-api-timeout-ms",
            "int",
            60_000,
            "Timeout of blocking calls (commit, committed offsets)",
            minimum=1,
            maximum=_API_TIMEOUT_MAX_MS,
            aliases=("default-api-timeout-ms-config",),
        ),
        Setting(
            "max-poll-interval-ms",
            "int",
            300_000,
            "Longest time between polls before the consumer is evicted",
            kafka="max.poll.interval.ms",
            minimum=1,
            maximum=_DAY_MS,
        ),
        Setting(
            "auto-offset-reset-config",
            "choice",
            "latest",
            "Where a group without offsets starts",
            kafka="auto.offset.reset",
            choices=("earliest", "latest"),
        ),
        Setting(
            "commit-interval-ms",
            "int",
            5000,
            "How often stored offsets are committed",
            kafka="auto.commit.interval.ms",
            minimum=1,
            maximum=_DAY_MS,
        ),
        _FETCH_QUEUE_BACKOFF,
        Setting(
            "manual-commit-enabled",
            "bool",
            False,
            "Accepted for Ziggurat configs; zig always commits only what has been handled",
        ),
        *_ROUTE_TOPICS,
        Setting(
            "kafka-properties",
            "properties",
            None,
            "Any other librdkafka consumer property, by its own name; checked at validation",
        ),
    ),
    children={"producer": PRODUCER, "retry": ROUTE_RETRY},
    passes_through=True,
)

STREAM_ROUTE = Section(
    "stream-route",
    "Stream route (:stream-router {name {...}})",
    (
        Setting("handler-fn", "str", None, _HANDLER_TEXT + "; called with one message", mandatory=True),
        Setting(
            "application-id", "str", None, "Consumer group of the route's consumers", mandatory=True, kafka="group.id"
        ),
        Setting(
            "bootstrap-servers",
            "str",
            None,
            "Kafka brokers, host:port[,host:port]",
            mandatory=True,
            kafka="bootstrap.servers",
        ),
        Setting(
            "origin-topic", "str", None, "Topic to read (a regex when it is not a plain topic name)", mandatory=True
        ),
        Setting("stream-threads-count", "int", 1, "Consumer threads for the route", minimum=1, maximum=_THREADS_MAX),
        *_STREAM_HANDLING,
        Setting(
            "oldest-processed-message-in-s",
            "int",
            604_800,
            "Messages older than this are skipped (and counted) before the handler",
            minimum=1,
            maximum=2_147_483_647,  # Ziggurat read it as a Java int: its largest value is how configs say "never"
        ),
        Setting(
            "auto-offset-reset-config",
            "choice",
            "latest",
            "Where a group without offsets starts",
            kafka="auto.offset.reset",
            choices=("earliest", "latest"),
        ),
        Setting(
            "session-timeout-ms-config",
            "int",
            60_000,
            _SESSION_TIMEOUT_TEXT,
            kafka="session.timeout.ms",
            minimum=1,
            maximum=_SESSION_TIMEOUT_MAX_MS,
        ),
        _GROUP_PROTOCOL,
        _GROUP_INSTANCE_ID,
        Setting(
            "default-api-timeout-ms-config",
            "int",
            60_000,
            "Timeout of blocking calls (commit, committed offsets)",
            minimum=1,
            maximum=_API_TIMEOUT_MAX_MS,
            aliases=("default-api-timeout-ms",),
        ),
        Setting(
            "commit-interval-ms",
            "int",
            15_000,
            "How often stored offsets are committed",
            kafka="auto.commit.interval.ms",
            minimum=1,
            maximum=_DAY_MS,
        ),
        Setting(
            "key-deserializer-class-config",
            "deserializer",
            BYTE_ARRAY_DESERIALIZER,
            "How keys are " + _DESERIALIZER_TEXT + _SERDE_TEXT,
            aliases=("default-key-serde",),
        ),
        Setting(
            "value-deserializer-class-config",
            "deserializer",
            BYTE_ARRAY_DESERIALIZER,
            "How values are " + _DESERIALIZER_TEXT + _SERDE_TEXT,
            aliases=("default-value-serde",),
        ),
        _FETCH_QUEUE_BACKOFF,
        *_ROUTE_TOPICS,
        Setting(
            "kafka-properties",
            "properties",
            None,
            "Any other librdkafka consumer property, by its own name; checked at validation",
        ),
    ),
    children={"producer": PRODUCER, "retry": ROUTE_RETRY},
    ignored=_STREAM_IGNORED,
    passes_through=True,
)

# The SASL mechanisms librdkafka implements (sasl.mechanism).
SASL_MECHANISMS = ("GSSAPI", "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER")

# The JAAS login modules Ziggurat configs name, and the SASL mechanism each implies (None: the module serves more than
# one, so :mechanism must say which). librdkafka has no JAAS: zig keeps only what the module says about the mechanism.
LOGIN_MODULES: Mapping[str, str | None] = {
    "org.apache.kafka.common.security.plain.PlainLoginModule": "PLAIN",
    "org.apache.kafka.common.security.scram.ScramLoginModule": None,
    "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule": "OAUTHBEARER",
    "com.sun.security.auth.module.Krb5LoginModule": "GSSAPI",
}

_MECHANISM_TEXT = "SASL mechanism: " + ", ".join(SASL_MECHANISMS)
_MECHANISM_DEFAULT = "from jaas's login-module, else PLAIN with a username"


def _mechanism(description: str) -> Setting:
    return Setting(
        "mechanism",
        "choice",
        None,
        description,
        kafka="sasl.mechanism",
        choices=SASL_MECHANISMS,
        aliases=("sasl-mechanism",),
        default_text=_MECHANISM_DEFAULT,
    )


JAAS = Section(
    "jaas",
    "SASL credentials (:jaas inside :ssl or :sasl)",
    (
        Setting("username", "str", None, "SASL user name", kafka="sasl.username", secret=True),
        Setting("password", "str", None, "SASL password", kafka="sasl.password", secret=True),
        _mechanism(_MECHANISM_TEXT + " (zig's spelling; Ziggurat reads :mechanism beside :jaas)"),
        Setting(
            "login-module",
            "str",
            None,
            "Java JAAS login module (Ziggurat built sasl.jaas.config from it); librdkafka has no JAAS, so zig reads "
            "the mechanism it implies: PlainLoginModule PLAIN, OAuthBearerLoginModule OAUTHBEARER, Krb5LoginModule "
            "GSSAPI; ScramLoginModule needs :mechanism SCRAM-SHA-256 or SCRAM-SHA-512",
        ),
    ),
)

_LOGIN_CALLBACK_HANDLER = Setting(
    "login-callback-handler",
    "str",
    None,
    "Java class that fetched OAUTHBEARER tokens for Ziggurat; librdkafka cannot load it: set "
    'sasl-oauthbearer-method "oidc" with sasl-oauthbearer-client-id, sasl-oauthbearer-client-secret and '
    "sasl-oauthbearer-token-endpoint-url instead",
)
_PROTOCOL_TEXT = "Protocol when enabled; the first one set wins, :ssl's before :sasl's (as in Ziggurat)"
_PROTOCOL_DEFAULT = "SSL (SASL_SSL with SASL credentials); SASL_PLAINTEXT for :sasl alone"

_TRUSTSTORE = "librdkafka cannot read a Java truststore; convert it to PEM and set ssl-ca-location"
SSL = Section(
    "ssl",
    "TLS for every client (:ssl)",
    (
        Setting("enabled", "bool", False, "Apply this section to every consumer and producer"),
        Setting(
            "security-protocol",
            "choice",
            None,
            _PROTOCOL_TEXT,
            kafka="security.protocol",
            choices=("SSL", "SASL_SSL"),
            aliases=("protocol",),
            default_text=_PROTOCOL_DEFAULT,
        ),
        _mechanism(_MECHANISM_TEXT + "; the first one set wins, :ssl's before :sasl's"),
        _LOGIN_CALLBACK_HANDLER,
        Setting("ssl-ca-location", "str", None, "PEM file of the CA certificates to trust", kafka="ssl.ca.location"),
        Setting(
            "ssl-certificate-location",
            "str",
            None,
            "PEM file of the client certificate",
            kafka="ssl.certificate.location",
        ),
        Setting(
            "ssl-key-location", "str", None, "PEM file of the client private key", kafka="ssl.key.location", secret=True
        ),
        Setting(
            "ssl-key-password", "str", None, "Password of the client private key", kafka="ssl.key.password", secret=True
        ),
        Setting(
            "ssl-keystore-location",
            "str",
            None,
            "PKCS#12 keystore with the client certificate and key",
            kafka="ssl.keystore.location",
            secret=True,  # as ssl-key-location: where the client's private key is
        ),
        Setting(
            "ssl-keystore-password", "str", None, "Password of the keystore", kafka="ssl.keystore.password", secret=True
        ),
        Setting(
            "ssl-keystore-type",
            "str",
            None,
            "Java keystore type: librdkafka reads PKCS12 keystores only, so JKS (or any other) is refused",
        ),
        Setting(
            "ssl-endpoint-identification-algorithm",
            "choice",
            "https",
            "Verify the broker's host name (https) or not (none)",
            kafka="ssl.endpoint.identification.algorithm",
            choices=("https", "none"),
            aliases=("endpoint-algorithm-config",),
        ),
    ),
    children={"jaas": JAAS},
    scope="clients",
    passes_through=True,
)

SASL = Section(
    "sasl",
    "SASL for every client (:sasl)",
    (
        Setting("enabled", "bool", False, "Apply this section to every consumer and producer"),
        Setting(
            "protocol",
            "choice",
            None,
            _PROTOCOL_TEXT,
            kafka="security.protocol",
            choices=("SASL_PLAINTEXT", "SASL_SSL"),
            aliases=("security-protocol",),
            default_text=_PROTOCOL_DEFAULT,
        ),
        _mechanism(_MECHANISM_TEXT + "; the first one set wins, :ssl's before :sasl's"),
        _LOGIN_CALLBACK_HANDLER,
    ),
    children={"jaas": JAAS},
    scope="clients",
    passes_through=True,
)


@dataclass(frozen=True)
class JavaOnly:
    """A Java client property with no librdkafka counterpart: what librdkafka needs instead, and whether a config
    that sets it can still work without it (a warning) or cannot (an error)."""

    instead: str
    works_without: bool


# Java client properties a Ziggurat config may carry under :ssl, :sasl or a route, by their kebab-case keys.
JAVA_ONLY_SECURITY: Mapping[str, JavaOnly] = {
    "sasl-jaas-config": JavaOnly(
        "librdkafka has no JAAS; write :jaas {:username :password :login-module} (or sasl-username and sasl-password)",
        works_without=False,
    ),
    "sasl-login-callback-handler-class": JavaOnly(_LOGIN_CALLBACK_HANDLER.description, works_without=False),
    "sasl-client-callback-handler-class": JavaOnly(
        "librdkafka cannot load Java classes; give the credentials in :jaas", works_without=False
    ),
    "ssl-truststore-location": JavaOnly(_TRUSTSTORE, works_without=True),
    "ssl-truststore-password": JavaOnly(_TRUSTSTORE, works_without=True),
    "ssl-truststore-type": JavaOnly(_TRUSTSTORE, works_without=True),
    "ssl-protocol": JavaOnly("librdkafka negotiates the TLS version itself", works_without=True),
    "ssl-enabled-protocols": JavaOnly("librdkafka negotiates the TLS version itself", works_without=True),
}

BATCH_ROUTES = Section("batch-routes", "Batch routes", (), {"*": BATCH_ROUTE}, routes="batch")
STREAM_ROUTES = Section("stream-router", "Stream routes", (), {"*": STREAM_ROUTE}, routes="stream")

# What both kinds of route have under different keys (Ziggurat spelled its stream routes' keys after Kafka Streams):
# zig's name for each, and its key in each kind of route. Code reads them through config.Route's properties.
ROUTE_SPELLINGS: Mapping[str, Mapping[RouteKind, str]] = {
    "group-id": {"batch": "consumer-group-id", "stream": "application-id"},
    "threads": {"batch": "thread-count", "stream": "stream-threads-count"},
    "api-timeout-ms": {"batch": "default-api-timeout-ms", "stream": "default-api-timeout-ms-config"},
}

# Ziggurat's delay queue timeout when its config leaves it out (config.clj's default-config): how long a message to
# retry waited before it was handled again (messaging/producer.clj, get-queue-timeout-ms).
ZIGGURAT_QUEUE_TIMEOUT_MS = 5000
_RABBIT_MQ_TEXT = "zig keeps retries in the route's Kafka retry topic and dead letters in its dead-letter topic"
RABBIT_MQ_DELAY = Section(
    "rabbit-mq-delay",
    "Ziggurat's retry delay (:rabbit-mq :delay)",
    (
        Setting(
            "queue-timeout-ms",
            "int",
            None,
            "Ziggurat's delay before a retry: the retry backoff-ms (linear, or exponential's base) unless "
            "backoff-ms is set",
            minimum=0,
            maximum=_WEEK_MS,
            default_text=f"{ZIGGURAT_QUEUE_TIMEOUT_MS} (Ziggurat's) when the file has :rabbit-mq",
        ),
    ),
    tolerates=_RABBIT_MQ_TEXT,
)
RABBIT_MQ = Section(
    "rabbit-mq", "Ziggurat's RabbitMQ queues (:rabbit-mq)", (), {"delay": RABBIT_MQ_DELAY}, tolerates=_RABBIT_MQ_TEXT
)

# Ziggurat sections zig does not implement: each is read, reported once, and otherwise ignored.
UNSUPPORTED_SECTIONS: Mapping[str, str] = {
    "rabbit-mq-connection": "zig keeps retries and dead letters in Kafka topics (retry-topic, dead-letter-topic)",
    "jobs": "zig has no RabbitMQ jobs; a retry consumer per route reads the route's retry topic",
    "messaging": "zig keeps retries and dead letters in Kafka topics (retry-topic, dead-letter-topic)",
    "nrepl-server": "zig is a Python process and starts no nREPL server",
    "statsd": "zig sends no StatsD metrics",
    "datadog": "zig sends no Datadog metrics",
    "metrics": "zig has no pluggable metrics constructor",
    "sentry": "zig logs handler errors; forward them to Sentry from your log shipper",
    "new-relic": "zig logs handler errors; forward them to New Relic from your log shipper",
    "tracer": "zig does no tracing",
    "alpha-features": "zig has no alpha features",
    "enable-stream-joins": "stream joins are not supported",
    "shutdown": "zig run waits for the messages in hand up to --graceful-timeout (30 s), not :drain-timeout-ms",
    "default-api-timeout-ms-config": "Ziggurat's code reads it only inside a route, as zig does (a route's "
    "default-api-timeout-ms)",
}

PROMETHEUS = Section(
    "prometheus",
    "Prometheus metrics (:prometheus)",
    (
        Setting("enabled", "bool", True, "Serve Prometheus metrics at /metrics while zig run runs"),
        Setting(
            "port", "int", 8002, "Port of the metrics endpoint (0: any free port, logged)", minimum=0, maximum=65535
        ),
        Setting("host", "str", "0.0.0.0", "Address the metrics endpoint listens on (127.0.0.1: this host only)"),
        Setting(
            "ziggurat-names",
            "bool",
            False,
            "Also serve Ziggurat 4.12's metric names, labels and milliseconds, for its dashboards",
        ),
    ),
)

HTTP_SERVER = Section(
    "http-server",
    "HTTP endpoints (:http-server)",
    (
        Setting("enabled", "bool", True, "Serve /ping, /health and the dead-set API while zig run runs"),
        Setting("port", "int", 8080, "Port of the HTTP endpoints (0: any free port, logged)", minimum=0, maximum=65535),
        Setting("host", "str", "0.0.0.0", "Address the HTTP endpoints listen on (127.0.0.1: this host only)"),
        Setting(
            "auth-token",
            "str",
            None,
            "Bearer token the /v1/dead_set endpoints require (Authorization: Bearer ...); unset, they answer 403",
            secret=True,
        ),
    ),
    ignored={
        "thread-count": "zig's HTTP server sizes itself",
        "middlewares": "zig's HTTP server has no middlewares",
        "graceful-shutdown-timeout-ms": "zig's HTTP server answers until the workers have stopped (zig run "
        "--graceful-timeout), then stops at once",
    },
)

ROOT = Section(
    "root",
    "Application",
    (
        Setting("app-name", "str", None, "Name of the application; prefixes derived topic names", mandatory=True),
        Setting(
            "env",
            "str",
            None,
            "Environment name: the env label of Ziggurat-named metrics (zig has no profiles: use ZIGGURAT_* variables)",
        ),
        Setting(
            "log-format",
            "choice",
            "text",
            "Log lines as text, or one JSON object per line (--log-format wins)",
            choices=("text", "json"),
        ),
        Setting(
            "start-fn",
            "str",
            None,
            "Dotted path of a function zig run calls with no arguments once before anything starts (Ziggurat's "
            "start-fn); if it raises, zig exits 1 having consumed nothing",
        ),
        Setting(
            "stop-fn",
            "str",
            None,
            "Dotted path of a function zig run calls with no arguments once after the workers have stopped and "
            "committed (Ziggurat's stop-fn); if it raises, zig logs it and exits 1",
        ),
    ),
    children={
        "prometheus": PROMETHEUS,
        "http-server": HTTP_SERVER,
        "retry": RETRY,
        "ssl": SSL,
        "sasl": SASL,
        "batch-routes": BATCH_ROUTES,
        "stream-router": STREAM_ROUTES,
        "rabbit-mq": RABBIT_MQ,
    },
    ignored=UNSUPPORTED_SECTIONS,
)

# Other spellings of the root's sections: the flat form names its stream routes like its batch routes.
SECTION_ALIASES: Mapping[str, str] = {"stream-routes": "stream-router"}

ENV_PREFIX = "ZIGGURAT_"

# Properties whose values are never shown, beyond the librdkafka names of zig's secret settings: librdkafka's own
# sensitive ones (flagged _RK_SENSITIVE in its rdkafka_conf.c), every other property that says how a client
# authenticates, and the Java client's secret properties that Ziggurat configs may carry among raw properties.
LIBRDKAFKA_SECRETS: frozenset[str] = frozenset(
    {
        "ssl.key.pem",
        "ssl.ca.pem",
        "sasl.kerberos.keytab",
        "sasl.kerberos.kinit.cmd",
        "sasl.kerberos.min.time.before.relogin",
        "sasl.kerberos.principal",
        "sasl.kerberos.service.name",
        "sasl.oauthbearer.assertion.algorithm",
        "sasl.oauthbearer.assertion.claim.aud",
        "sasl.oauthbearer.assertion.claim.exp.seconds",
        "sasl.oauthbearer.assertion.claim.iss",
        "sasl.oauthbearer.assertion.claim.jti.include",
        "sasl.oauthbearer.assertion.claim.nbf.seconds",
        "sasl.oauthbearer.assertion.claim.sub",
        "sasl.oauthbearer.assertion.file",
        "sasl.oauthbearer.assertion.jwt.template.file",
        "sasl.oauthbearer.assertion.private.key.file",
        "sasl.oauthbearer.assertion.private.key.passphrase",
        "sasl.oauthbearer.assertion.private.key.pem",
        "sasl.oauthbearer.client.credentials.client.id",
        "sasl.oauthbearer.client.credentials.client.secret",
        "sasl.oauthbearer.client.id",
        "sasl.oauthbearer.client.secret",
        "sasl.oauthbearer.config",
        "sasl.oauthbearer.extensions",
        "sasl.oauthbearer.grant.type",
        "sasl.oauthbearer.metadata.authentication.type",
        "sasl.oauthbearer.method",
        "sasl.oauthbearer.scope",
        "sasl.oauthbearer.sub.claim.name",
        "sasl.oauthbearer.token.endpoint.url",
        # Java client properties: librdkafka refuses them, but a value is never worth showing.
        "sasl.jaas.config",
        "ssl.keystore.key",
        "ssl.truststore.password",
    }
)


def sections(section: Section) -> Iterator[Section]:
    """A section and every section it holds, a route's shape included."""
    yield section
    for child in section.children.values():
        yield from sections(child)


def secret_properties() -> frozenset[str]:
    """Every librdkafka property whose value is never shown: the secret settings' and LIBRDKAFKA_SECRETS."""
    settings = (s for section in sections(ROOT) for s in section.settings)
    return LIBRDKAFKA_SECRETS | {s.kafka for s in settings if s.secret and s.kafka}


def route_section(kind: RouteKind) -> Section:
    """The settings of one kind of route: the shape of each entry of its map of routes in the root."""
    return next(section.children["*"] for section in ROOT.children.values() if section.routes == kind)


def documented_sections() -> Iterator[tuple[str, Section]]:
    """Every section with settings, with the key path a user writes it under (`<route>` for a route name)."""
    yield "", ROOT
    yield "retry", RETRY
    yield "prometheus", PROMETHEUS
    yield "http-server", HTTP_SERVER
    yield "ssl", SSL
    yield "sasl", SASL
    yield "ssl.jaas / sasl.jaas", JAAS
    yield "batch-routes.<route>", BATCH_ROUTE
    yield "stream-router.<route>", STREAM_ROUTE
    yield "<route>.producer", PRODUCER
    yield "<route>.retry", ROUTE_RETRY
    yield "rabbit-mq.delay", RABBIT_MQ_DELAY


def default_text(setting: Setting) -> str:
    """The default as the settings table shows it."""
    if setting.default_text:
        return setting.default_text
    if setting.mandatory or setting.default is None:
        return "NA" if setting.mandatory else "none"
    if isinstance(setting.default, bool):
        return "true" if setting.default else "false"
    if isinstance(setting.default, str):
        return f'"{setting.default}"'
    return str(setting.default)


def type_text(setting: Setting) -> str:
    if setting.kind == "choice":
        return " \\| ".join(setting.choices)
    return {
        "str": "string",
        "int": "integer",
        "bool": "boolean",
        "float": "number",
        "deserializer": "deserializer",
        "serializer": "serializer",
        "properties": "map",
    }[setting.kind]


def markdown_table() -> str:
    """The settings table in Markdown, exactly as the README carries it."""
    lines: list[str] = []
    for path, section in documented_sections():
        lines.append(f"#### {section.title}" + (f" — `{path}`" if path else ""))
        lines.append("")
        lines.append("Key | Type | Default | Mandatory | librdkafka property | Description")
        lines.append("--- | --- | --- | --- | --- | ---")
        for s in section.settings:
            names = f"`{s.key}`" + "".join(f" (or `{a}`)" for a in s.aliases)
            kafka = f"`{s.kafka}`" if s.kafka else "zig"
            mandatory = "Yes" if s.mandatory else "No"
            lines.append(f"{names} | {type_text(s)} | {default_text(s)} | {mandatory} | {kafka} | {s.description}")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"
