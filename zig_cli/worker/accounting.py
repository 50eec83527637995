"""A handled item's account: the batch report to the stats table and the metrics, with message age and lag."""

from __future__ import annotations

import functools
import operator
from collections.abc import Iterable
from typing import Any

from confluent_kafka import KafkaException, TopicPartition

from zig_cli.worker import batch as batches
from zig_cli.worker.pipeline import Handled
from zig_cli.worker.runtime import RouteRuntime


def account(runtime: RouteRuntime, consumer: Any, handled: list[tuple[Handled, float]], observe_delay: bool) -> None:
    """Count handled items (each with its seconds in the handler) as one report; `observe_delay` says whether the
    age of their messages tells the route's delay. One update per round, not per item: the route's workers share
    the metrics' locks."""
    if not handled:
        return
    report = functools.reduce(operator.add, (done.report(seconds * 1000) for done, seconds in handled))
    metrics = runtime.metrics
    if metrics is not None and report.consumed:
        metrics.add(report)
        now = runtime.clock()
        for (topic, partition), (first, last) in _spans(done.raws for done, _ in handled).items():
            kind, timestamp = first.timestamp()
            if kind and observe_delay:
                metrics.delay.observe(max(now - timestamp, 0) / 1000)
            try:
                _, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), cached=True)
            except KafkaException:
                continue
            if high >= 0:
                metrics.lag(topic, partition, high - last - 1)
    runtime.stats.add(report)


def _spans(items: Iterable[list[Any]]) -> dict[batches.Where, tuple[Any, int]]:
    """Per partition, the lowest-offset message and the highest offset of the items, which finish out of order."""
    spans: dict[batches.Where, tuple[Any, int]] = {}
    for raws in items:
        if not raws:
            continue
        for where, (first, last_raw) in batches.spans(raws).items():
            last = last_raw.offset()
            found = spans.get(where)
            if found is None:
                spans[where] = (first, last)
            else:
                low = first if first.offset() < found[0].offset() else found[0]
                spans[where] = (low, max(last, found[1]))
    return spans
