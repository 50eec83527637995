"""The raw baselines run with zig's own client settings for the route, derived from the same code, so they cannot
drift; the second column keeps librdkafka's defaults."""

from __future__ import annotations

import pytest
from confluent_kafka import KafkaError, Message

from bench import raw_loops, run
from zig_cli import kafka


@pytest.mark.parametrize(("stream", "threads"), [(False, 1), (False, 2), (True, 1)])
def test_the_like_for_like_raw_consumer_has_zigs_settings_but_its_own_group(stream: bool, threads: int):
    handler = "noop_stream" if stream else "noop_batch"
    cfg = run.zig_config("127.0.0.1:9", "t", handler, stream=stream, threads=threads)
    for thread in range(threads):
        raw = raw_loops.consumer_settings(cfg, thread, "raw-1", "zig")
        zigs = kafka.consumer_properties(cfg, cfg.routes[0], thread)
        assert raw == {**zigs, "group.id": "raw-1"}
        assert zigs["fetch.queue.backoff.ms"] == "100" and zigs["enable.auto.offset.store"] == "false"


def test_the_defaults_column_leaves_librdkafkas_performance_settings_alone():
    cfg = run.zig_config("127.0.0.1:9", "t", "noop_batch")
    raw = raw_loops.consumer_settings(cfg, 0, "raw-2", "defaults")
    assert "fetch.queue.backoff.ms" not in raw and raw["enable.auto.offset.store"] is False
    assert set(raw) == {
        "bootstrap.servers",
        "group.id",
        "auto.offset.reset",
        "session.timeout.ms",
        "enable.auto.offset.store",
        "auto.commit.interval.ms",
    }


def _message(partition: int, offset: int, error: bool = False) -> Message:
    return Message(
        topic="t", partition=partition, offset=offset, error=KafkaError(KafkaError._PARTITION_EOF) if error else None
    )


def test_the_raw_loops_store_each_partitions_next_offset_however_the_batch_is_made():
    one = [_message(0, offset) for offset in range(10, 15)]
    assert [(tp.partition, tp.offset) for tp in raw_loops.next_offsets(one)] == [(0, 15)]
    # a message of another partition between the first and the last of one partition
    mixed = [_message(0, 10), _message(1, 7), _message(0, 11)]
    assert sorted((tp.partition, tp.offset) for tp in raw_loops.next_offsets(mixed)) == [(0, 12), (1, 8)]
    assert raw_loops.usable(one) is one, "no error event: the batch as it came"
    with_error = [_message(0, 1), _message(0, 2, error=True), _message(0, 3)]
    assert [m.offset() for m in raw_loops.usable(with_error)] == [1, 3]
