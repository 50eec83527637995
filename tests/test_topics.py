"""topics: the names Kafka accepts, origin-topic regexes, and topics routes may not share."""

from __future__ import annotations

import pytest

from zig_cli.checks import Findings
from zig_cli.model import Route, Value
from zig_cli.topics import check_routes_apart, topic_problem


@pytest.mark.parametrize(
    ("topic", "regex_allowed", "expected"),
    [
        ("orders.v1_x-y", False, ""),
        ("orders-.*", True, ""),
        ("orders-.*", False, "is not a valid Kafka topic name: use only letters, digits, '.', '_' and '-'"),
        ("..", False, "is not a valid Kafka topic name: '.' and '..' are reserved"),
        ("x" * 250, False, "is not a valid Kafka topic name: it has more than 249 characters"),
        (
            "orders-(",
            True,
            "is not a plain topic name, so it is read as a regex, and it does not compile: "
            "missing ), unterminated subpattern at position 7",
        ),
    ],
)
def test_topic_names_as_kafka_judges_them(topic: str, regex_allowed: bool, expected: str):
    assert topic_problem(topic, regex_allowed) == expected


def _route(name: str, origin: str, retry: str) -> Route:
    topics = {"origin-topic": origin, "retry-topic": retry, "dead-letter-topic": f"{name}-dlt"}
    return Route("batch", name, f"batch-routes.{name}", {k: Value(v, "file") for k, v in topics.items()})


def test_a_regex_origin_may_not_read_another_routes_retry_topic():
    findings = Findings("c.edn")
    check_routes_apart(findings, [_route("a", "shop-.*", "a-retry"), _route("b", "b", "shop-b-retry")])
    assert [str(p) for p in findings.problems] == [
        "c.edn: batch-routes.a.origin-topic: the regex 'shop-.*' also matches batch-routes.b.retry-topic "
        "('shop-b-retry'); its consumers would read those messages"
    ]
