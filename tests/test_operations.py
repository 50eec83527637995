"""Metrics and health of a running zig: /metrics values after known outcomes, /ping, /health, the host they use."""

from __future__ import annotations

import re
import socket
from pathlib import Path

import pytest
from helpers import wait_until
from kafka_helpers import RECORDER, Zig, create_topic, http_get, produce, read_topic, unique, write_route_config
from prometheus_client.parser import text_string_to_metric_families

pytestmark = pytest.mark.kafka

HANDLER = """
import zig_cli

def handle(message):
    record('m', [message])
    kind = message.key[0]
    if message.key == 'ok-0' and message.retry_count == 0:
        zig_cli.send('m', message.topic + '-copy', message.key, message.value).result(30)
    if kind == 'r':
        return 'retry' if message.retry_count < 2 else 'success'
    if kind == 's':
        return 'skip'
    if kind == 'd':
        return 'dead-letter'
    return 'success'
"""


def port_of(zig: Zig, what: str) -> int:
    zig.wait_for_log(what)
    found = re.search(rf"{re.escape(what)}http://127\.0\.0\.1:(\d+)", zig.output())
    assert found, zig.output()[-2000:]
    return int(found[1])


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def value(found: dict, name: str, **labels: str) -> float:
    return found.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_count_known_outcomes_and_health_follows_the_group(bootstrap_servers: str, tmp_path: Path):
    topic = create_topic(bootstrap_servers, unique("metrics"), 1)
    create_topic(bootstrap_servers, topic + "-copy", 1)
    app = unique("app")
    keys = [f"ok-{i}" for i in range(82)] + [f"r{i}" for i in range(10)] + [f"s{i}" for i in range(5)]
    keys += [f"d{i}" for i in range(3)]
    (tmp_path / "h.py").write_text(RECORDER + HANDLER)
    config = write_route_config(
        tmp_path / "config.edn",
        bootstrap_servers,
        {},
        app=app,
        retry={"backoff-ms": 100},
        stream_routes={
            "m": {
                "handler-fn": "h/handle",
                "application-id": unique("m"),
                "origin-topic": topic,
                "key-deserializer-class-config": "string",
                "producer": {},
            }
        },
    )
    this_host_only = {"ZIGGURAT_HTTP_SERVER_HOST": "127.0.0.1", "ZIGGURAT_PROMETHEUS_HOST": "127.0.0.1"}
    ziggurat_names = {"ZIGGURAT_PROMETHEUS_ZIGGURAT_NAMES": "true", "ZIGGURAT_ENV": "test"}
    env = {**this_host_only, **ziggurat_names, "ZIGGURAT_HTTP_SERVER_AUTH_TOKEN": "t"}
    zig = Zig(config, tmp_path / "record.jsonl", env=env)
    http = port_of(zig, "HTTP endpoints at ")
    assert http_get(f"http://127.0.0.1:{http}/ping") == (200, "pong"), "open without the token"
    with pytest.raises(ConnectionRefusedError):  # another loopback address: the server listens on 127.0.0.1 only
        socket.create_connection(("127.0.0.2", http), timeout=5).close()
    answers: list[tuple[int, str]] = []
    wait_until(
        lambda: answers.append(http_get(f"http://127.0.0.1:{http}/health")) or answers[-1][0] == 200,
        60,
        "/health to turn 200",
    )
    not_ready = [body for status, body in answers if status == 503]
    # The route's worker or its retry worker, whichever joins last (the consumer protocol joins in a few ms).
    assert any(re.search(r"a (retry )?worker has not joined its group yet", body) for body in not_ready), answers
    assert all(body.startswith("not ready: ") for body in not_ready)
    assert answers[-1] == (200, "ok\n")

    produce(bootstrap_servers, topic, ((k.encode(), b"v") for k in keys))
    wait_until(lambda: zig.count() >= 100 + 20, 60, "every message and two retries of each r-message")
    read_topic(bootstrap_servers, f"{app}-m-dead-letter", 3)
    metrics_port = port_of(zig, "metrics at ")
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.2", metrics_port), timeout=5).close()

    def scrape() -> dict:
        return samples(http_get(f"http://127.0.0.1:{metrics_port}/metrics")[1])

    labels = {"topic_name": "m", "actor": app}
    wait_until(
        lambda: value(scrape(), "ziggurat_msg_processed_count_total", **labels, code="success") >= 92,
        30,
        "the last batch to be counted",
    )
    found = scrape()
    assert value(found, "ziggurat_msg_read_count_total", **labels) == 120
    for code, expected in {"success": 92, "retry": 20, "skip": 5, "dead_letter": 3, "failure": 0}.items():
        assert value(found, "ziggurat_msg_processed_count_total", **labels, code=code) == expected, code
    assert value(found, "ziggurat_handler_fn_execution_time_count", **labels) == 120
    assert value(found, "ziggurat_kafka_delay_time_count", **labels) >= 1
    assert value(found, "zig_batch_size_sum", **labels) == 120
    ziggurats = {**labels, "env": "test"}  # the same counts under Ziggurat 4.12's names, beside zig's
    assert value(found, "message_read", **ziggurats) == 120
    for outcome, expected in {"success": 92, "retry": 20, "skip": 5, "dead_letter": 3, "failure": 0}.items():
        assert value(found, f"message_processing_{outcome}", **ziggurats) == expected, outcome
    assert value(found, "handler_fn_execution_time_all_count", **ziggurats) == 120
    assert value(found, "message_received_delay_histogram_all_count", **ziggurats) >= 1
    assert value(found, "zig_producer_deliveries_total", **labels, kind="retry", result="ok") == 20
    assert value(found, "zig_producer_deliveries_total", **labels, kind="dead_letter", result="ok") == 3
    assert value(found, "zig_producer_deliveries_total", **labels, kind="send", result="ok") == 1
    wait_until(lambda: value(scrape(), "zig_commits_total", **labels, result="ok") >= 1, 30, "a commit")
    assert any(name == "zig_consumer_lag" and dict(lbl).get("topic") == topic for name, lbl in scrape())
    assert zig.stop() == 0
