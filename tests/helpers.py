"""What tests share without a broker: where the fixtures are, waiting on a condition, builders for small configs."""

from __future__ import annotations

import copy
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from zig_cli import loader

FIXTURES = Path(__file__).parent / "fixtures"
SAMPLES = Path(__file__).parent.parent / "sample-configs"

# Which broker the broker tests start: tansu (in memory, quick) or Apache Kafka itself (see apache_kafka.py).
BROKERS = ("tansu", "apache-kafka")
BROKER = os.environ.get("ZIG_TEST_BROKER") or "tansu"
# tansu's traits that some tests work around: a group join takes half the session timeout, a rejoin of two members
# at once sometimes never completes, "latest" offsets are answered wrongly, and any session timeout is granted.
ON_TANSU = BROKER == "tansu" and not os.environ.get("ZIG_TEST_BOOTSTRAP_SERVERS")
# Consumer threads for tests that restart or add a member: two, as a user would run, except on tansu.
REJOIN_THREADS = 1 if ON_TANSU else 2
# The groups of test routes: a join on tansu takes half the session timeout, so there it is 2 s; Apache Kafka refuses
# one under its group.min.session.timeout.ms, 6 s. Heartbeats well inside it, so a rebalance is seen soon.
SESSION_TIMEOUT_MS = 2000 if ON_TANSU else 6000
HEARTBEAT_MS = SESSION_TIMEOUT_MS // 5
# How the routes of the broker tests' `zig run`s join their groups: classic, or KIP-848's consumer protocol, which
# only Apache Kafka speaks (kafka_helpers.write_route_config applies it).
GROUP_PROTOCOLS = ("classic", "consumer")
GROUP_PROTOCOL = os.environ.get("ZIG_TEST_GROUP_PROTOCOL") or "classic"


def wait_until(predicate: Callable[[], object], timeout: float, message: str = "condition") -> None:
    """Poll `predicate` until it is truthy; fail the test with `message` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message}")
        time.sleep(0.05)


def batch_route(**overrides: Any) -> dict[str, Any]:
    route: dict[str, Any] = {
        "handler-fn": "zig_fixture_handlers/on-batch",
        "bootstrap-servers": "localhost:9092",
        "consumer-group-id": "orders-group",
        "origin-topic": "orders",
    }
    route.update(overrides)
    return route


def stream_route(**overrides: Any) -> dict[str, Any]:
    route: dict[str, Any] = {
        "handler-fn": "zig_fixture_handlers/on-message",
        "bootstrap-servers": "localhost:9092",
        "application-id": "stream-group",
        "origin-topic": "events",
    }
    route.update(overrides)
    return route


def flat_config(**sections: Any) -> dict[str, Any]:
    """A valid flat config with one batch route `orders`; keyword arguments replace top-level sections."""
    config: dict[str, Any] = {"app-name": "shop", "batch-routes": {"orders": batch_route()}}
    config.update(copy.deepcopy(sections))
    return config


def write(tmp_path: Path, data: dict[str, Any], fmt: loader.Format = "edn", name: str = "config") -> Path:
    path = tmp_path / f"{name}.{fmt}"
    path.write_text(loader.dumps(data, fmt), encoding="utf-8")
    return path
