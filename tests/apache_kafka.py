"""A single-node Apache Kafka in KRaft mode (one process, broker and controller) for the broker tests.

Its jars come from Maven Central through `mvn` into a cache folder outside the repository (`ZIG_TEST_CACHE`, default
`~/.cache/zig-tests`), once per pinned version. `start()` formats a fresh log folder, starts the broker on free
loopback ports and returns once a client can create a topic, not merely once a port is open."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from zig_cli import embedded

VERSION = "4.1.1"
LOG4J_VERSION = "2.24.3"
READY_TIMEOUT_S = 90.0

POM = f"""<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>zig-tests</groupId><artifactId>apache-kafka</artifactId><version>{VERSION}</version>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>{VERSION}</version>
    </dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j-impl</artifactId>
      <version>{LOG4J_VERSION}</version></dependency>
  </dependencies>
</project>
"""

# INFO from the broker itself, WARN from the chatty rest: enough to see why a test's group or topic misbehaved.
LOG4J2 = """status = warn
appender.out.type = Console
appender.out.name = out
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRef.out.ref = out
logger.kafka.name = kafka
logger.kafka.level = INFO
logger.coordinator.name = org.apache.kafka.coordinator
logger.coordinator.level = INFO
logger.authorizer.name = kafka.authorizer.logger
logger.authorizer.level = INFO
"""


class MissingTool(RuntimeError):
    """Java or Maven is not installed: says what to install."""


def cache_dir() -> Path:
    return Path(os.environ.get("ZIG_TEST_CACHE") or Path.home() / ".cache" / "zig-tests") / f"apache-kafka-{VERSION}"


def missing_tools() -> list[str]:
    return [tool for tool in ("java", "mvn") if shutil.which(tool) is None]


def jars() -> Path:
    """The folder of the broker's jars, fetched with `mvn` the first time."""
    home = cache_dir()
    libs = home / "libs"
    done = home / "complete"
    if done.exists():
        return libs
    missing = missing_tools()
    if missing:
        raise MissingTool(
            f"the Apache Kafka broker tests need {' and '.join(missing)} on PATH "
            "(install a Java 17+ JDK and Apache Maven, e.g. `apt-get install openjdk-17-jdk-headless maven`)"
        )
    home.mkdir(parents=True, exist_ok=True)
    (home / "pom.xml").write_text(POM, encoding="utf-8")
    shutil.rmtree(libs, ignore_errors=True)
    fetched = subprocess.run(
        ["mvn", "-q", "-B", "-f", str(home / "pom.xml"), "dependency:copy-dependencies", f"-DoutputDirectory={libs}"],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if fetched.returncode != 0:
        raise RuntimeError(f"mvn could not fetch Apache Kafka {VERSION}:\n{(fetched.stdout + fetched.stderr)[-3000:]}")
    (home / "log4j2.properties").write_text(LOG4J2, encoding="utf-8")
    done.write_text(VERSION, encoding="utf-8")
    return libs


@dataclass(frozen=True)
class Listener:
    """A client listener: its name in server.properties and its security protocol."""

    name: str
    protocol: str = "PLAINTEXT"


@dataclass
class Broker:
    """A running broker: its listeners' addresses, its log, its process."""

    addresses: dict[str, str]
    log: Path
    process: subprocess.Popen[bytes]
    folder: Path
    admin_config: dict[str, str] = field(default_factory=dict)

    @property
    def bootstrap(self) -> str:
        return next(iter(self.addresses.values()))


def server_properties(
    folder: Path, ports: Mapping[str, int], controller_port: int, listeners: list[Listener], extra: Mapping[str, str]
) -> str:
    client = ",".join(f"{listener.name}://127.0.0.1:{ports[listener.name]}" for listener in listeners)
    protocols = ",".join(f"{listener.name}:{listener.protocol}" for listener in listeners)
    properties = {
        "process.roles": "broker,controller",
        "node.id": "1",
        "controller.quorum.voters": f"1@127.0.0.1:{controller_port}",
        "listeners": f"{client},CONTROLLER://127.0.0.1:{controller_port}",
        "advertised.listeners": client,
        "inter.broker.listener.name": listeners[0].name,
        "controller.listener.names": "CONTROLLER",
        "listener.security.protocol.map": f"{protocols},CONTROLLER:PLAINTEXT",
        "log.dirs": str(folder / "data"),
        # One node: nothing can be replicated, and a test should not wait for groups or topics to settle.
        "offsets.topic.replication.factor": "1",
        "offsets.topic.num.partitions": "4",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        "group.initial.rebalance.delay.ms": "0",
        # Groups of the consumer protocol (KIP-848) take their session and heartbeats from the broker: as quick as
        # the classic groups of the tests (whose session timeout is 6 s), and heartbeats often enough that an
        # assignment, which travels with them, moves within a second.
        "group.consumer.min.session.timeout.ms": "6000",
        "group.consumer.session.timeout.ms": "6000",
        "group.consumer.min.heartbeat.interval.ms": "500",
        "group.consumer.heartbeat.interval.ms": "500",
        "num.partitions": "1",
        "auto.create.topics.enable": "false",
        **extra,
    }
    return "".join(f"{key}={value}\n" for key, value in properties.items())


def _java(libs: Path, main: str, *args: str, log_config: Path) -> list[str]:
    return [
        "java",
        "-Xms256m",
        "-Xmx768m",
        "-XX:+UseSerialGC",
        "-XX:TieredStopAtLevel=1",
        f"-Dlog4j2.configurationFile={log_config}",
        "-cp",
        f"{libs}/*",
        main,
        *args,
    ]


@contextlib.contextmanager
def start(
    folder: Path,
    listeners: list[Listener] | None = None,
    extra: Mapping[str, str] | None = None,
    format_args: list[str] | None = None,
    admin_config: Mapping[str, str] | None = None,
) -> Iterator[Broker]:
    """Apache Kafka on free loopback ports, its data and log under `folder`; stopped at the end.

    `format_args` go to `kafka-storage format` (e.g. `--add-scram` users); `admin_config` is what the readiness
    check's client needs on the first listener (e.g. a super user's SASL settings)."""
    libs = jars()
    listeners = listeners or [Listener("PLAINTEXT")]
    folder.mkdir(parents=True, exist_ok=True)
    ports = {listener.name: embedded.free_port() for listener in listeners}
    controller_port = embedded.free_port()
    properties = folder / "server.properties"
    properties.write_text(server_properties(folder, ports, controller_port, listeners, extra or {}), encoding="utf-8")
    log_config = cache_dir() / "log4j2.properties"
    log = folder / "apache-kafka.log"
    with log.open("wb") as out:
        cluster_id = subprocess.run(
            _java(libs, "kafka.tools.StorageTool", "random-uuid", log_config=log_config),
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
        ).stdout.strip()
        subprocess.run(
            _java(
                libs,
                "kafka.tools.StorageTool",
                "format",
                "-t",
                cluster_id,
                "-c",
                str(properties),
                *(format_args or []),
                log_config=log_config,
            ),
            stdout=out,
            stderr=subprocess.STDOUT,
            check=True,
            timeout=120,
        )
        process = subprocess.Popen(
            _java(libs, "kafka.Kafka", str(properties), log_config=log_config),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    addresses = {listener.name: f"127.0.0.1:{ports[listener.name]}" for listener in listeners}
    broker = Broker(addresses, log, process, folder, dict(admin_config or {}))
    try:
        wait_ready(broker)
        yield broker
    finally:
        stop(process)


def wait_ready(broker: Broker) -> None:
    """Ready means a client can create a topic and see it with a leader: the controller has a quorum, the broker
    has registered and unfenced itself."""
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient, NewTopic

    # Quiet: until the broker listens, every attempt would log a refused connection.
    admin = AdminClient({"bootstrap.servers": broker.bootstrap, "log_level": 0, **broker.admin_config})
    deadline = time.monotonic() + READY_TIMEOUT_S
    last: object = "no answer"
    while time.monotonic() < deadline:
        if broker.process.poll() is not None:
            break
        try:
            admin.create_topics([NewTopic("zig-ready", 1, 1)], request_timeout=5)["zig-ready"].result(10)
            return
        except KafkaException as error:
            if error.args[0].name() == "TOPIC_ALREADY_EXISTS":
                return
            last = error
        time.sleep(0.2)
    tail = broker.log.read_text(errors="replace")[-3000:]
    raise RuntimeError(f"Apache Kafka {VERSION} did not become ready ({last}); its log {broker.log} ends:\n{tail}")


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGCONT)  # a test may have stopped it
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(30)
