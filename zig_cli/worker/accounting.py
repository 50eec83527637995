"""A handled item's account: the batch report to the stats table and the metrics, with message age and lag."""

from __future__ import annotations

from typing import Any

from confluent_kafka import KafkaException, TopicPartition

from zig_cli.worker import batch as batches
from zig_cli.worker.pipeline import Handled
from zig_cli.worker.runtime import RouteRuntime


def account(runtime: RouteRuntime, consumer: Any, handled: Handled, seconds: float, observe_delay: bool) -> None:
    """Count a handled item; `observe_delay` says whether the age of its messages tells the route's delay."""
    report = handled.report(seconds * 1000)
    metrics = runtime.metrics
    if metrics is not None and handled.raws:
        metrics.add(report)
        lasts = batches.lasts(handled.raws)
        now = runtime.clock()
        for (topic, partition), first in batches.firsts(handled.raws).items():
            kind, timestamp = first.timestamp()
            if kind and observe_delay:
                metrics.delay.observe(max(now - timestamp, 0) / 1000)
            try:
                _, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), cached=True)
            except KafkaException:
                continue
            if high >= 0:
                metrics.lag(topic, partition, high - lasts[(topic, partition)].offset() - 1)
    runtime.stats.add(report)
