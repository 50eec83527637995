"""The bare baseline for `zig send`: start Python, import confluent-kafka, deliver one message."""

from __future__ import annotations

import sys

from confluent_kafka import Producer

producer = Producer({"bootstrap.servers": sys.argv[1], "acks": "all"})
producer.produce(sys.argv[2], b"value", b"key")
sys.exit(0 if producer.flush(30) == 0 else 1)
