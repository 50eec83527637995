"""Kafka's topic names, and the topics each route owns.

An origin-topic made only of topic-name characters is a topic; anything else is one of Ziggurat's regexes, which
librdkafka subscribes to anchored. A route's retry and dead-letter topics are its own: no other route may read or
write them.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping, Sequence

from zig_cli.checks import Findings, join, quoted
from zig_cli.model import Route, Value

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


def regex(pattern: str) -> re.Pattern[str] | str:
    """The origin-topic regex as librdkafka anchors it, or why it does not compile."""
    with warnings.catch_warnings():
        # Python warns about POSIX classes such as [[:alpha:]] (a nested set to it), which librdkafka reads as such.
        warnings.simplefilter("ignore", FutureWarning)
        try:
            re.compile(pattern)
            return re.compile(subscription(pattern))
        except (re.error, RecursionError, OverflowError) as error:
            return str(error)


def topic_problem(topic: str, regex_allowed: bool) -> str:
    """Why Kafka would refuse this topic name (or why an origin-topic regex cannot be used), or ""."""
    if regex_allowed and not is_plain_topic(topic):
        compiled = regex(topic)
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


def check_topics(findings: Findings, path: str, values: Mapping[str, Value]) -> None:
    """A route's topics are names Kafka accepts (its origin topic may be a regex that compiles), each its own."""
    names = {key: values[key].value for key in ("origin-topic", "retry-topic", "dead-letter-topic") if key in values}
    seen: dict[str, str] = {}
    for key, topic in names.items():
        wrong = topic_problem(topic, regex_allowed=key == "origin-topic")
        if wrong:
            derived = " (derived from app-name and the route name)" if values[key].origin == "derived" else ""
            findings.error(join(path, key), f"{quoted(topic)}{derived} {wrong}")
        elif topic in seen:
            findings.error(join(path, key), f"{topic!r} is also the route's {seen[topic]}; each needs its own topic")
        seen.setdefault(topic, key)


def check_routes_apart(findings: Findings, routes: Sequence[Route]) -> None:
    """Each route owns its name and its retry and dead-letter topics: another route reading them would handle
    its messages with the wrong handler."""
    names: dict[str, str] = {}
    for route in routes:
        if route.name in names:
            unique = "route names must be unique"
            findings.error(route.path, f"route name {route.name!r} is also {names[route.name]}; {unique}")
        names.setdefault(route.name, route.path)
    # (key path, owned by its route alone, topic, route number) for every topic name a route reads or writes
    uses: list[tuple[str, bool, str, int]] = []
    for number, route in enumerate(routes):
        for key in ("origin-topic", "retry-topic", "dead-letter-topic"):
            topic = route.values[key].value if key in route.values else None
            if isinstance(topic, str) and (key != "origin-topic" or is_plain_topic(topic)):
                uses.append((join(route.path, key), key != "origin-topic", topic, number))
    first: dict[str, tuple[str, bool, int]] = {}
    for key_path, owned, topic, number in uses:
        earlier = first.setdefault(topic, (key_path, owned, number))
        if earlier[2] != number and (owned or earlier[1]):
            findings.error(
                key_path, f"{topic!r} is also {earlier[0]}; each route needs its own retry and dead-letter topics"
            )
    for route in routes:
        origin = route.values["origin-topic"].value if "origin-topic" in route.values else ""
        pattern = regex(origin) if isinstance(origin, str) and origin and not is_plain_topic(origin) else None
        if not isinstance(pattern, re.Pattern):
            continue
        for key_path, owned, topic, _ in uses:
            if owned and pattern.search(topic):
                findings.error(
                    join(route.path, "origin-topic"),
                    f"the regex {quoted(origin)} also matches {key_path} ({topic!r}); "
                    "its consumers would read those messages",
                )
