"""The benchmark in smoke mode, so it never rots: it runs every scenario end to end. No timing is asserted; the
concurrency scenario's per-key order is."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import BROKER

from bench import side_by_side

pytestmark = pytest.mark.kafka
ROOT = Path(__file__).parent.parent


def test_the_bench_runs_every_scenario_in_smoke_mode(bootstrap_servers: str, tmp_path: Path):
    # On Apache Kafka the bench starts its own, as `python -m bench --broker apache-kafka` does for a full run.
    broker = ["--broker", "apache-kafka"] if BROKER == "apache-kafka" else ["--bootstrap-servers", bootstrap_servers]
    result = subprocess.run(
        [sys.executable, "-m", "bench", "--smoke", "--runs", "1", *broker, "--out", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    name = "smoke-apache-kafka" if BROKER == "apache-kafka" else "smoke"
    report = json.loads((tmp_path / f"{name}.json").read_text())
    assert report["broker"].startswith("Apache Kafka 4.1.1 (KRaft" if BROKER == "apache-kafka" else "Kafka at ")
    scenarios = [figure["scenario"] for figure in report["figures"]]
    assert scenarios == [
        "batch route, no-op handler, thread-count 1",
        "batch route, no-op handler, thread-count 2",
        "stream route, no-op handler",
        "retry 10% once (backoff 500 ms): seconds until all handled",
        "retry 10% once (backoff 500 ms): zig against a raw retry loop",
        "retry 10% once (backoff 500 ms): zig against a raw retry loop that flushes before commit",
        "10 ms a message, 100 keys, 4 consumer threads: stream route, sync, concurrency 64",
        "10 ms a message, 100 keys, 4 consumer threads: stream route, async, concurrency 256",
        "10 ms a message, 100 keys, 4 consumer threads: batch route, sync, concurrency 64",
        "zig send --file, 5,000 messages",
        "start-up: zig --help",
        "start-up: zig validate sample-configs/config.edn",
        "start-up: one zig send, to its delivery report",
        "peak RSS of zig run draining 1,000 messages",
        "peak RSS of zig run draining 3,000 messages",
    ]
    for figure in report["figures"][:3]:  # the consuming scenarios: a second baseline, librdkafka's defaults
        assert figure["defaults"]["runs"] and figure["defaults"]["ratio"] > 0, figure["scenario"]
    for figure in report["figures"]:
        assert figure["zig"]["runs"] and figure["raw"]["runs"], figure["scenario"]
        assert figure["ratio"] is not None and figure["ratio"] > 0
        if figure["order_violations"] is not None:
            assert figure["order_violations"] == {"zig": [0], "baseline": [0]}, figure["scenario"]
    assert (tmp_path / f"{name}.md").read_text().startswith("zig benchmark (smoke")
    combined = side_by_side.table([report, report]).splitlines()
    assert combined[0] == combined[1] and combined[0].endswith("; 1 run(s) each")
    assert [line.split(" | ")[0] for line in combined[5:]] == scenarios
    assert all("librdkafka's defaults: " in line for line in combined[5:8]), "both baselines of the consuming ones"
    assert "librdkafka's defaults" not in "".join(combined[8:])
