"""How a route's consumers are members of their group: the group protocol's settings, and static membership's
`group-instance-id` template with the id it gives each consumer.

With `group-protocol consumer` (KIP-848) the broker sets the session timeout: the table's default for
`session-timeout-ms-config` is dropped, so it is neither sent nor shown (a value the user sets is refused, by
`kafka.property_problems`, with the reason).

The template names a consumer, not a process: `{thread}` is the consumer thread's index (`retry` for the retry
worker, whose group is the route's group plus `-retry`), `{route}` the route's name, and `$NAME` or `${NAME}` an
environment variable (`$$` is a `$`). Environment variables are read once, when the config is checked, so an unset
one is a config error naming it; the placeholders are filled in for each consumer when it is built. Two consumers
with one id in one group fence each other out, so a route with several threads needs `{thread}`, and no two routes
of one process may give the same id.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from zig_cli import defaults
from zig_cli.checks import Findings, join
from zig_cli.model import Route, Value

KEY = "group-instance-id"
THREAD = "{thread}"
ROUTE = "{route}"
RETRY_THREAD = "retry"
SESSION_TIMEOUT = "session-timeout-ms-config"  # the classic protocol's alone
_PLACEHOLDERS = (THREAD, ROUTE)
_ENV = re.compile(r"\$(?:\$|\{([^}]+)\}|([A-Za-z_][A-Za-z0-9_]*))")
_PLACEHOLDER = re.compile(r"\{[^{}]*\}")


def resolve(findings: Findings, path: str, values: dict[str, Value], environ: Mapping[str, str]) -> None:
    """Settle a route's membership settings: drop the defaults its group protocol does not use, and fill the
    environment variables of its id template into its value, reporting what cannot be used."""
    protocol = values.get("group-protocol")
    session = values.get(SESSION_TIMEOUT)
    if protocol is not None and protocol.value == "consumer" and session is not None and session.origin == "default":
        del values[SESSION_TIMEOUT]
    value = values.get(KEY)
    if value is None:
        return
    template, missing = _with_environment(str(value.value), environ)
    key_path = join(path, KEY)
    for name in missing:
        findings.error(key_path, f"environment variable {name} is not set (export it, or leave it out of the id)")
    for unknown in sorted(set(_PLACEHOLDER.findall(template)) - set(_PLACEHOLDERS)):
        findings.error(key_path, f"unknown placeholder {unknown}; use {THREAD} (the thread's index) or {ROUTE}")
    if missing:
        return
    if not template.strip():
        findings.error(key_path, "is empty; leave it out for dynamic members")
        return
    threads = _threads(values)
    if threads > 1 and THREAD not in template:
        findings.error(
            key_path,
            f"has no {THREAD}, so the route's {threads} consumer threads would share one id and fence each other "
            f"out; add {THREAD}",
        )
    values[KEY] = Value(template, value.origin)


def instance_id(template: str, route: str, thread: int | str) -> str:
    """The id of one consumer: the template (environment variables already filled in) with its placeholders."""
    return template.replace(THREAD, str(thread)).replace(ROUTE, route)


def check_apart(findings: Findings, routes: Sequence[Route]) -> None:
    """No two consumers of one process share an id: each route's ids are its own."""
    owners: dict[str, str] = {}
    for route in routes:
        if KEY not in route.values:
            continue
        key_path = join(route.path, KEY)
        ids = {instance_id(route[KEY], route.name, thread) for thread in range(_threads(route.values))}
        clashes = sorted(found for found in ids if found in owners)
        if clashes:
            findings.error(
                key_path,
                f"gives {clashes[0]!r}, as {owners[clashes[0]]} does; each consumer needs its own id (add {ROUTE})",
            )
        for found in ids:
            owners.setdefault(found, key_path)


def _with_environment(template: str, environ: Mapping[str, str]) -> tuple[str, list[str]]:
    """The template with its environment variables filled in, and the names of those that are not set."""
    missing: list[str] = []

    def fill(match: re.Match[str]) -> str:
        name = match.group(1) if match.group(1) is not None else match.group(2)
        if name is None:
            return "$"
        if name not in environ:
            missing.append(name)
            return ""
        return environ[name]

    return _ENV.sub(fill, template), sorted(set(missing))


def _threads(values: Mapping[str, Value]) -> int:
    """A route's consumer threads, under either kind of route's key."""
    for key in defaults.ROUTE_SPELLINGS["threads"].values():
        if key in values and isinstance(values[key].value, int):
            return int(values[key].value)
    return 1
