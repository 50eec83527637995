"""The broker fixture works: a message produced through it is consumed back."""

from __future__ import annotations

import uuid

import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic

pytestmark = pytest.mark.kafka


def test_produce_and_consume_one_message(bootstrap_servers: str):
    topic = f"smoke-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": bootstrap_servers})
    admin.create_topics([NewTopic(topic, 1, 1)])[topic].result(30)

    producer = Producer({"bootstrap.servers": bootstrap_servers})
    delivered: list[tuple[str, int, int]] = []
    producer.produce(
        topic,
        key=b"k",
        value=b"hello",
        headers=[("h", b"1")],
        on_delivery=lambda err, msg: err or delivered.append((msg.topic(), msg.partition(), msg.offset())),
    )
    assert producer.flush(30) == 0
    assert delivered == [(topic, 0, 0)]

    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap_servers,
            "group.id": f"smoke-{uuid.uuid4().hex[:8]}",
            "auto.offset.reset": "earliest",
            "session.timeout.ms": 6000,
        }
    )
    try:
        consumer.subscribe([topic])
        message = None
        for _ in range(60):  # bounded: 60 polls of at most 1 s
            message = consumer.poll(1.0)
            if message is not None:
                break
        assert message is not None, "no message within 60 s"
        assert message.error() is None
        assert (message.key(), message.value(), message.headers()) == (b"k", b"hello", [("h", b"1")])
    finally:
        consumer.close()
