"""What a checked config is: frozen routes and settings, each value with where it came from.

`zig_cli.config` builds them from a file and is where the rest of zig imports them from.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from zig_cli import defaults
from zig_cli.defaults import RouteKind, Section
from zig_cli.errors import Problem

Origin = Literal["default", "file", "env", "derived", "embedded"]


@dataclass(frozen=True)
class Value:
    """An effective setting and where it came from."""

    value: Any
    origin: Origin
    # For a key that is no zig setting but a librdkafka property in kebab case (Ziggurat passed any key to Kafka):
    # the property its value is passed to, as text.
    passed: str = ""
    # The key as the file wrote it, when that is another spelling of the setting's key (`:protocol` for
    # security-protocol): what is said about the value names it as the file does.
    written: str = ""


def passed(values: Mapping[str, Value]) -> dict[str, str]:
    """The librdkafka properties of a map's keys that are passed through (Value.passed), with their values."""
    return {value.passed: str(value.value) for value in values.values() if value.passed}


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
    root: str = ""  # the key path the settings sit under: "ziggurat" in Ziggurat's root form, else ""

    def setting(self, key: str) -> Any:
        return self.operations[key].value

    def route(self, name: str) -> Route:
        for route in self.routes:
            if route.name == name:
                return route
        raise KeyError(name)
