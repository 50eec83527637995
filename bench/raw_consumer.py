"""The raw baseline as its own process (for peak memory): the like-for-like batch loop of raw_loops, with the
librdkafka config it is given (zig's own for the route) and the route's batch size and poll timeout, until N
messages; prints its peak RSS. The loop is written out here rather than imported: this process imports nothing of
zig or the bench, so its peak is the loop's own (its speed is not measured)."""

from __future__ import annotations

import json
import sys

from confluent_kafka import Consumer, TopicPartition


def main() -> None:
    topic, count, settings = sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3])
    size, timeout = int(sys.argv[4]), float(sys.argv[5])
    consumer = Consumer(settings)
    consumer.subscribe([topic])
    seen = 0
    while seen < count:
        good = [m for m in consumer.consume(size, timeout) if m.error() is None]
        seen += len(good)
        last = {(m.topic(), m.partition()): m.offset() for m in good}
        if last:
            consumer.store_offsets(offsets=[TopicPartition(t, p, o + 1) for (t, p), o in last.items()])
    consumer.close()
    with open("/proc/self/status", encoding="ascii") as status:
        peak = next(line.split()[1] for line in status if line.startswith("VmHWM:"))
    print(f"VmHWM_KB={peak}")


if __name__ == "__main__":
    main()
