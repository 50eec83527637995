"""Ziggurat 4.12's Prometheus series, served beside zig's own when `:prometheus {:ziggurat-names true}`.

Ziggurat's exporter (iapetos) named a series `<namespace>_<metric>` and kept counts in gauges, with the labels
`topic_name` (stream routes) or `topic_entity` (batch routes), `actor` (app-name) and `env`, and times in
milliseconds under the metric `all`. Each scrape re-reads zig's own metrics and writes them under those names, so
a migrating team's dashboards and alerts keep working and nothing is counted twice while messages are handled.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import cast

from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from zig_cli.config import Config, Route
from zig_cli.defaults import RouteKind
from zig_cli.metrics import Metrics

_bound: Callable[[float], str] = cast(Callable[[float], str], floatToGoString)  # how Prometheus writes `le`

# zig's outcome code -> Ziggurat's metric, per kind of route (Ziggurat's batch consumer counted no dead letters or
# failures of its own: a batch that raised counted its messages under `exception`).
STREAM_OUTCOMES = {
    "success": "message_processing_success",
    "retry": "message_processing_retry",
    "skip": "message_processing_skip",
    "failure": "message_processing_failure",
    "dead_letter": "message_processing_dead_letter",
}
BATCH = "ziggurat_batch_consumption_message_processed"
BATCH_OUTCOMES = {"success": f"{BATCH}_success", "retry": f"{BATCH}_retry", "skip": f"{BATCH}_skip"}
BATCH_FAILURES = f"{BATCH}_exception"
COMMITS = "ziggurat_batch_consumption_offset_commit"

# Each Ziggurat series, the zig series it is computed from, and the kind of route that has it: the README's table.
NAMES: tuple[tuple[str, str, RouteKind], ...] = (
    ("message_read", "ziggurat_msg_read_count_total", "stream"),
    *(
        (name, f'ziggurat_msg_processed_count_total{{code="{code}"}}', "stream")
        for code, name in STREAM_OUTCOMES.items()
    ),
    ("handler_fn_execution_time_all", "ziggurat_handler_fn_execution_time (seconds)", "stream"),
    ("message_received_delay_histogram_all", "ziggurat_kafka_delay_time (seconds)", "stream"),
    (f"{BATCH}_total", "ziggurat_msg_read_count_total", "batch"),
    *((name, f'ziggurat_msg_processed_count_total{{code="{code}"}}', "batch") for code, name in BATCH_OUTCOMES.items()),
    (BATCH_FAILURES, 'ziggurat_msg_processed_count_total{code="failure"}', "batch"),
    (f"{BATCH}_execution_time_all", "ziggurat_batch_handler_fn_execution_time (seconds)", "batch"),
    (f"{COMMITS}_success", 'zig_commits_total{result="ok"}', "batch"),
    (f"{COMMITS}_failure", 'zig_commits_total{result="error"}', "batch"),
)


def markdown_table() -> str:
    """NAMES as the README shows them."""
    rows = ["| Ziggurat 4.12 | zig | routes |", "| --- | --- | --- |"]
    for ziggurat, zig, kind in NAMES:
        name, _, unit = zig.partition(" ")
        rows.append(f"| `{ziggurat}` | `{name}`{' ' + unit if unit else ''} | {kind} |")
    return "\n".join(rows) + "\n"


class ZigguratNames(Collector):
    """Ziggurat's series of every route, computed from zig's metrics at each scrape."""

    def __init__(self, metrics: Metrics, routes: Mapping[str, RouteKind], app: str, env: str) -> None:
        self._metrics = metrics
        self._routes = dict(routes)
        self._labels = (app, env)  # Ziggurat's actor and env

    @classmethod
    def register(cls, metrics: Metrics, config: Config, routes: Iterable[Route]) -> None:
        """Serve Ziggurat's series of `routes` beside zig's, labelled with the config's app-name and env."""
        kinds = {route.name: route.kind for route in routes}
        metrics.registry.register(cls(metrics, kinds, config.app_name, config.setting("env") or ""))

    def collect(self) -> Iterator[Metric]:
        metrics = self._metrics
        read = _counts(metrics.read.collect(), ("topic_name",))
        outcomes = _counts(metrics.processed.collect(), ("topic_name", "code"))
        commits = _counts(metrics.commits.collect(), ("topic_name", "result"))
        stream = [name for name, kind in self._routes.items() if kind == "stream"]
        batch = [name for name, kind in self._routes.items() if kind == "batch"]

        def gauge(name: str, label: str, routes: list[str], value: dict[str, float]) -> GaugeMetricFamily:
            family = GaugeMetricFamily(name, f"Ziggurat's {name}", labels=(label, "actor", "env"))
            for route in routes:
                family.add_metric((route, *self._labels), value.get(route, 0.0))
            return family

        def by_route(counts: dict[tuple[str, ...], float], wanted: str) -> dict[str, float]:
            return {route: count for (route, code), count in counts.items() if code == wanted}

        if stream:
            yield gauge("message_read", "topic_name", stream, {route: n for (route,), n in read.items()})
            for code, name in STREAM_OUTCOMES.items():
                yield gauge(name, "topic_name", stream, by_route(outcomes, code))
            yield self._milliseconds(
                "handler_fn_execution_time_all", "topic_name", stream, metrics.handler_time.collect()
            )
            yield self._milliseconds(
                "message_received_delay_histogram_all", "topic_name", stream, metrics.delay.collect()
            )
        if batch:
            yield gauge(f"{BATCH}_total", "topic_entity", batch, {route: n for (route,), n in read.items()})
            for code, name in BATCH_OUTCOMES.items():
                yield gauge(name, "topic_entity", batch, by_route(outcomes, code))
            yield gauge(BATCH_FAILURES, "topic_entity", batch, by_route(outcomes, "failure"))
            yield self._milliseconds(
                f"{BATCH}_execution_time_all", "topic_entity", batch, metrics.batch_handler_time.collect()
            )
            yield gauge(f"{COMMITS}_success", "topic_entity", batch, by_route(commits, "ok"))
            yield gauge(f"{COMMITS}_failure", "topic_entity", batch, by_route(commits, "error"))

    def _milliseconds(self, name: str, label: str, routes: list[str], source: Iterable[Metric]) -> Metric:
        """A histogram of zig's in seconds, as Ziggurat's in milliseconds: bounds and sum times 1000."""
        family = HistogramMetricFamily(name, f"Ziggurat's {name}, milliseconds", labels=(label, "actor", "env"))
        buckets: dict[str, list[tuple[str, float]]] = {}
        sums: dict[str, float] = {}
        for metric in source:
            for sample in metric.samples:
                route = sample.labels.get("topic_name", "")
                if sample.name.endswith("_bucket"):
                    bound = sample.labels["le"]
                    shown = bound if bound == "+Inf" else _bound(float(bound) * 1000)
                    buckets.setdefault(route, []).append((shown, sample.value))
                elif sample.name.endswith("_sum"):
                    sums[route] = sample.value * 1000
        for route in routes:
            if route in buckets:
                family.add_metric((route, *self._labels), buckets[route], sums.get(route, 0.0))
        return family


def _counts(families: Iterable[Metric], labels: tuple[str, ...]) -> dict[tuple[str, ...], float]:
    """The `_total` samples of a counter, by the values of `labels`, summed over any other label."""
    counts: dict[tuple[str, ...], float] = {}
    for family in families:
        for sample in family.samples:
            if sample.name.endswith("_total"):
                key = tuple(sample.labels[label] for label in labels)
                counts[key] = counts.get(key, 0.0) + sample.value
    return counts
