"""zig run's JSON log lines: the context a log call gives with extra= becomes fields of their own."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from zig_cli import cli, stats


def formatted(message: str, *args: Any, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    record = logging.getLogger("zig_cli.test").makeRecord(
        "zig_cli.test", logging.INFO, __file__, 1, message, args, None, extra=extra
    )
    return json.loads(cli.JsonLines().format(record))  # type: ignore[no-any-return]


def test_the_context_given_with_extra_becomes_fields():
    line = formatted(
        "route=%s %s[%d]@%d: offset not stored",
        "orders",
        "shop",
        3,
        42,
        extra={"route": "orders", "topic": "shop", "partition": 3, "offset": 42},
    )
    assert line["message"] == "route=orders shop[3]@42: offset not stored"
    assert (line["route"], line["topic"], line["partition"], line["offset"]) == ("orders", "shop", 3, 42)
    assert (line["level"], line["logger"]) == ("info", "zig_cli.test")


def test_the_context_is_taken_as_given_not_read_from_the_text():
    line = formatted("route=%s waiting", "other", extra={"route": "orders"})
    assert line["route"] == "orders"
    assert "topic" not in line and "partition" not in line


def test_a_line_without_context_has_no_context_fields():
    line = formatted("metrics at http://%s:%d/metrics", "0.0.0.0", 8002)
    assert set(line) == {"time", "level", "logger", "message"}


class Counted:
    """A route's counters as the summary reads them."""

    def snapshot(self) -> stats.Snapshot:
        return stats.Snapshot(consumed=10, succeeded=7, retried=2, skipped=1, batches=1, last_batch_ms=12.5)


def test_the_summary_line_carries_the_route_and_its_counters(caplog: pytest.LogCaptureFixture):
    with caplog.at_level(logging.INFO, logger="zig_cli.run"):
        cli._log_stats({"orders": Counted()})  # type: ignore[dict-item]
    [record] = caplog.records
    line = json.loads(cli.JsonLines().format(record))
    assert line["message"].startswith("route=orders consumed=10 succeeded=7 retried=2 skipped=1 dead_lettered=0")
    assert line["route"] == "orders"
    assert {c: line[c] for c in ("consumed", "succeeded", "retried", "batches", "last_batch_ms")} == {
        "consumed": 10,
        "succeeded": 7,
        "retried": 2,
        "batches": 1,
        "last_batch_ms": 12.5,
    }
