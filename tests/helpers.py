"""Builders for small configs used across the tests."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from zig_cli import loader


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
