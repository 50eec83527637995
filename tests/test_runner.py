"""Runner and topic preparation without a broker: route selection, refusals, first failure kept."""

from __future__ import annotations

import logging
import socket
import threading
from concurrent.futures import Future
from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException
from fakes import FakeConsumer, FakeProducer, FakeRaw
from helpers import batch_route, flat_config

from zig_cli import config, kafka
from zig_cli.errors import ContractError, KafkaFatalError, ZigError
from zig_cli.runner import Clients, Runner


class RefusingAdmin:
    """An AdminClient whose broker knows the origin topic and refuses to create any other."""

    def __init__(self, conf: dict[str, Any]) -> None:
        pass

    def list_topics(self, timeout: float) -> Any:
        class Metadata:
            topics = {"orders": type("Topic", (), {"error": None, "partitions": {0: None, 1: None}})()}

        return Metadata()

    def create_topics(self, topics: list[Any], request_timeout: float) -> dict[str, Future[None]]:
        futures: dict[str, Future[None]] = {}
        for topic in topics:
            future: Future[None] = Future()
            error = KafkaError(KafkaError.TOPIC_AUTHORIZATION_FAILED, "Authorization failed.")
            future.set_exception(KafkaException(error))
            futures[topic.topic] = future
        return futures


def test_a_refused_topic_creation_is_fatal_before_anything_runs(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(kafka, "AdminClient", RefusingAdmin)
    with pytest.raises(KafkaFatalError) as caught:
        kafka.prepare_topics({"bootstrap.servers": "b:9092"}, "orders", ["shop-orders-retry"], 5, False)
    assert str(caught.value) == "cannot create topic 'shop-orders-retry' on b:9092: Authorization failed."


class CreatingAdmin:
    """An AdminClient whose broker has topic `exists` already, creates the others, and answers `slow` never."""

    created: list[tuple[str, int]] = []

    def __init__(self, conf: dict[str, Any]) -> None:
        pass

    def create_topics(self, topics: list[Any], request_timeout: float) -> dict[str, Future[None]]:
        futures: dict[str, Future[None]] = {}
        for topic in topics:
            future: Future[None] = Future()
            if topic.topic == "exists":
                future.set_exception(KafkaException(KafkaError(KafkaError.TOPIC_ALREADY_EXISTS)))
            elif topic.topic != "slow":
                CreatingAdmin.created.append((topic.topic, topic.num_partitions))
                future.set_result(None)
            futures[topic.topic] = future
        return futures


def test_create_topics_leaves_existing_ones_and_logs_what_it_created(monkeypatch: pytest.MonkeyPatch, caplog: Any):
    monkeypatch.setattr(kafka, "AdminClient", CreatingAdmin)
    monkeypatch.setattr(CreatingAdmin, "created", [])
    caplog.set_level(logging.INFO, logger="zig_cli.kafka")
    kafka.create_topics({"bootstrap.servers": "b:9092"}, ["exists", "new"], 4, 5)
    assert CreatingAdmin.created == [("new", 4)]
    assert [r.getMessage() for r in caplog.records if "created topic" in r.getMessage()] == [
        "created topic new with 4 partition(s)"
    ]


def test_create_topics_waits_for_an_answer_only_until_stopped(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(kafka, "AdminClient", CreatingAdmin)
    stop = threading.Event()
    stop.set()
    with pytest.raises(ZigError) as caught:
        kafka.create_topics({"bootstrap.servers": "b:9092"}, ["slow"], 1, 60, stop)
    assert not isinstance(caught.value, KafkaFatalError)
    assert str(caught.value).startswith("stopped while waiting for broker(s) b:9092 (")
    assert str(caught.value).endswith("no answer yet to creating topic 'slow'")


def test_unknown_route_names_are_refused_with_the_known_ones():
    cfg = config.validate(flat_config(), "c.edn", {})
    with pytest.raises(ZigError) as caught:
        Runner(cfg, {"orders": lambda batch: None}, ["ordrs"])
    assert str(caught.value) == "no route named 'ordrs'; routes in c.edn: 'orders'"


def test_a_contract_error_in_one_worker_stops_them_all_and_is_kept():
    servers_off = {"prometheus": {"enabled": False}, "http-server": {"enabled": False}}  # 8002 may be another's
    route = batch_route(**{"thread-count": 3})
    raw = flat_config(**{"batch-routes": {"orders": route}}, retry={"enabled": True}, **servers_off)
    cfg = config.validate(raw, "c.edn", {})
    producer = FakeProducer()
    consumers: list[FakeConsumer] = []
    served: list[int] = []

    def new_consumer(props: Any, callbacks: Any) -> FakeConsumer:
        consumer = FakeConsumer(producer)
        index = len(consumers)
        consumers.append(consumer)

        def consume(num_messages: int = 1, timeout: float = -1) -> list[Any]:
            if index == 0 and not served:
                served.append(1)
                return [FakeRaw("orders", 0, 0, b"v")]
            return []

        consumer.consume = consume  # type: ignore[method-assign]
        return consumer

    clients = Clients(consumer=new_consumer, producer=lambda props: producer, prepare_topics=lambda *a: None)
    runner = Runner(cfg, {"orders": lambda batch: "oops"}, clients=clients)
    runner.start()
    assert runner.wait(10)
    assert isinstance(runner.failure, ContractError)
    assert len(runner.workers) == 4  # three consumers and the retry worker
    assert all(c.stored == [] for c in consumers)
    assert "route 'orders': a worker has stopped" in runner.health()


def test_each_consumer_joins_with_its_own_static_id():
    route = batch_route(**{"thread-count": 2, "group-instance-id": "orders-$HOST-{thread}"})
    servers_off = {"prometheus": {"enabled": False}, "http-server": {"enabled": False}}
    raw = flat_config(**{"batch-routes": {"orders": route}}, retry={"enabled": True}, **servers_off)
    cfg = config.validate(raw, "c.edn", {"HOST": "web1"})
    producer = FakeProducer()
    joined: list[tuple[str, str]] = []
    stop = threading.Event()

    def new_consumer(props: Any, callbacks: Any) -> FakeConsumer:
        joined.append((props["group.id"], props["group.instance.id"]))
        stop.set()
        return FakeConsumer(producer)

    clients = Clients(consumer=new_consumer, producer=lambda props: producer, prepare_topics=lambda *a: None)
    runner = Runner(cfg, {"orders": lambda batch: None}, clients=clients)
    runner.stop = stop  # the workers end as soon as they have their consumers
    runner.start()
    assert runner.wait(10)
    assert sorted(joined) == [
        ("orders-group", "orders-web1-0"),
        ("orders-group", "orders-web1-1"),
        ("orders-group-retry", "orders-web1-retry"),
    ]


def started_with_fakes(cfg: config.Config) -> Runner:
    """A runner on fake clients, started, whose workers end as soon as they have their consumers."""
    producer = FakeProducer()
    stop = threading.Event()

    def new_consumer(props: Any, callbacks: Any) -> FakeConsumer:
        stop.set()
        return FakeConsumer(producer)

    clients = Clients(consumer=new_consumer, producer=lambda props: producer, prepare_topics=lambda *a: None)
    runner = Runner(cfg, {"orders": lambda batch: None}, clients=clients)
    runner.stop = stop
    runner.start()
    assert runner.wait(10)
    return runner


@pytest.mark.parametrize(("setting", "split"), [({}, False), ({"on-handler-error": "split"}, True)])
def test_on_handler_error_reaches_the_route_s_workers(setting: dict[str, str], split: bool):
    servers_off = {"prometheus": {"enabled": False}, "http-server": {"enabled": False}}
    raw = flat_config(**{"batch-routes": {"orders": batch_route(**setting)}}, **servers_off)
    cfg = config.validate(raw, "c.edn", {})
    runner = started_with_fakes(cfg)
    assert [worker.runtime.split_on_error for worker in runner.workers] == [split, split]  # and the retry worker


@pytest.mark.parametrize(
    ("section", "what", "variable"),
    [("prometheus", "metrics", "ZIGGURAT_PROMETHEUS_PORT"), ("http-server", "HTTP", "ZIGGURAT_HTTP_SERVER_PORT")],
)
def test_a_port_in_use_names_the_setting_and_the_variable_that_move_it(section: str, what: str, variable: str):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        servers = {"prometheus": {"enabled": False}, "http-server": {"enabled": False}}
        servers[section] = {"host": "127.0.0.1", "port": port}
        runner = Runner(config.validate(flat_config(**servers), "c.edn", {}), {"orders": lambda batch: None})
        with pytest.raises(ZigError) as caught:
            runner.start()
    assert str(caught.value).startswith(f"cannot serve {what} on 127.0.0.1:{port}: [Errno 98] Address already in use;")
    assert str(caught.value).endswith(f"set :{section} {{:port N}} (or {variable}=N; 0 picks a free port)")


def test_each_route_says_which_groups_it_joins_and_the_session_timeout(caplog: pytest.LogCaptureFixture):
    route = batch_route(**{"thread-count": 2, "session-timeout-ms-config": 6000})
    servers_off = {"prometheus": {"enabled": False}, "http-server": {"enabled": False}}
    raw = flat_config(**{"batch-routes": {"orders": route}}, retry={"enabled": True}, **servers_off)
    caplog.set_level(logging.INFO, logger="zig_cli.runner")
    started_with_fakes(config.validate(raw, "c.edn", {}))
    assert [r.getMessage() for r in caplog.records if "joining" in r.getMessage()] == [
        "route=orders joining group orders-group with 2 consumer(s) (session timeout 6000 ms)",
        "route=orders joining group orders-group-retry with its retry consumer (session timeout 6000 ms)",
    ]
