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
from zig_cli.defaults import RouteKind, Section, Setting
from zig_cli.errors import ConfigError, Problem

Origin = Literal["default", "file", "env", "derived", "embedded"]

# Where each kind of route lives in the file, under its canonical name.
ROUTE_SECTIONS: Mapping[RouteKind, str] = {
    section.routes: key for key, section in defaults.ROOT.children.items() if section.routes is not None
}

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
    def table(self) -> Section:
        """This route's section of the settings table."""
        return defaults.route_section(self.kind)

    @property
    def group_id(self) -> str:
        """The consumer group: consumer-group-id, or a stream route's application-id."""
        return str(self._spelled("group-id"))

    @property
    def threads(self) -> int:
        """Consumer threads: thread-count, or a stream route's stream-threads-count."""
        return int(self._spelled("threads"))

    @property
    def api_timeout_ms(self) -> int:
        """Timeout of blocking calls: default-api-timeout-ms, or a stream route's default-api-timeout-ms-config."""
        return int(self._spelled("api-timeout-ms"))

    def is_secret(self, key: str) -> bool:
        """True when the setting behind one of `values`' keys ("producer.acks") is a secret."""
        setting = self.table.find(key)
        return setting is not None and setting.secret

    def _spelled(self, name: str) -> Any:
        return self[defaults.ROUTE_SPELLINGS[name][self.kind]]

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
    shown = repr(raw) if len(repr(raw)) <= 60 else repr(raw)[:57] + "..."
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


def _by_scope(values: Mapping[str, Value]) -> dict[str, dict[str, Value]]:
    """The root's values by where Config keeps them (their section's scope); app-name is a field of its own."""
    scoped: dict[str, dict[str, Value]] = {"process": {}, "clients": {}, "routes": {}}
    for key, value in values.items():
        section = defaults.ROOT.children.get(key.split(".", 1)[0]) if "." in key else None
        if key != "app-name":
            scoped[section.scope if section is not None else "process"][key] = value
    return scoped


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
        root_path, root = self._root(raw)
        values = self.walk(defaults.ROOT, root, root_path, ())
        app_name = values.get("app-name", Value("", "default")).value
        scoped = _by_scope(values)
        self._check_server_ports(scoped["process"], root_path)
        routes: list[Route] = []
        for key, held in defaults.ROOT.children.items():
            if held.routes is not None:
                entries = self._child(root, key, root_path)
                routes.extend(self.routes(held.routes, held.children["*"], entries, key, root_path, scoped, app_name))
        if not routes and not self.problems:
            self.error(root_path or "batch-routes", "no routes: add :batch-routes or :stream-router")
        self._check_routes_apart(routes)
        self._unknown_env()
        return Config(self.file, app_name, tuple(routes), scoped["clients"], tuple(self.warnings), scoped["process"])

    def _root(self, raw: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
        """The map that holds the settings (inside :ziggurat, or the file itself) and its key path."""
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
        return root_path, self._rename_aliases(root, root_path)

    def walk(self, section: Section, data: Any, path: str, env_parts: tuple[str, ...]) -> dict[str, Value]:
        """Check a map and the sections it holds, as the table declares them: key path -> Value ("jaas.password").
        Maps of routes are left to `routes`."""
        values = self.section(section, data, path, env_parts)
        given = data if isinstance(data, Mapping) else {}
        for key, child in section.children.items():
            if child.routes is not None or (child.optional and not isinstance(given.get(key), Mapping)):
                continue
            nested = self.walk(child, self._child(given, key, path), _join(path, key), (*env_parts, key))
            values.update({f"{key}.{k}": v for k, v in nested.items()})
        return values

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

    def routes(
        self,
        kind: RouteKind,
        shape: Section,
        entries: Mapping[str, Any],
        section_key: str,
        root_path: str,
        scoped: Mapping[str, Mapping[str, Value]],
        app_name: str,
    ) -> list[Route]:
        """The routes of one map of routes, each checked against `shape`."""
        routes: list[Route] = []
        for name, data in entries.items():
            path = _join(_join(root_path, section_key), name)
            if not isinstance(data, Mapping):
                self.error(path, f"expected a map of route settings, got {_describe(data)}")
                continue
            values = self.walk(shape, data, path, (section_key, str(name)))
            routes.append(Route(kind, str(name), path, self._derive(values, str(name), scoped["routes"], app_name)))
            self._check_topics(path, routes[-1].values)
            if "handler-fn" in values:
                self.handler_specs[_join(path, "handler-fn")] = values["handler-fn"].value
        return routes

    @staticmethod
    def _derive(
        walked: Mapping[str, Value], name: str, inherited: Mapping[str, Value], app_name: str
    ) -> dict[str, Value]:
        """A route's values with what it leaves to others: the root's sections it inherits (its own section of the
        same name overrides them), its producer's brokers, and its retry and dead-letter topics."""
        sections = {key for key, child in defaults.ROOT.children.items() if child.scope == "routes"}
        values = {k: v for k, v in walked.items() if k.split(".", 1)[0] not in sections}
        if any(key.startswith("producer.") for key in values):
            servers = values.get("bootstrap-servers", Value("", "default")).value
            values.setdefault("producer.bootstrap-servers", Value(servers, "derived"))
        for key, global_value in inherited.items():
            values[key] = walked.get(key, global_value)
        for topic, suffix in (("retry-topic", "retry"), ("dead-letter-topic", "dead-letter")):
            if topic not in values:
                values[topic] = Value(f"{app_name}-{name}-{suffix}", "derived")
        return values

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
