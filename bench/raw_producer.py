"""The raw bulk-send baseline as its own process, as `zig send --file` is one: a plain produce loop over the lines.

It runs as a process of its own because `zig send` does, and so would a team's loop: inside the bench's own process
the same loop measures faster, and the ratio would compare unlike runs.
"""

from __future__ import annotations

import json
import sys
import time

from confluent_kafka import Producer


def main() -> None:
    properties, topic, path = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3]
    producer = Producer(properties)
    started = time.perf_counter()
    count = 0
    with open(path, encoding="utf-8") as source:
        for line in source:
            key, value = line.rstrip("\n").split("\t", 1)
            while True:
                try:
                    producer.produce(topic, value.encode(), key.encode())
                    break
                except BufferError:
                    producer.poll(0.05)
            count += 1
    if producer.flush(120):
        raise SystemExit("raw produce did not finish")
    print(f"RATE={count / (time.perf_counter() - started)}")


if __name__ == "__main__":
    main()
