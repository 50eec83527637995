"""zig's Prometheus metrics, labelled `topic_name` (the route) and `actor` (the app-name).

Ziggurat 4.12's own series are computed from these at scrape time when asked for (ziggurat_metrics). What a worker
counts for every batch (messages read, outcomes, decode failures, batch size, delay, handler times) it keeps in
tallies of its own (zig_cli.tallies), summed at scrape: prometheus_client takes a lock per update, on which a route's
worker threads would wait for each other.
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge

from zig_cli.stats import BatchReport
from zig_cli.tallies import Bins, Count, CounterFamily, HistogramFamily

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
        self.read = CounterFamily("ziggurat_msg_read_count", "Messages consumed, by route", LABELS)
        self.processed = CounterFamily(
            "ziggurat_msg_processed_count",
            "Messages by outcome (code: success, retry, skip, dead_letter, too_old, failure)",
            (*LABELS, "code"),
        )
        self.parse_failures = CounterFamily(
            "ziggurat_msg_parsed_failure_count", "Messages whose key or value did not decode", LABELS
        )
        self.handler_time = HistogramFamily(
            "ziggurat_handler_fn_execution_time", "Stream handler time per message, seconds", LABELS, SECONDS
        )
        self.batch_handler_time = HistogramFamily(
            "ziggurat_batch_handler_fn_execution_time", "Batch handler time per batch, seconds", LABELS, SECONDS
        )
        self.delay = HistogramFamily(
            "ziggurat_kafka_delay_time",
            "Age of the oldest message of each batch and partition on receipt, seconds",
            LABELS,
            AGE_SECONDS,
        )
        self.batch_size = HistogramFamily("zig_batch_size", "Messages per handled batch", LABELS, BATCH_SIZES)
        for family in (
            self.read,
            self.processed,
            self.parse_failures,
            self.handler_time,
            self.batch_handler_time,
            self.delay,
            self.batch_size,
        ):
            r.register(family)
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
        # shown at zero from the start, as before anything is handled (a stream handler's time only on stream routes,
        # each outcome once it counts)
        shown = (metrics.read, metrics.parse_failures, metrics.batch_handler_time, metrics.delay, metrics.batch_size)
        for family in shown:
            family.declare(self._labels)
        self.handler_timeouts = metrics.handler_timeouts.labels(*self._labels)
        self._lags: dict[tuple[str, int], Gauge] = {}  # the lag gauge of each partition, labelled once

    def watch(
        self, in_handler: Callable[[], float], buffered: Callable[[], float], oldest: Callable[[], float]
    ) -> None:
        """The route's gauges, read from its workers when scraped."""
        self._metrics.in_handler.labels(*self._labels).set_function(in_handler)
        self._metrics.buffered.labels(*self._labels).set_function(buffered)
        self._metrics.oldest_in_handler.labels(*self._labels).set_function(oldest)

    def tally(self) -> RouteTally:
        """New per-batch counts for one worker thread of this route."""
        return RouteTally(self._metrics, self._labels)

    def handler_times(self) -> Bins:
        """A new per-message timer of a stream handler, for one thread of this route."""
        return self._metrics.handler_time.bins(self._labels)

    def batch_handler_times(self) -> Bins:
        """A new per-call timer of a batch handler, for one thread of this route."""
        return self._metrics.batch_handler_time.bins(self._labels)

    def commit(self, ok: bool) -> None:
        self._metrics.commits.labels(*self._labels, "ok" if ok else "error").inc()

    def lag(self, topic: str, partition: int, behind: int) -> None:
        gauge = self._lags.get((topic, partition))
        if gauge is None:
            gauge = self._lags[(topic, partition)] = self._metrics.lag.labels(*self._labels, topic, str(partition))
        gauge.set(max(behind, 0))

    def delivered(self, kind: str, ok: bool, count: int = 1) -> None:
        if count:
            self._metrics.deliveries.labels(*self._labels, kind, "ok" if ok else "error").inc(count)


class RouteTally:
    """One worker thread's counts of a route's batches: written by that thread only (see zig_cli.tallies)."""

    __slots__ = ("_labels", "_outcomes", "_processed", "batch_size", "delay", "parse_failures", "read")

    def __init__(self, metrics: Metrics, labels: tuple[str, str]) -> None:
        self._labels = labels
        self._processed = metrics.processed
        self._outcomes: dict[str, Count] = {}  # by code, each made on its first count: a series shows once it counts
        self.read = metrics.read.counter(labels)
        self.parse_failures = metrics.parse_failures.counter(labels)
        self.batch_size = metrics.batch_size.bins(labels)
        self.delay = metrics.delay.bins(labels)

    def add(self, report: BatchReport) -> None:
        """A handled batch's counts: messages read, outcomes by code, decode failures, batch size."""
        self.read.value += report.consumed
        for code, count in (
            ("success", report.succeeded),
            ("skip", report.skipped),
            ("too_old", report.too_old),
            ("failure", report.failed),
            ("retry", report.retried),
            ("dead_letter", report.dead_lettered),
        ):
            if count:
                found = self._outcomes.get(code)
                if found is None:
                    found = self._outcomes[code] = self._processed.counter((*self._labels, code))
                found.value += count
        if report.decode_failures:
            self.parse_failures.value += report.decode_failures
        self.batch_size.observe(report.consumed)
