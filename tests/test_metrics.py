"""metrics: the lock-free per-message handler times read exactly like a prometheus_client Histogram."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Histogram, generate_latest

from zig_cli.metrics import LABELS, SECONDS, Metrics


def _lines(registry: CollectorRegistry, name: str) -> list[str]:
    return [line for line in generate_latest(registry).decode().splitlines() if line.startswith(name + "_")]


def test_handler_times_of_every_worker_merge_into_one_histogram_like_prometheus_own():
    # binary fractions, so the sums agree exactly whatever the order; some fall exactly on a bucket bound
    observations = [0.001953125, 0.0048828125, 0.0078125, 0.25, 1.0, 2.5, 11.0, 0.015625]
    metrics = Metrics()
    route = metrics.route("orders", "app")
    first, second = route.handler_times(), route.handler_times()
    for index, seconds in enumerate(observations):
        (first if index % 2 else second).observe(seconds)

    reference = CollectorRegistry()
    histogram = Histogram("ziggurat_handler_fn_execution_time", "x", LABELS, buckets=SECONDS, registry=reference)
    for seconds in observations:
        histogram.labels("orders", "app").observe(seconds)

    name = "ziggurat_handler_fn_execution_time"
    ours = [line for line in _lines(metrics.registry, name) if "_created" not in line]
    theirs = [line for line in _lines(reference, name) if "_created" not in line]
    assert ours == theirs
    assert f'{name}_count{{actor="app",topic_name="orders"}} 8.0' in ours


def test_a_route_without_stream_workers_shows_no_handler_time_series():
    metrics = Metrics()
    metrics.route("orders", "app")
    assert _lines(metrics.registry, "ziggurat_handler_fn_execution_time") == []
