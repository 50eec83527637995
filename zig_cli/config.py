"""Validate a loaded config against the settings table: defaults, env overrides, types, ranges, unknown keys.

`check()` never raises for what the file says: it collects every problem (sorted) and every warning, and builds a
frozen `Config` when there are no problems. `validate()` is the same but raises `ConfigError`.
"""

from __future__ import annotations

import difflib
import math
import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from zig_cli import defaults
from zig_cli.defaults import Section, Setting
from zig_cli.errors import ConfigError, Problem, shortened

Origin = Literal["default", "file", "env", "derived", "embedded"]
RouteKind = Literal["batch", "stream"]

# Where each kind of route lives in the file, under its canonical name.
ROUTE_SECTIONS: Mapping[RouteKind, str] = {"batch": "batch-routes", "stream": "stream-router"}

# Java client properties with no librdkafka meaning that Ziggurat users put among raw properties, and the zig key
# each is translated to (never passed to librdkafka).
JAVA_ONLY: Mapping[str, str] = {
    "max.poll.records": "max-poll-records",
    "default.api.timeout.ms": "default-api-timeout-ms",
    "key.deserializer": "key-deserializer-class-config",
    "value.deserializer": "value-deserializer-class-config",
    "key.serializer": "key-serializer-class",
    "value.serializer": "value-serializer-class",
}


# Kafka's rule for topic names. An origin-topic made only of these characters is a topic; anything else is a regex.
TOPIC_NAME = re.compile(r"[A-Za-z0-9._-]+")
TOPIC_NAME_MAX = 249
_RESERVED_TOPICS = (".", "..")


def is_plain_topic(origin_topic: str) -> bool:
    """A name made only of topic-name characters is a topic; anything else is one of Ziggurat's regexes."""
    return bool(TOPIC_NAME.fullmatch(origin_topic))


def subscription(origin_topic: str) -> str:
    """The origin topic as librdkafka subscribes to it: the name, or an anchored `^...$` regex."""
    if is_plain_topic(origin_topic):
        return origin_topic
    pattern = origin_topic if origin_topic.startswith("^") else "^" + origin_topic
    return pattern if pattern.endswith("$") else pattern + "$"


@dataclass(frozen=True)
class Value:
    """An effective setting and where it came from."""

    value: Any
    origin: Origin


@dataclass(frozen=True)
class Retry:
    enabled: bool
    count: int
    type: str
    backoff_ms: int
    max_backoff_ms: int
    max_held_bytes: int


@dataclass(frozen=True)
class Route:
    """One batch or stream route with every effective setting, keyed by dotted path ("producer.acks")."""

    kind: RouteKind
    name: str
    path: str  # key path of the route in the file, e.g. "batch-routes.orders"
    values: Mapping[str, Value]

    def __getitem__(self, key: str) -> Any:
        return self.values[key].value

    @property
    def handler(self) -> str:
        return str(self["handler-fn"])

    @property
    def has_producer(self) -> bool:
        return any(key.startswith("producer.") for key in self.values)

    @property
    def retry(self) -> Retry:
        return Retry(
            enabled=self["retry.enabled"],
            count=self["retry.count"],
            type=self["retry.type"],
            backoff_ms=self["retry.backoff-ms"],
            max_backoff_ms=self["retry.max-backoff-ms"],
            max_held_bytes=self["retry.max-held-bytes"],
        )

    def section(self, prefix: str) -> dict[str, Value]:
        """The values of one nested section ("producer"), with the prefix removed."""
        return {k[len(prefix) + 1 :]: v for k, v in self.values.items() if k.startswith(prefix + ".")}

    def own(self) -> dict[str, Value]:
        """The route's own values, without nested sections."""
        return {k: v for k, v in self.values.items() if "." not in k}


@dataclass(frozen=True)
class Config:
    file: str
    app_name: str
    routes: tuple[Route, ...]
    security: Mapping[str, Value]  # "ssl.enabled", "sasl.jaas.username", ...
    warnings: tuple[Problem, ...] = ()
    operations: Mapping[str, Value] = field(default_factory=dict)  # "log-format", "prometheus.port", ...

    def setting(self, key: str) -> Any:
        return self.operations[key].value

    def route(self, name: str) -> Route:
        for route in self.routes:
            if route.name == name:
                return route
        raise KeyError(name)


@dataclass(frozen=True)
class Report:
    """What checking a config found; `config` is set only when `problems` is empty."""

    config: Config | None
    problems: tuple[Problem, ...]
    warnings: tuple[Problem, ...]
    handler_specs: Mapping[str, str] = field(default_factory=dict)  # key path -> handler spec, for importing


def validate(raw: Mapping[str, Any], file: str = "<config>", environ: Mapping[str, str] | None = None) -> Config:
    """Validate a loaded config; raises ConfigError with every problem found."""
    report = check(raw, file, environ)
    if report.config is None:
        raise ConfigError(list(report.problems), list(report.warnings))
    return report.config


def check(raw: Mapping[str, Any], file: str = "<config>", environ: Mapping[str, str] | None = None) -> Report:
    checker = _Checker(file, environ or {})
    config = checker.run(raw)
    return Report(
        config=config if not checker.problems else None,
        problems=tuple(sorted(checker.problems, key=Problem.sort_key)),
        warnings=tuple(sorted(checker.warnings, key=Problem.sort_key)),
        handler_specs=dict(checker.handler_specs),
    )


def with_bootstrap_servers(config: Config, servers: str) -> Config:
    """The same config with every route and producer pointed at `servers` (zig run --embedded-broker)."""
    keys = ("bootstrap-servers", "producer.bootstrap-servers")
    routes = tuple(
        replace(route, values={k: Value(servers, "embedded") if k in keys else v for k, v in route.values.items()})
        for route in config.routes
    )
    return replace(config, routes=routes)


def env_name(*parts: str) -> str:
    """Ziggurat's environment variable for a key path: ZIGGURAT_ + parts joined by _, upper case, - to _."""
    return defaults.ENV_PREFIX + "_".join(parts).upper().replace("-", "_").replace(".", "_")


_INVALID = object()
_MASKED = "'***'"  # a secret's value, whatever is wrong with it
_TYPE_NAMES = {str: "string", int: "integer", bool: "boolean", float: "number", list: "list", dict: "map"}
_EXPECTED = {
    "str": "a string",
    "int": "an integer",
    "bool": "a boolean (true or false)",
    "float": "a number",
    "choice": "a string",
    "deserializer": "a string",
    "serializer": "a string",
    "properties": "a map",
}


def _kind_only(raw: Any) -> str:
    """What a raw librdkafka property value is, never what it says: which names are secret is librdkafka's matter."""
    if raw is None or isinstance(raw, Mapping | list | tuple):
        return _describe(raw)
    name = _TYPE_NAMES.get(type(raw), type(raw).__name__)
    return f"{'an' if name[0] in 'aeiou' else 'a'} {name}"


def _integer(number: int) -> str:
    """An integer as text, or its length when it is too long to read (or for Python to print)."""
    if number.bit_length() <= 200:
        return str(number)
    return f"an integer of {int(math.log10(abs(number))) + 1} digits"


def _count(number: int, thing: str) -> str:
    return f"{number} {thing}" + ("" if number == 1 else "s")


def _describe(raw: Any) -> str:
    """A wrong value as an error message shows it. A list or map is shown by its size only: whatever it holds,
    a password among it included, was not where it belongs."""
    if raw is None:
        return "nil"
    if isinstance(raw, Mapping):
        return f"a map of {_count(len(raw), 'key')}"
    if isinstance(raw, list | tuple | set | frozenset):
        return f"a list of {_count(len(raw), 'item')}"
    if isinstance(raw, int) and not isinstance(raw, bool) and raw.bit_length() > 200:
        return _integer(raw)
    type_name = _TYPE_NAMES.get(type(raw), type(raw).__name__)
    shown = shortened(repr(raw), 60)
    return f"{shown} ({type_name})"


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _not_utf8(text: str) -> str:
    """Why an environment value is not text, or "": Python keeps bytes that are not UTF-8 as lone surrogates, which
    librdkafka's C strings cannot take (a consumer built with one aborts the process)."""
    for char in text:
        if "\udc80" <= char <= "\udcff":
            return f"not valid UTF-8 (byte 0x{ord(char) - 0xDC00:02x})"
        if "\ud800" <= char <= "\udfff":
            return "not valid UTF-8"
    return ""


def _holds_secrets(section: Section) -> bool:
    return any(s.secret for s in section.settings) or any(_holds_secrets(c) for c in section.children.values())


def _quoted(text: str) -> str:
    """The user's text quoted, cut short when long: a hostile config may hold megabytes."""
    return repr(text) if len(text) <= 60 else f"{text[:54]!r}... ({len(text)} characters)"


def _regex(pattern: str) -> re.Pattern[str] | str:
    """The origin-topic regex as librdkafka anchors it, or why it does not compile."""
    with warnings.catch_warnings():
        # Python warns about POSIX classes such as [[:alpha:]] (a nested set to it), which librdkafka reads as such.
        warnings.simplefilter("ignore", FutureWarning)
        try:
            re.compile(pattern)
            return re.compile(subscription(pattern))
        except (re.error, RecursionError, OverflowError) as error:
            return str(error)


def _topic_problem(topic: str, regex_allowed: bool) -> str:
    """Why Kafka would refuse this topic name (or why an origin-topic regex cannot be used), or ""."""
    if regex_allowed and not is_plain_topic(topic):
        compiled = _regex(topic)
        if isinstance(compiled, str):
            return f"is not a plain topic name, so it is read as a regex, and it does not compile: {compiled}"
        return ""
    reason = ""
    if not TOPIC_NAME.fullmatch(topic):
        reason = "use only letters, digits, '.', '_' and '-'"
    elif len(topic) > TOPIC_NAME_MAX:
        reason = f"it has more than {TOPIC_NAME_MAX} characters"
    elif topic in _RESERVED_TOPICS:
        reason = "'.' and '..' are reserved"
    return f"is not a valid Kafka topic name: {reason}" if reason else ""


class _Checker:
    def __init__(self, file: str, environ: Mapping[str, str]) -> None:
        self.file = file
        # The flat form's stream-routes spelling names the same variables as stream-router.
        alias = env_name("stream-routes", "")
        self.env = {
            k.replace(alias, env_name("stream-router", ""), 1): v
            for k, v in environ.items()
            if k.startswith(defaults.ENV_PREFIX)
        }
        self.env_known: set[str] = set()  # every variable name that would have matched a setting
        self.problems: list[Problem] = []
        self.warnings: list[Problem] = []
        self.handler_specs: dict[str, str] = {}

    def error(self, path: str, message: str) -> None:
        self.problems.append(Problem(self.file, path=path, message=message))

    def warn(self, path: str, message: str) -> None:
        self.warnings.append(Problem(self.file, path=path, message=message, severity="warning"))

    # --- the walk ---

    def run(self, raw: Mapping[str, Any]) -> Config:
        root_path = ""
        root: Any = raw
        if "ziggurat" in raw:
            root_path, root = "ziggurat", raw["ziggurat"]
            for key in raw:
                if key != "ziggurat" and (key in defaults.ROOT.children or key in defaults.SECTION_ALIASES):
                    self.warn(key, "outside :ziggurat; zig reads only the settings inside :ziggurat")
            if not isinstance(root, Mapping):
                self.error("ziggurat", f"expected a map, got {_describe(root)}")
                root = {}
        root = self._rename_aliases(root, root_path)
        top = self.section(defaults.ROOT, root, root_path, ())
        app_name = top.get("app-name", Value("", "default")).value
        retry = self.section(
            defaults.RETRY, self._child(root, "retry", root_path), _join(root_path, "retry"), ("retry",)
        )
        operations: dict[str, Value] = {"log-format": top.get("log-format", Value("text", "default"))}
        for name, section in (("prometheus", defaults.PROMETHEUS), ("http-server", defaults.HTTP_SERVER)):
            data = self._child(root, name, root_path)
            for key, value in self.section(section, data, _join(root_path, name), (name,)).items():
                operations[f"{name}.{key}"] = value
        self._check_server_ports(operations, root_path)
        security: dict[str, Value] = {}
        for name in ("ssl", "sasl"):
            path = _join(root_path, name)
            data = self._child(root, name, root_path)
            for key, value in self.section(getattr(defaults, name.upper()), data, path, (name,)).items():
                security[f"{name}.{key}"] = value
            jaas = self._child(data, "jaas", path)
            for key, value in self.section(defaults.JAAS, jaas, _join(path, "jaas"), (name, "jaas")).items():
                security[f"{name}.jaas.{key}"] = value
        routes: list[Route] = []
        for kind, section_key in ROUTE_SECTIONS.items():
            path = _join(root_path, section_key)
            entries = self._child(root, section_key, root_path)
            for name, data in entries.items():
                route_path = _join(path, name)
                if not isinstance(data, Mapping):
                    self.error(route_path, f"expected a map of route settings, got {_describe(data)}")
                    continue
                routes.append(self.route(kind, str(name), data, route_path, (section_key, str(name)), retry, app_name))
        if not routes and not self.problems:
            self.error(root_path or "batch-routes", "no routes: add :batch-routes or :stream-router")
        self._check_routes_apart(routes)
        self._unknown_env()
        return Config(self.file, app_name, tuple(routes), security, tuple(self.warnings), operations)

    def _check_server_ports(self, operations: Mapping[str, Value], root_path: str) -> None:
        """The metrics and HTTP servers cannot share a port (0 asks each for a free one of its own)."""
        servers = ("prometheus", "http-server")
        if not all(operations.get(f"{name}.enabled", Value(False, "default")).value for name in servers):
            return
        metrics, http = (operations.get(f"{name}.port") for name in servers)
        if metrics is None or http is None or not http.value or metrics.value != http.value:
            return
        source = f"{env_name('http-server', 'port')}: " if http.origin == "env" else ""
        other = f" ({env_name('prometheus', 'port')})" if metrics.origin == "env" else ""
        metrics_path = _join(root_path, "prometheus.port")
        self.error(
            _join(root_path, "http-server.port"),
            f"{source}{http.value} is also {metrics_path}{other}; each server needs its own port",
        )

    def _rename_aliases(self, root: Mapping[str, Any], root_path: str) -> dict[str, Any]:
        renamed: dict[str, Any] = {}
        for key, value in root.items():
            canonical = defaults.SECTION_ALIASES.get(key, key)
            if canonical in renamed:
                self.error(_join(root_path, key), f"set twice, also as {canonical!r}")
                continue
            renamed[canonical] = value
        return renamed

    def _child(self, data: Mapping[str, Any], key: str, path: str) -> Mapping[str, Any]:
        value = data.get(key)
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            # The section() walk over the parent already reported it.
            return {}
        return value

    def route(
        self,
        kind: RouteKind,
        name: str,
        data: Mapping[str, Any],
        path: str,
        env_parts: tuple[str, ...],
        retry: Mapping[str, Value],
        app_name: str,
    ) -> Route:
        section = defaults.BATCH_ROUTE if kind == "batch" else defaults.STREAM_ROUTE
        values = self.section(section, data, path, env_parts)
        if "producer" in data and isinstance(data["producer"], Mapping):
            producer = self.section(
                defaults.PRODUCER, data["producer"], _join(path, "producer"), (*env_parts, "producer")
            )
            producer.setdefault(
                "bootstrap-servers", Value(values.get("bootstrap-servers", Value("", "default")).value, "derived")
            )
            values.update({f"producer.{k}": v for k, v in producer.items()})
        override = self.section(
            defaults.ROUTE_RETRY, self._child(data, "retry", path), _join(path, "retry"), (*env_parts, "retry")
        )
        for key, global_value in retry.items():
            values[f"retry.{key}"] = override.get(key, global_value)
        for topic, suffix in (("retry-topic", "retry"), ("dead-letter-topic", "dead-letter")):
            if topic not in values:
                values[topic] = Value(f"{app_name}-{name}-{suffix}", "derived")
        self._check_topics(path, values)
        if "handler-fn" in values:
            self.handler_specs[_join(path, "handler-fn")] = values["handler-fn"].value
        return Route(kind, name, path, values)

    def _check_topics(self, path: str, values: Mapping[str, Value]) -> None:
        names = {
            key: values[key].value for key in ("origin-topic", "retry-topic", "dead-letter-topic") if key in values
        }
        seen: dict[str, str] = {}
        for key, topic in names.items():
            wrong = _topic_problem(topic, regex_allowed=key == "origin-topic")
            if wrong:
                derived = " (derived from app-name and the route name)" if values[key].origin == "derived" else ""
                self.error(_join(path, key), f"{_quoted(topic)}{derived} {wrong}")
            elif topic in seen:
                self.error(_join(path, key), f"{topic!r} is also the route's {seen[topic]}; each needs its own topic")
            seen.setdefault(topic, key)

    def _check_routes_apart(self, routes: Sequence[Route]) -> None:
        """Each route owns its name and its retry and dead-letter topics: another route reading them would handle
        its messages with the wrong handler."""
        names: dict[str, str] = {}
        for route in routes:
            if route.name in names:
                unique = "route names must be unique"
                self.error(route.path, f"route name {route.name!r} is also {names[route.name]}; {unique}")
            names.setdefault(route.name, route.path)
        # (key path, owned by its route alone, topic, route number) for every topic name a route reads or writes
        uses: list[tuple[str, bool, str, int]] = []
        for number, route in enumerate(routes):
            for key in ("origin-topic", "retry-topic", "dead-letter-topic"):
                topic = route.values[key].value if key in route.values else None
                if isinstance(topic, str) and (key != "origin-topic" or is_plain_topic(topic)):
                    uses.append((_join(route.path, key), key != "origin-topic", topic, number))
        first: dict[str, tuple[str, bool, int]] = {}
        for key_path, owned, topic, number in uses:
            earlier = first.setdefault(topic, (key_path, owned, number))
            if earlier[2] != number and (owned or earlier[1]):
                self.error(
                    key_path, f"{topic!r} is also {earlier[0]}; each route needs its own retry and dead-letter topics"
                )
        for route in routes:
            origin = route.values["origin-topic"].value if "origin-topic" in route.values else ""
            pattern = _regex(origin) if isinstance(origin, str) and origin and not is_plain_topic(origin) else None
            if not isinstance(pattern, re.Pattern):
                continue
            for key_path, owned, topic, _ in uses:
                if owned and pattern.search(topic):
                    self.error(
                        _join(route.path, "origin-topic"),
                        f"the regex {_quoted(origin)} also matches {key_path} ({topic!r}); "
                        "its consumers would read those messages",
                    )

    def section(self, section: Section, data: Any, path: str, env_parts: tuple[str, ...]) -> dict[str, Value]:
        """Check one map against its section: returns key -> Value for its settings (children are walked apart)."""
        values: dict[str, Value] = {}
        if data is None:
            data = {}
        if not isinstance(data, Mapping):
            self.error(path, f"expected a map, got {_MASKED if _holds_secrets(section) else _describe(data)}")
            data = {}
        spelled: dict[str, str] = {}
        for key, raw in data.items():
            key_path = _join(path, key)
            setting = section.setting(key)
            if setting is not None:
                if setting.key in spelled:
                    self.error(key_path, f"set twice, also as {spelled[setting.key]!r}")
                    continue
                spelled[setting.key] = key
                checked = self.value(setting, raw, key_path)
                if checked is not _INVALID:
                    values[setting.key] = Value(checked, "file")
            elif key in section.children:
                if raw is not None and not isinstance(raw, Mapping):
                    shown = _MASKED if _holds_secrets(section.children[key]) else _describe(raw)
                    self.error(key_path, f"expected a map, got {shown}")
            elif key in section.ignored:
                self.warn(key_path, f"ignored: {section.ignored[key]}")
            else:
                self.unknown(key_path, key, section)
        self._translate_java_properties(section, values, spelled, path)
        for setting in section.settings:
            name = env_name(*env_parts, setting.key)
            key_path = _join(path, setting.key)
            if setting.kind != "properties":
                self.env_known.add(name)
            if name in self.env and setting.kind != "properties" and _not_utf8(self.env[name]):
                self.error(key_path, f"{name}: {_not_utf8(self.env[name])}")
            elif name in self.env and setting.kind != "properties":
                coerced = self._coerce_text(setting, self.env[name], key_path, name)
                checked = _INVALID if coerced is _INVALID else self.value(setting, coerced, key_path, env=name)
                if checked is not _INVALID:
                    values[setting.key] = Value(checked, "env")
            elif setting.key not in values and setting.key not in spelled:
                if setting.default is not None:
                    # Defaults pass the same check, so a Java class name default reads as its codec name.
                    values[setting.key] = Value(self.value(setting, setting.default, key_path), "default")
                elif setting.mandatory:
                    self.error(key_path, f"missing mandatory setting ({setting.description})")
        return values

    def _translate_java_properties(
        self, section: Section, values: dict[str, Value], spelled: dict[str, str], path: str
    ) -> None:
        props = values.get("kafka-properties")
        if props is None:
            return
        kept: dict[str, str] = {}
        for prop, text in props.value.items():
            prop_path = _join(_join(path, spelled.get("kafka-properties", "kafka-properties")), prop)
            if prop in JAVA_ONLY:
                setting = section.setting(JAVA_ONLY[prop])
                if setting is None:
                    self.error(prop_path, f"a Java client property with no meaning for a {section.name}")
                elif setting.key in values:
                    self.error(prop_path, f"translated to {setting.key!r}, which is also set")
                else:
                    coerced = self._coerce_text(setting, text, prop_path, prop)
                    checked = self.value(setting, coerced, prop_path) if coerced is not _INVALID else _INVALID
                    if checked is not _INVALID:
                        values[setting.key] = Value(checked, "file")
                        self.warn(prop_path, f"a Java client property; translated to zig's {setting.key!r}")
                continue
            owner = next((s for s in section.settings if s.kafka == prop), None)
            if owner is not None:
                self.error(prop_path, f"set this with zig's key {owner.key!r} instead")
                continue
            kept[prop] = text
        values["kafka-properties"] = Value(kept, props.origin)

    def unknown(self, key_path: str, key: str, section: Section) -> None:
        candidates = section.known_keys() + [a for s in section.settings for a in s.aliases]
        close = difflib.get_close_matches(key, candidates, n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]!r}?" if close else f" for {section.title}"
        extra = (
            ""
            if close or "kafka-properties" not in candidates
            else " (raw librdkafka properties go in kafka-properties)"
        )
        self.error(key_path, f"unknown key {key!r}{hint}{extra}")

    # --- values ---

    def value(self, setting: Setting, raw: Any, path: str, env: str = "") -> Any:
        """Check one value against its setting; returns the effective value or _INVALID (after reporting)."""
        source = f"{env}: " if env else ""

        def bad(message: str) -> object:
            self.error(path, source + message)
            return _INVALID

        # A secret's value is never shown, whatever is wrong with it.
        shown = _MASKED if setting.secret else _describe(raw)
        kind = setting.kind
        if kind == "int":
            if not isinstance(raw, int) or isinstance(raw, bool):
                return bad(f"expected an integer, got {shown}")
            number = _MASKED if setting.secret else _integer(raw)
            if setting.minimum is not None and raw < setting.minimum:
                return bad(f"must be at least {setting.minimum}, got {number}")
            if setting.maximum is not None and raw > setting.maximum:
                return bad(f"must be at most {setting.maximum}, got {number}")
            return raw
        if kind == "bool":
            return raw if isinstance(raw, bool) else bad(f"expected a boolean (true or false), got {shown}")
        if kind == "float":
            if not isinstance(raw, int | float) or isinstance(raw, bool):
                return bad(f"expected a number, got {shown}")
            return float(raw)
        if kind == "properties":
            return self._properties(raw, path, bad)
        if kind == "choice" and isinstance(raw, int) and not isinstance(raw, bool):
            raw = str(raw)  # acks may be written as a number
        if not isinstance(raw, str):
            return bad(f"expected {_EXPECTED[kind]}, got {shown}")
        if setting.mandatory and not raw.strip():
            return bad("must not be empty")
        if kind == "choice" and raw not in setting.choices:
            options = ", ".join(repr(c) for c in setting.choices)
            return bad(f"must be one of {options}, got {_MASKED if setting.secret else _quoted(raw)}")
        if kind == "deserializer":
            return self._codec(raw, defaults.DESERIALIZERS, bad, allow_protobuf=True)
        if kind == "serializer":
            return self._codec(raw, defaults.SERIALIZERS, bad, allow_protobuf=False)
        return raw

    @staticmethod
    def _codec(raw: str, known: Mapping[str, str], bad: Any, allow_protobuf: bool) -> Any:
        if raw in known:
            return known[raw]
        if allow_protobuf and raw.startswith(defaults.PROTOBUF_PREFIX):
            target = raw[len(defaults.PROTOBUF_PREFIX) :]
            if re.fullmatch(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)+", target):
                return raw
            return bad(f"{raw!r}: after 'protobuf:' name the generated message class, e.g. 'protobuf:app.pb2.Order'")
        options = ", ".join(repr(k) for k in known if "." not in k)
        protobuf = " or 'protobuf:<message class>'" if allow_protobuf else ""
        return bad(f"unknown {raw!r}; use {options}{protobuf} (or the Java class names Ziggurat used)")

    @staticmethod
    def _properties(raw: Any, path: str, bad: Any) -> Any:
        if not isinstance(raw, Mapping):
            return bad(f"expected a map of librdkafka properties, got {_kind_only(raw)}")
        props: dict[str, str] = {}
        for name, item in raw.items():
            if isinstance(item, bool):
                props[str(name)] = "true" if item else "false"
            elif isinstance(item, str | int | float):
                props[str(name)] = str(item)
            else:
                return bad(f"{name!r}: expected a string, number or boolean, got {_kind_only(item)}")
        return props

    # --- environment ---

    def _coerce_text(self, setting: Setting, text: str, path: str, source: str) -> Any:
        """Coerce text (an env variable, a raw property) to the setting's type; reports what does not coerce."""
        shown = _MASKED if setting.secret else _quoted(text)
        if setting.kind == "int":
            try:
                return int(text.strip())
            except ValueError:
                self.error(path, f"{source}={shown}: expected an integer")
                return _INVALID
        if setting.kind == "float":
            try:
                return float(text.strip())
            except ValueError:
                self.error(path, f"{source}={shown}: expected a number")
                return _INVALID
        if setting.kind == "bool":
            lowered = text.strip().lower()
            if lowered in ("true", "1", "yes", "on"):
                return True
            if lowered in ("false", "0", "no", "off"):
                return False
            self.error(path, f"{source}={shown}: expected true or false")
            return _INVALID
        return text

    def _unknown_env(self) -> None:
        for name in sorted(set(self.env) - self.env_known):
            close = difflib.get_close_matches(name, sorted(self.env_known), n=1, cutoff=0.8)
            hint = f"; did you mean {close[0]}?" if close else ""
            self.warn("", f"environment variable {name} matches no setting{hint}")
