"""A handled item's account: the batch report to the stats table and the metrics, with message age and lag."""

from __future__ import annotations

import functools
import operator
from collections.abc import Iterable
from typing import Any

from confluent_kafka import KafkaException, TopicPartition

from zig_cli.metrics import RouteTally
from zig_cli.worker import batch as batches
from zig_cli.worker.pipeline import Handled
from zig_cli.worker.runtime import RouteRuntime

# A handled item, its seconds in the handler, and the first and last message of each partition of its messages
# when the item already knows them (None: looked up here).
Accounted = tuple[Handled, float, dict[batches.Where, tuple[Any, Any]] | None]


def account(
    runtime: RouteRuntime, consumer: Any, handled: list[Accounted], observe_delay: bool, tally: RouteTally | None
) -> None:
    """Count handled items as one report, into the worker's own `tally` of the route's metrics (None: no metrics);
    `observe_delay` says whether the age of their messages tells the route's delay. One update per round, not per
    item: the stats table takes a lock."""
    if not handled:
        return
    report = functools.reduce(operator.add, (done.report(seconds * 1000) for done, seconds, _ in handled))
    metrics = runtime.metrics
    if metrics is not None and tally is not None and report.consumed:
        tally.add(report)
        now = runtime.clock()
        known = (spans if spans is not None else batches.spans(done.raws) for done, _, spans in handled if done.raws)
        for (topic, partition), (first, last) in _spans(known).items():
            kind, timestamp = first.timestamp()
            if kind and observe_delay:
                tally.delay.observe(max(now - timestamp, 0) / 1000)
            try:
                _, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), cached=True)
            except KafkaException:
                continue
            if high >= 0:
                metrics.lag(topic, partition, high - last - 1)
    runtime.stats.add(report)


def _spans(items: Iterable[dict[batches.Where, tuple[Any, Any]]]) -> dict[batches.Where, tuple[Any, int]]:
    """Per partition, the lowest-offset message and the highest offset of the items' spans (items finish out of
    order)."""
    spans: dict[batches.Where, tuple[Any, int]] = {}
    for item in items:
        for where, (first, last_raw) in item.items():
            last = last_raw.offset()
            found = spans.get(where)
            if found is None:
                spans[where] = (first, last)
            else:
                low = first if first.offset() < found[0].offset() else found[0]
                spans[where] = (low, max(last, found[1]))
    return spans
