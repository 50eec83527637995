"""Every Kafka client zig makes connects the same way: the global :ssl and :sasl, then the route's own connection
properties (a route's keys win, as in Ziggurat). The consumers, the retry consumer, the admin client, the retry and
dead-letter producer, `zig send`'s producer and the dead set's clients are each built here, and the config each
receives is read back."""

from __future__ import annotations

import ast
import threading
from pathlib import Path
from typing import Any

import pytest
from fakes import FakeConsumer, FakeProducer
from helpers import batch_route, flat_config

from zig_cli import config, deadset, kafka, producer
from zig_cli.runner import Clients, Runner

SCRAM = "org.apache.kafka.common.security.scram.ScramLoginModule"
GLOBAL = {
    "sasl": {
        "enabled": True,
        "protocol": "SASL_SSL",
        "mechanism": "SCRAM-SHA-512",
        "jaas": {"username": "svc", "password": "pw", "login-module": SCRAM},
    }
}
SERVERS_OFF = {"prometheus": {"enabled": False}, "http-server": {"enabled": False}}
RETRY_ON = {"retry": {"enabled": True}}  # so that a route has its retry consumer too
# The route's own keys: a kebab-case key and a raw property override the global credentials; a consumer property is
# the consumers' alone.
OWN = {
    "sasl-username": "route-user",
    "kafka-properties": {"sasl.password": "route-pw", "fetch.min.bytes": 10},
    "isolation-level": "read_committed",
    "thread-count": 1,
}
CONNECTS = {
    "bootstrap.servers": "localhost:9092",
    "security.protocol": "SASL_SSL",
    "sasl.mechanism": "SCRAM-SHA-512",
    "sasl.username": "route-user",
    "sasl.password": "route-pw",
}
CONSUMER_ONLY = ("isolation.level", "fetch.min.bytes")


def route_config(**route: Any) -> config.Config:
    raw = flat_config(**GLOBAL, **SERVERS_OFF, **RETRY_ON, **{"batch-routes": {"orders": batch_route(**OWN, **route)}})
    return config.validate(raw, "c.edn", {})


def connection(props: dict[str, Any]) -> dict[str, Any]:
    return {key: props.get(key) for key in CONNECTS}


class Built(Exception):
    """Raised by a recorded constructor: the config is all a test wants of the client."""


def test_the_runners_clients_all_connect_as_the_route_says():
    cfg = route_config(producer={"linger-ms": 20})
    consumers: list[dict[str, str]] = []
    admins: list[dict[str, str]] = []
    forwarding: list[dict[str, str]] = []
    stop = threading.Event()

    def new_consumer(props: Any, callbacks: Any) -> FakeConsumer:
        consumers.append(dict(props))
        if len(consumers) == 2:
            stop.set()
        return FakeConsumer()

    def new_producer(props: Any) -> FakeProducer:
        forwarding.append(dict(props))
        return FakeProducer()

    clients = Clients(new_consumer, new_producer, lambda admin, *rest: admins.append(dict(admin)))
    runner = Runner(cfg, {"orders": lambda batch: None}, clients=clients)
    runner.stop = stop  # the workers end as soon as they have their consumers
    runner.start()
    assert runner.wait(10)
    assert sorted(props["group.id"] for props in consumers) == ["orders-group", "orders-group-retry"]
    for props in consumers:
        assert connection(props) == CONNECTS
        assert (props["isolation.level"], props["fetch.min.bytes"]) == ("read_committed", "10")
    for props in admins + forwarding:
        assert connection(props) == CONNECTS
        assert not set(CONSUMER_ONLY) & set(props)
    assert forwarding[0]["linger.ms"] == "20"  # the route's :producer settings still apply to forwarded copies
    assert (len(admins), len(forwarding)) == (1, 1)


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[dict[str, Any]]]:
    """Every confluent_kafka client built through zig_cli.kafka, by kind: its config; building one raises Built."""
    built: dict[str, list[dict[str, Any]]] = {"Consumer": [], "Producer": [], "AdminClient": []}
    for kind, confs in built.items():

        def record(conf: dict[str, Any], confs: list[dict[str, Any]] = confs) -> Any:
            confs.append(conf)
            raise Built

        monkeypatch.setattr(kafka, kind, record)
    return built


def test_zig_send_connects_as_the_route_says(recorded: dict[str, list[dict[str, Any]]]):
    with pytest.raises(Built):
        producer.Producers(route_config(producer={}), {}).get("orders")
    [conf] = recorded["Producer"]
    assert connection(conf) == CONNECTS
    assert not set(CONSUMER_ONLY) & set(conf)


def test_a_producer_on_another_cluster_takes_only_the_global_sections(recorded: dict[str, list[dict[str, Any]]]):
    with pytest.raises(Built):
        producer.Producers(route_config(producer={"bootstrap-servers": "other:9092"}), {}).get("orders")
    [conf] = recorded["Producer"]
    assert connection(conf) == CONNECTS | {
        "bootstrap.servers": "other:9092",
        "sasl.username": "svc",
        "sasl.password": "pw",
    }


@pytest.mark.parametrize("operation", ["view", "replay", "delete"])
def test_the_dead_sets_clients_connect_as_the_route_says(recorded: dict[str, list[dict[str, Any]]], operation: str):
    with pytest.raises(Built):
        getattr(deadset.DeadSet(route_config(), "orders"), operation)(1)
    [conf] = recorded["Producer"] or recorded["Consumer"]
    assert connection(conf) == CONNECTS
    assert not set(CONSUMER_ONLY) & set(conf)


def test_the_admin_client_of_start_up_connects_as_the_route_says(recorded: dict[str, list[dict[str, Any]]]):
    cfg = route_config()
    with pytest.raises(Built):
        kafka.prepare_topics(kafka.admin_properties(cfg, cfg.route("orders")), "orders", [], 1, False)
    with pytest.raises(Built):
        kafka.create_topics(kafka.admin_properties(cfg, cfg.route("orders")), ["t"], 1, 1)
    assert [connection(conf) for conf in recorded["AdminClient"]] == [CONNECTS, CONNECTS]


def test_only_the_kafka_module_builds_clients():
    """So that no client can be given a config that did not come through kafka's builders."""
    constructors = {"Consumer", "Producer", "AdminClient"}
    package = Path(kafka.__file__).parent
    builders = []
    for path in sorted(package.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in constructors:
                builders.append(path.relative_to(package).as_posix())
    assert set(builders) == {"kafka.py", "librdkafka.py"}  # librdkafka.py's probe never builds one (see there)
