"""What `zig validate` prints around the problems: --quiet, tables piped to a file, how long retries last."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import batch_route, flat_config, write
from typer.testing import CliRunner

from zig_cli import envelope
from zig_cli.cli import _duration, app
from zig_cli.model import Retry

runner = CliRunner()


def test_quiet_prints_the_problems_and_one_summary_line(tmp_path: Path):
    route = batch_route(**{"thread-count": 0, "max-poll-record": 3, "kafka-properties": {"fetch.min.byte": 1}})
    broken = write(tmp_path, flat_config(**{"batch-routes": {"orders": route}}), name="broken")
    result = runner.invoke(app, ["validate", str(broken), "--quiet"])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert [line.split(": ", 2)[1] for line in result.stderr.splitlines()] == [
        "batch-routes.orders.kafka-properties.fetch.min.byte",
        "batch-routes.orders.max-poll-record",
        "batch-routes.orders.thread-count",
        "3 problems",
    ]
    valid = write(tmp_path, flat_config(), name="valid")
    result = runner.invoke(app, ["validate", str(valid), "-q"])
    assert (result.exit_code, result.stdout, result.stderr) == (0, f"{valid}: valid, 1 route(s)\n", "")


def test_librdkafka_judges_the_raw_properties_in_the_same_pass_as_zigs_own_problems(tmp_path: Path):
    properties = {"fetch.min.bytes": "abc", "sasl.password": "hunter2"}
    producer = {"kafka-properties": {"queue.buffering.max.kbytes": "lots"}}
    route = batch_route(**{"thread-count": "two", "kafka-properties": properties, "producer": producer})
    broken = write(tmp_path, flat_config(**{"batch-routes": {"orders": route}}), name="broken")
    result = runner.invoke(app, ["validate", str(broken), "--quiet"])
    assert result.exit_code == 2 and "hunter2" not in result.stderr
    lines = result.stderr.splitlines()
    assert [line.split(": ", 2)[1] for line in lines] == [
        "batch-routes.orders.kafka-properties",
        "batch-routes.orders.producer.kafka-properties",
        "batch-routes.orders.thread-count",
        "3 problems",
    ]
    assert 'Invalid value for configuration property "fetch.min.bytes"' in lines[0]
    assert 'Invalid value for configuration property "queue.buffering.max.kbytes"' in lines[1]


def test_tables_piped_to_a_file_keep_each_value_on_one_line(tmp_path: Path):
    group = "a-consumer-group-whose-name-is-longer-than-any-terminal-is-wide-" + "x" * 60
    path = write(tmp_path, flat_config(**{"batch-routes": {"orders": batch_route(**{"consumer-group-id": group})}}))
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    cwd = Path(__file__).parent / "fixtures"  # where the handler fixture modules are
    done = subprocess.run(
        [sys.executable, "-m", "zig_cli", "validate", str(path)], capture_output=True, text=True, env=env, cwd=cwd
    )
    assert done.returncode == 0, done.stderr
    [row] = [line for line in done.stdout.splitlines() if "consumer-group-id" in line]
    assert group in row


LINEAR = Retry(enabled=True, count=3, type="linear", backoff_ms=1000, max_backoff_ms=3_600_000, max_held_bytes=1)


@pytest.mark.parametrize(
    ("retry", "gives_up_ms"),
    [
        (LINEAR, 3000),
        (Retry(True, 5, "exponential", 100, 1000, 1), 100 + 300 + 700 + 1000 + 1000),  # capped by max-backoff-ms
        (Retry(True, 0, "linear", 1000, 1000, 1), 0),
        (Retry(False, 5, "linear", 1000, 1000, 1), 0),
    ],
    ids=["linear", "exponential, capped", "no retries", "retry off"],
)
def test_how_long_retries_last_before_the_dead_letters(retry: Retry, gives_up_ms: int):
    assert envelope.give_up_ms(retry) == gives_up_ms


@pytest.mark.parametrize(
    ("ms", "text"),
    [(0, "0 ms"), (800, "800 ms"), (3000, "3 s"), (1500, "1.5 s"), (720_000, "12 min"), (9_000_000, "2.5 h")],
)
def test_durations_read_as_people_say_them(ms: int, text: str):
    assert _duration(ms) == text


def test_validate_says_when_each_route_gives_up(tmp_path: Path):
    routes = {
        "orders": batch_route(retry={"enabled": True, "count": 10, "type": "exponential", "backoff-ms": 100}),
        "audit": batch_route(**{"origin-topic": "audit", "consumer-group-id": "audit-group"}),
    }
    path = write(tmp_path, flat_config(**{"batch-routes": routes}))
    result = runner.invoke(app, ["validate", str(path)], env={"COLUMNS": "400"})
    assert result.exit_code == 0, result.stderr
    # 10 exponential backoffs from 100 ms: (1 + 3 + 7 + ... + 1023) * 100 ms = 203.6 s
    assert "then to dead-letter topic 'shop-orders-dead-letter' (it gives up after about 3.4 min)" in result.stdout
    assert "retry is disabled: messages to retry go to dead-letter topic 'shop-audit-dead-letter' at once" in (
        result.stdout
    )
    document = runner.invoke(app, ["validate", str(path), "--format", "json"]).stdout
    assert '"gives_up_after_ms": 0' in document and '"gives_up_after_ms": 203600' in document
