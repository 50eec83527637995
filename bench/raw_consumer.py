"""The raw baseline as its own process (for peak memory): consume(500) + commit after each batch, until N."""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from typing import Any

from confluent_kafka import Consumer


def consumer_config(bootstrap: str, group: str, tuning: Mapping[str, Any], **extra: Any) -> dict[str, Any]:
    """What every raw baseline consumer shares (this module imports nothing of zig, so it also serves run.py)."""
    return {
        "bootstrap.servers": bootstrap,
        "group.id": group,
        "auto.offset.reset": "earliest",
        "session.timeout.ms": 6000,
        **tuning,
        **extra,
    }


def main() -> None:
    bootstrap, topic, group, count, tuning = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
    consumer = Consumer(consumer_config(bootstrap, group, json.loads(tuning), **{"enable.auto.commit": False}))
    consumer.subscribe([topic])
    seen = 0
    while seen < count:
        messages = consumer.consume(500, 1.0)
        seen += sum(1 for m in messages if m.error() is None)
        if messages:
            consumer.commit(asynchronous=False)
    consumer.close()
    with open("/proc/self/status", encoding="ascii") as status:
        peak = next(line.split()[1] for line in status if line.startswith("VmHWM:"))
    print(f"VmHWM_KB={peak}")


if __name__ == "__main__":
    main()
