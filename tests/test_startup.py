"""`zig run` start-up while the brokers do not answer: it says what it waits for, and a stop signal ends the wait."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException
from kafka_helpers import Zig, write_route_config

from zig_cli import embedded, kafka
from zig_cli.errors import KafkaFatalError, ZigError

HANDLER = "def on_batch(batch):\n    return None\n"


def unreachable_config(tmp_path: Path, **route: Any) -> tuple[Path, str]:
    """A config whose one route points at a free port where nothing listens."""
    address = f"127.0.0.1:{embedded.free_port()}"
    (tmp_path / "h.py").write_text(HANDLER, encoding="utf-8")
    routes = {"orders": {"handler-fn": "h/on-batch", "consumer-group-id": "g", "origin-topic": "orders", **route}}
    return write_route_config(tmp_path / "config.edn", address, routes), address


def test_a_stop_signal_ends_the_wait_for_an_unreachable_broker(tmp_path: Path):
    config, address = unreachable_config(tmp_path)
    zig = Zig(config, tmp_path / "record.jsonl")
    zig.wait_for_log(f"route=orders waiting for broker(s) {address} (", timeout=30)
    signalled = time.monotonic()
    code = zig.stop(signal.SIGTERM, timeout=30)
    waited = time.monotonic() - signalled
    output = zig.output()
    assert code == 1, output
    assert waited < 5, f"exited {waited:.1f} s after SIGTERM"
    assert f"stopped while waiting for broker(s) {address}" in output
    assert "Connection refused" in output  # librdkafka's reason, not only "Broker transport failure"
    assert "Traceback" not in output


def test_an_unreachable_broker_stops_start_up_after_the_api_timeout(tmp_path: Path):
    config, address = unreachable_config(tmp_path, **{"default-api-timeout-ms": 2000})
    zig = Zig(config, tmp_path / "record.jsonl")
    code = zig.wait(30)
    output = zig.output()
    assert code == 1, output
    assert f"cannot reach broker(s) {address} within 2 s: " in output
    assert "Traceback" not in output


class UnreachableAdmin:
    """An AdminClient whose brokers never answer: each list_topics fails as librdkafka's does, at once."""

    calls = 0
    stop = threading.Event()
    error = KafkaError(KafkaError._TRANSPORT, "Failed to get metadata: Local: Broker transport failure")

    def __init__(self, conf: dict[str, Any]) -> None:
        pass

    def list_topics(self, timeout: float) -> Any:
        UnreachableAdmin.calls += 1
        if UnreachableAdmin.calls == 3:
            UnreachableAdmin.stop.set()  # as the signal handler does, between two steps of the wait
        raise KafkaException(UnreachableAdmin.error)

    def poll(self, timeout: float) -> int:
        return 0  # no log lines: the waiting line falls back on the exception's text


def test_the_wait_is_logged_and_honours_the_stop_event(monkeypatch: pytest.MonkeyPatch, caplog: Any):
    monkeypatch.setattr(kafka, "AdminClient", UnreachableAdmin)
    monkeypatch.setattr(UnreachableAdmin, "calls", 0)
    monkeypatch.setattr(UnreachableAdmin, "stop", threading.Event())
    with pytest.raises(ZigError) as caught:
        kafka.prepare_topics({"bootstrap.servers": "b:9092"}, "orders", [], 60, False, "orders", UnreachableAdmin.stop)
    assert not isinstance(caught.value, KafkaFatalError)
    assert str(caught.value).startswith("stopped while waiting for broker(s) b:9092 (")
    assert UnreachableAdmin.calls == 3
    waiting = [r for r in caplog.records if "waiting for broker" in r.getMessage()]
    assert [r.getMessage() for r in waiting] == [
        "route=orders waiting for broker(s) b:9092 (0 s of 60 s): Failed to get metadata: Local: Broker transport "
        "failure"
    ]
    assert [r.route for r in waiting] == ["orders"]  # the context for JSON lines, given with extra=


def test_an_error_no_wait_can_fix_ends_start_up_at_once(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(kafka, "AdminClient", UnreachableAdmin)
    monkeypatch.setattr(UnreachableAdmin, "calls", 0)
    monkeypatch.setattr(UnreachableAdmin, "error", KafkaError(KafkaError._AUTHENTICATION, "SASL handshake failed"))
    with pytest.raises(KafkaFatalError) as caught:
        kafka.prepare_topics({"bootstrap.servers": "b:9092"}, "orders", [], 60, False, "orders", threading.Event())
    assert str(caught.value) == (
        "authentication failed at broker(s) b:9092: SASL handshake failed (check the :jaas username, password and "
        "mechanism of :sasl or :ssl)"
    )
    assert UnreachableAdmin.calls == 1


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--graceful-timeout", "nan", "Invalid value for --graceful-timeout: must be from 0 to 86400 seconds, got nan"),
        ("--graceful-timeout", "-1", "Invalid value for --graceful-timeout: must be from 0 to 86400 seconds, got -1"),
        ("--graceful-timeout", "1e308", "must be from 0 to 86400 seconds, got 1e+308"),
        ("--stats-interval", "0", "Invalid value for --stats-interval: must be from 0.1 to 86400 seconds, got 0"),
        ("--stats-interval", "inf", "Invalid value for --stats-interval: must be from 0.1 to 86400 seconds, got inf"),
    ],
)
def test_run_durations_out_of_range_are_usage_errors(option: str, value: str, message: str, tmp_path: Path):
    config, _ = unreachable_config(tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "zig_cli", "run", str(config), option, value],
        cwd=tmp_path,
        capture_output=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "300"},  # so the usage panel does not wrap the message
    )
    stderr = result.stderr.decode()
    assert result.returncode == 2, stderr
    assert message in stderr
    assert "Traceback" not in stderr
