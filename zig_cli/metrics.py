"""zig's Prometheus metrics, labelled `topic_name` (the route) and `actor` (the app-name).

Ziggurat 4.12's own series are computed from these at scrape time when asked for (ziggurat_metrics). Every update
is per batch, except a stream handler's time
per message, which each worker keeps in plain lists of its own (HandlerTimes): prometheus_client's observe() takes
a lock per call, which a stream worker would take for every message.
"""

from __future__ import annotations

import threading
from bisect import bisect_left
from collections.abc import Callable, Iterator
from operator import sub

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import HistogramMetricFamily
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from zig_cli.stats import BatchReport

# Ziggurat's latency buckets, in seconds.
SECONDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
AGE_SECONDS = (0.01, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600, 86400)
BATCH_SIZES = (1, 5, 10, 50, 100, 250, 500, 1000, 5000)
LABELS = ("topic_name", "actor")


class Metrics:
    """One registry per process (or per test), with every metric zig exposes."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.read = Counter("ziggurat_msg_read_count", "Messages consumed, by route", LABELS, registry=r)
        self.processed = Counter(
            "ziggurat_msg_processed_count",
            "Messages by outcome (code: success, retry, skip, dead_letter, too_old, failure)",
            (*LABELS, "code"),
            registry=r,
        )
        self.parse_failures = Counter(
            "ziggurat_msg_parsed_failure_count", "Messages whose key or value did not decode", LABELS, registry=r
        )
        self.handler_time = _HandlerTimesCollector(
            "ziggurat_handler_fn_execution_time", "Stream handler time per message, seconds"
        )
        r.register(self.handler_time)
        self.batch_handler_time = Histogram(
            "ziggurat_batch_handler_fn_execution_time",
            "Batch handler time per batch, seconds",
            LABELS,
            buckets=SECONDS,
            registry=r,
        )
        self.delay = Histogram(
            "ziggurat_kafka_delay_time",
            "Age of the oldest message of each batch and partition on receipt, seconds",
            LABELS,
            buckets=AGE_SECONDS,
            registry=r,
        )
        self.batch_size = Histogram(
            "zig_batch_size", "Messages per handled batch", LABELS, buckets=BATCH_SIZES, registry=r
        )
        self.commits = Counter("zig_commits", "Offset commits (result: ok, error)", (*LABELS, "result"), registry=r)
        self.lag = Gauge(
            "zig_consumer_lag", "Messages behind the end of each partition", (*LABELS, "topic", "partition"), registry=r
        )
        self.deliveries = Counter(
            "zig_producer_deliveries",
            "Produced messages by kind (send, retry, dead_letter) and result (ok, error)",
            (*LABELS, "kind", "result"),
            registry=r,
        )

        self.handler_timeouts = Counter(
            "zig_handler_timeouts",
            "Handler calls that ran past the route's handler-timeout-ms",
            LABELS,
            registry=r,
        )
        self.in_handler = Gauge("zig_handler_in_flight_messages", "Messages in a handler call now", LABELS, registry=r)
        self.buffered = Gauge(
            "zig_buffered_messages",
            "Messages consumed and not yet done: waiting behind their key, or in a handler call",
            LABELS,
            registry=r,
        )
        self.oldest_in_handler = Gauge(
            "zig_handler_oldest_in_flight_seconds",
            "Seconds since the oldest message now in a handler call was consumed",
            LABELS,
            registry=r,
        )

    def route(self, route: str, app: str) -> RouteMetrics:
        return RouteMetrics(self, route, app)


class RouteMetrics:
    """The metrics of one route, labels bound once."""

    def __init__(self, metrics: Metrics, route: str, app: str) -> None:
        self._metrics = metrics
        self._labels = (route, app)
        self.read = metrics.read.labels(*self._labels)
        self.parse_failures = metrics.parse_failures.labels(*self._labels)
        self.batch_handler_time = metrics.batch_handler_time.labels(*self._labels)
        self.delay = metrics.delay.labels(*self._labels)
        self.batch_size = metrics.batch_size.labels(*self._labels)
        self.handler_timeouts = metrics.handler_timeouts.labels(*self._labels)

    def watch(
        self, in_handler: Callable[[], float], buffered: Callable[[], float], oldest: Callable[[], float]
    ) -> None:
        """The route's gauges, read from its workers when scraped."""
        self._metrics.in_handler.labels(*self._labels).set_function(in_handler)
        self._metrics.buffered.labels(*self._labels).set_function(buffered)
        self._metrics.oldest_in_handler.labels(*self._labels).set_function(oldest)

    def handler_times(self) -> HandlerTimes:
        """A new per-message timer for one worker thread of this route."""
        return self._metrics.handler_time.new(self._labels)

    def add(self, report: BatchReport) -> None:
        """A handled batch's counts: messages read, outcomes by code, decode failures, batch size."""
        self.read.inc(report.consumed)
        outcomes = {
            "success": report.succeeded,
            "skip": report.skipped,
            "too_old": report.too_old,
            "failure": report.failed,
            "retry": report.retried,
            "dead_letter": report.dead_lettered,
        }
        for code, count in outcomes.items():
            if count:
                self._metrics.processed.labels(*self._labels, code).inc(count)
        if report.decode_failures:
            self.parse_failures.inc(report.decode_failures)
        self.batch_size.observe(report.consumed)

    def commit(self, ok: bool) -> None:
        self._metrics.commits.labels(*self._labels, "ok" if ok else "error").inc()

    def lag(self, topic: str, partition: int, behind: int) -> None:
        self._metrics.lag.labels(*self._labels, topic, str(partition)).set(max(behind, 0))

    def delivered(self, kind: str, ok: bool, count: int = 1) -> None:
        if count:
            self._metrics.deliveries.labels(*self._labels, kind, "ok" if ok else "error").inc(count)


class HandlerTimes:
    """Handler times of one worker thread, as histogram bucket counts in plain lists: written by that thread only,
    so no lock; a scrape reads them as they stand."""

    __slots__ = ("counts", "total")

    def __init__(self) -> None:
        self.counts = [0] * (len(SECONDS) + 1)  # the last one: above every bound
        self.total = 0.0

    def observe(self, seconds: float) -> None:
        self.counts[bisect_left(SECONDS, seconds)] += 1
        self.total += seconds

    def laps(self, stamps: list[float]) -> None:
        """Consecutive handler calls timed by one clock reading each: `stamps` starts with the first call's start,
        then the end of each call (the next one's start). One pass in C finds the usual case, every call inside the
        first bucket."""
        if len(stamps) < 2:
            return
        durations = list(map(sub, stamps[1:], stamps))
        self.total += stamps[-1] - stamps[0]
        counts = self.counts
        if max(durations) <= SECONDS[0]:
            counts[0] += len(durations)
            return
        for seconds in durations:
            counts[bisect_left(SECONDS, seconds)] += 1


class _HandlerTimesCollector(Collector):
    """Exposes the HandlerTimes of every worker as one histogram per route."""

    def __init__(self, name: str, documentation: str) -> None:
        self._name = name
        self._documentation = documentation
        self._lock = threading.Lock()
        self._timers: dict[tuple[str, str], list[HandlerTimes]] = {}

    def new(self, labels: tuple[str, str]) -> HandlerTimes:
        timer = HandlerTimes()
        with self._lock:
            self._timers.setdefault(labels, []).append(timer)
        return timer

    def collect(self) -> Iterator[HistogramMetricFamily]:
        family = HistogramMetricFamily(self._name, self._documentation, labels=LABELS)
        with self._lock:
            timers = {labels: list(found) for labels, found in self._timers.items()}
        for labels, found in timers.items():
            counts = [sum(timer.counts[i] for timer in found) for i in range(len(SECONDS) + 1)]
            cumulative, buckets = 0, []
            for bound, count in zip((*map(floatToGoString, SECONDS), "+Inf"), counts, strict=True):
                cumulative += count
                buckets.append((bound, cumulative))
            family.add_metric(list(labels), buckets, sum(timer.total for timer in found))
        yield family
