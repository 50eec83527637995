"""Validate a loaded config against the settings table: defaults, env overrides, types, ranges, unknown keys.

`check()` never raises for what the file says: it collects every problem (sorted) and every warning, and builds a
frozen `Config` when there are no problems. `validate()` is the same but raises `ConfigError`.

The walk follows the sections the table declares (`defaults.ROOT` and each section's children); one map is
checked by `checks.SectionCheck`, a route's topics by `topics`, and the result is made of `model`'s classes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from zig_cli import defaults, membership, security
from zig_cli.checks import Environment, Findings, SectionCheck, describe, env_name, join
from zig_cli.defaults import RouteKind, Section
from zig_cli.errors import ConfigError, Problem
from zig_cli.model import Config, Retry, Route, Value
from zig_cli.topics import check_routes_apart, check_topics, is_plain_topic, subscription

__all__ = [
    "ROUTE_SECTIONS",
    "Config",
    "Report",
    "Retry",
    "Route",
    "Value",
    "check",
    "env_name",
    "is_plain_topic",
    "subscription",
    "validate",
    "with_bootstrap_servers",
]

# Where each kind of route lives in the file, under its canonical name.
ROUTE_SECTIONS: Mapping[RouteKind, str] = {
    section.routes: key for key, section in defaults.ROOT.children.items() if section.routes is not None
}


@dataclass(frozen=True)
class Report:
    """What checking a config found; `config` is set only when `problems` is empty."""

    config: Config | None
    problems: tuple[Problem, ...]
    warnings: tuple[Problem, ...]
    handler_specs: Mapping[str, str] = field(default_factory=dict)  # key path -> handler spec, for importing
    stream_handlers: frozenset[str] = frozenset()  # the key paths of handler_specs that are stream routes'
    hook_specs: Mapping[str, str] = field(default_factory=dict)  # key path -> start-fn or stop-fn spec


def validate(raw: Mapping[str, Any], file: str = "<config>", environ: Mapping[str, str] | None = None) -> Config:
    """Validate a loaded config; raises ConfigError with every problem found."""
    report = check(raw, file, environ)
    if report.config is None:
        raise ConfigError(list(report.problems), list(report.warnings))
    return report.config


def check(raw: Mapping[str, Any], file: str = "<config>", environ: Mapping[str, str] | None = None) -> Report:
    walk = _Walk(file, environ or {})
    config = walk.run(raw)
    found = walk.findings
    return Report(
        config=config if not found.problems else None,
        problems=tuple(sorted(found.problems, key=Problem.sort_key)),
        warnings=tuple(sorted(found.warnings, key=Problem.sort_key)),
        handler_specs=dict(walk.handler_specs),
        stream_handlers=frozenset(walk.stream_handlers),
        hook_specs=dict(walk.hook_specs),
    )


def with_bootstrap_servers(config: Config, servers: str) -> Config:
    """The same config with every route and producer pointed at `servers` (zig run --embedded-broker)."""
    keys = ("bootstrap-servers", "producer.bootstrap-servers")
    routes = tuple(
        replace(route, values={k: Value(servers, "embedded") if k in keys else v for k, v in route.values.items()})
        for route in config.routes
    )
    return replace(config, routes=routes)


class _Walk:
    """One config file walked as the settings table declares it: the root, the sections each holds, the routes."""

    def __init__(self, file: str, environ: Mapping[str, str]) -> None:
        self.findings = Findings(file)
        self.env = Environment(environ)
        self.environ = environ
        self.sections = SectionCheck(self.findings, self.env)
        self.handler_specs: dict[str, str] = {}
        self.stream_handlers: set[str] = set()
        self.hook_specs: dict[str, str] = {}

    def run(self, raw: Mapping[str, Any]) -> Config:
        root_path, root = self._root(raw)
        values = self.walk(defaults.ROOT, root, root_path, ())
        for key in ("start-fn", "stop-fn"):
            if key in values:
                self.hook_specs[join(root_path, key)] = values[key].value
        app_name = values.get("app-name", Value("", "default")).value
        scoped = _by_scope(values)
        for note in security.resolve(scoped["clients"]).notes:
            report = self.findings.error if note.severity == "error" else self.findings.warn
            report(join(root_path, note.path), note.message)
        _ziggurat_backoff(self.findings, scoped, "rabbit-mq" in root, root_path)
        _check_server_ports(self.findings, scoped["process"], root_path)
        routes: list[Route] = []
        for key, held in defaults.ROOT.children.items():
            if held.routes is not None:
                entries = _child(root, key)
                routes.extend(self.routes(held.routes, held.children["*"], entries, key, root_path, scoped, app_name))
        if not routes and not self.findings.problems:
            self.findings.error(root_path or "batch-routes", "no routes: add :batch-routes or :stream-router")
        check_routes_apart(self.findings, routes)
        membership.check_apart(self.findings, routes)
        for message in self.env.unknown():
            self.findings.warn("", message)
        warnings = tuple(self.findings.warnings)
        clients = scoped["clients"]
        return Config(self.findings.file, app_name, tuple(routes), clients, warnings, scoped["process"], root_path)

    def _root(self, raw: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
        """The map that holds the settings (inside :ziggurat, or the file itself) and its key path."""
        root_path = ""
        root: Any = raw
        if "ziggurat" in raw:
            root_path, root = "ziggurat", raw["ziggurat"]
            for key in raw:
                if key != "ziggurat" and (key in defaults.ROOT.children or key in defaults.SECTION_ALIASES):
                    self.findings.warn(key, "outside :ziggurat; zig reads only the settings inside :ziggurat")
            if not isinstance(root, Mapping):
                self.findings.error("ziggurat", f"expected a map, got {describe(root)}")
                root = {}
        renamed: dict[str, Any] = {}
        for key, value in root.items():
            canonical = defaults.SECTION_ALIASES.get(key, key)
            if canonical in renamed:
                self.findings.error(join(root_path, key), f"set twice, also as {canonical!r}")
                continue
            renamed[canonical] = value
        return root_path, renamed

    def walk(self, section: Section, data: Any, path: str, env_parts: tuple[str, ...]) -> dict[str, Value]:
        """Check a map and the sections it holds, as the table declares them: key path -> Value ("jaas.password").
        Maps of routes are left to `routes`."""
        values = self.sections.check(section, data, path, env_parts)
        given = data if isinstance(data, Mapping) else {}
        for key, child in section.children.items():
            if child.routes is not None or (child.optional and not isinstance(given.get(key), Mapping)):
                continue
            nested = self.walk(child, _child(given, key), join(path, key), (*env_parts, key))
            values.update({f"{key}.{k}": v for k, v in nested.items()})
        return values

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
            path = join(join(root_path, section_key), name)
            if not isinstance(data, Mapping):
                self.findings.error(path, f"expected a map of route settings, got {describe(data)}")
                continue
            values = self.walk(shape, data, path, (section_key, str(name)))
            membership.resolve(self.findings, path, values, self.environ)
            routes.append(Route(kind, str(name), path, _derive(values, str(name), scoped["routes"], app_name)))
            check_topics(self.findings, path, routes[-1].values)
            if "handler-fn" in values:
                self.handler_specs[join(path, "handler-fn")] = values["handler-fn"].value
                if kind == "stream":
                    self.stream_handlers.add(join(path, "handler-fn"))
        return routes


def _child(data: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    """The map under `key`, or an empty one: a value that is not a map was reported by the walk over `data`."""
    value = data.get(key)
    return value if isinstance(value, Mapping) else {}


def _by_scope(values: Mapping[str, Value]) -> dict[str, dict[str, Value]]:
    """The root's values by where Config keeps them (their section's scope); app-name is a field of its own."""
    scoped: dict[str, dict[str, Value]] = {"process": {}, "clients": {}, "routes": {}}
    for key, value in values.items():
        section = defaults.ROOT.children.get(key.split(".", 1)[0]) if "." in key else None
        if key != "app-name":
            scoped[section.scope if section is not None else "process"][key] = value
    return scoped


def _derive(walked: Mapping[str, Value], name: str, inherited: Mapping[str, Value], app_name: str) -> dict[str, Value]:
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


def _ziggurat_backoff(
    findings: Findings, scoped: dict[str, dict[str, Value]], has_rabbit_mq: bool, root_path: str
) -> None:
    """A Ziggurat config's retry delay, :rabbit-mq :delay :queue-timeout-ms (5000 ms when its :rabbit-mq leaves it
    out), is every route's retry backoff-ms unless backoff-ms is set: Ziggurat waited that long before a retry, and
    used it as exponential's base too."""
    timeout = scoped["process"].pop("rabbit-mq.delay.queue-timeout-ms", None)
    if timeout is None and not has_rabbit_mq:
        return
    backoff = scoped["routes"].get("retry.backoff-ms")
    if backoff is not None and backoff.origin != "default":
        if timeout is not None:
            findings.warn(
                join(root_path, "rabbit-mq.delay.queue-timeout-ms"),
                f"not used: retry.backoff-ms ({backoff.value}) is the retry backoff",
            )
        return
    if timeout is None:
        scoped["routes"]["retry.backoff-ms"] = Value(defaults.ZIGGURAT_QUEUE_TIMEOUT_MS, "derived")
    else:
        scoped["routes"]["retry.backoff-ms"] = Value(timeout.value, "env" if timeout.origin == "env" else "derived")


def _check_server_ports(findings: Findings, operations: Mapping[str, Value], root_path: str) -> None:
    """The metrics and HTTP servers cannot share a port (0 asks each for a free one of its own)."""
    servers = ("prometheus", "http-server")
    if not all(operations.get(f"{name}.enabled", Value(False, "default")).value for name in servers):
        return
    metrics, http = (operations.get(f"{name}.port") for name in servers)
    if metrics is None or http is None or not http.value or metrics.value != http.value:
        return
    source = f"{env_name('http-server', 'port')}: " if http.origin == "env" else ""
    other = f" ({env_name('prometheus', 'port')})" if metrics.origin == "env" else ""
    metrics_path = join(root_path, "prometheus.port")
    findings.error(
        join(root_path, "http-server.port"),
        f"{source}{http.value} is also {metrics_path}{other}; each server needs its own port",
    )


def raw_client_properties(raw: Mapping[str, Any]) -> list[tuple[str, str, Mapping[str, Any]]]:
    """Each route's raw `kafka-properties` maps as the file gives them (key path, client role, properties), read
    without the rest of the config having to be valid."""
    root_path, root = ("ziggurat", raw["ziggurat"]) if isinstance(raw.get("ziggurat"), Mapping) else ("", raw)
    found: list[tuple[str, str, Mapping[str, Any]]] = []
    for key, routes in root.items():
        section = defaults.ROOT.children.get(defaults.SECTION_ALIASES.get(key, key))
        if section is None or not section.routes or not isinstance(routes, Mapping):
            continue
        for name, route in routes.items():
            if not isinstance(route, Mapping):
                continue
            path = join(join(root_path, key), str(name))
            if isinstance(route.get("kafka-properties"), Mapping):
                found.append((f"{path}.kafka-properties", "consumer", route["kafka-properties"]))
            producer = route.get("producer")
            if isinstance(producer, Mapping) and isinstance(producer.get("kafka-properties"), Mapping):
                found.append((f"{path}.producer.kafka-properties", "producer", producer["kafka-properties"]))
    return found
