"""metrics: the lock-free per-message handler times read exactly like a prometheus_client Histogram."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from zig_cli.metrics import LABELS, SECONDS, Metrics
from zig_cli.stats import BatchReport
from zig_cli.tallies import Bins
from zig_cli.ziggurat_metrics import ZigguratNames


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


def _report(**counts: int) -> BatchReport:
    fields = dict.fromkeys(
        ("consumed", "succeeded", "retried", "skipped", "too_old", "failed", "dead_lettered", "decode_failures"), 0
    )
    return BatchReport(**(fields | counts), handler_errors=0, duration_ms=1.0)


def test_ziggurat_names_serve_zigs_counts_under_ziggurat_412s_series_labels_and_units():
    metrics = Metrics()
    stream, batch = metrics.route("payments", "shop"), metrics.route("orders", "shop")
    stream.tally().add(_report(consumed=10, succeeded=6, retried=2, skipped=1, dead_lettered=1, failed=1))
    times = stream.handler_times()
    for seconds in (0.004, 0.02, 0.02):
        times.observe(seconds)
    batch.tally().add(_report(consumed=7, succeeded=4, retried=3, failed=3))
    batch.batch_handler_times().observe(0.25)
    batch.commit(True)
    batch.commit(False)
    names = ZigguratNames(metrics, {"payments": "stream", "orders": "batch", "idle": "batch"}, "shop", "production")
    metrics.registry.register(names)
    found = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(generate_latest(metrics.registry).decode())
        for sample in family.samples
    }

    def value(name: str, route: str, label: str = "topic_name", **more: str) -> float:
        labels = {label: route, "actor": "shop", "env": "production", **more}
        return found[(name, tuple(sorted(labels.items())))]

    assert value("message_read", "payments") == 10
    expected = {"success": 6, "retry": 2, "skip": 1, "failure": 1, "dead_letter": 1}
    for outcome, count in expected.items():
        assert value(f"message_processing_{outcome}", "payments") == count, outcome
    assert value("handler_fn_execution_time_all_count", "payments") == 3
    assert value("handler_fn_execution_time_all_sum", "payments") == pytest.approx(44.0)  # milliseconds
    assert value("handler_fn_execution_time_all_bucket", "payments", le="5.0") == 1
    assert value("handler_fn_execution_time_all_bucket", "payments", le="25.0") == 3

    entity = "topic_entity"
    assert value("ziggurat_batch_consumption_message_processed_total", "orders", entity) == 7
    assert value("ziggurat_batch_consumption_message_processed_success", "orders", entity) == 4
    assert value("ziggurat_batch_consumption_message_processed_retry", "orders", entity) == 3
    assert value("ziggurat_batch_consumption_message_processed_exception", "orders", entity) == 3
    assert value("ziggurat_batch_consumption_message_processed_skip", "idle", entity) == 0  # a route not yet busy
    assert value("ziggurat_batch_consumption_message_processed_execution_time_all_sum", "orders", entity) == 250
    assert value("ziggurat_batch_consumption_offset_commit_success", "orders", entity) == 1
    assert value("ziggurat_batch_consumption_offset_commit_failure", "orders", entity) == 1
    assert found[("ziggurat_msg_read_count_total", (("actor", "shop"), ("topic_name", "orders")))] == 7  # zig's own
    assert not any(name == "message_read" and ("topic_name", "orders") in labels for name, labels in found)


def test_laps_bin_each_call_as_observing_its_duration_would():
    # each stamp ends one call and starts the next: durations 0.0009765625, 0.0078125, 0.25, 0.001953125 (exact
    # binary fractions)
    stamps = [1.0, 1.0009765625, 1.0087890625, 1.2587890625, 1.2607421875]
    laps, observed = Bins(SECONDS), Bins(SECONDS)
    laps.laps(stamps)
    for start, end in zip(stamps[:-1], stamps[1:], strict=True):
        observed.observe(end - start)
    assert laps.counts == observed.counts
    assert sum(laps.counts) == 4 and laps.counts[0] == 2  # two fast calls, one in the 0.01 bucket, one in 0.25
    assert laps.total == stamps[-1] - stamps[0]


def test_laps_of_fast_calls_all_land_in_the_first_bucket_and_one_stamp_is_no_call():
    times = Bins(SECONDS)
    times.laps([5.0])
    assert sum(times.counts) == 0 and times.total == 0
    times.laps([5.0, 5.001, 5.002, 5.003])
    assert times.counts[0] == 3 and sum(times.counts) == 3


def test_per_thread_tallies_answer_filtered_scrapes_and_show_when_each_series_began():
    metrics = Metrics()
    route = metrics.route("orders", "shop")
    route.tally().add(_report(consumed=5, succeeded=5))
    wanted = ["ziggurat_msg_read_count_total", "zig_batch_size_count"]
    lines = generate_latest(metrics.registry.restricted_registry(wanted)).decode().splitlines()
    assert 'ziggurat_msg_read_count_total{actor="shop",topic_name="orders"} 5.0' in lines
    assert 'zig_batch_size_count{actor="shop",topic_name="orders"} 1.0' in lines
    every = generate_latest(metrics.registry).decode()
    for name in (
        "ziggurat_msg_read_count",
        "ziggurat_msg_processed_count",
        "zig_batch_size",
        "ziggurat_kafka_delay_time",
    ):
        assert f"{name}_created{{" in every, name
