"""What a consumer holds of its group's partitions, and its lines: assigned, after how long a wait."""

from __future__ import annotations

import logging

import pytest
from confluent_kafka import TopicPartition

from zig_cli.worker.assignment import Assignment


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_assigned_says_how_long_the_consumer_waited_for_its_partitions(caplog: pytest.LogCaptureFixture):
    clock = Clock()
    caplog.set_level(logging.INFO, logger="zig_cli.worker.assignment")
    assignment = Assignment("orders", clock)  # joining its group now
    clock.now += 31.4
    assignment.assigned([TopicPartition("orders", 0), TopicPartition("orders", 1)])
    clock.now += 5
    assignment.assigned([TopicPartition("orders", 2)])  # added incrementally: no wait to tell
    assignment.revoked([TopicPartition("orders", 0), TopicPartition("orders", 1), TopicPartition("orders", 2)])
    clock.now += 2
    assignment.assigned([])  # back in the group, with more members than partitions
    assignment.lost([])
    clock.now += 0.5
    assignment.assigned([TopicPartition("orders", 1)])
    assert [(r.getMessage(), r.__dict__["route"]) for r in caplog.records] == [
        ("route=orders assigned orders[0], orders[1] after 31.4 s", "orders"),
        ("route=orders assigned orders[2]", "orders"),
        ("route=orders assigned nothing after 2.0 s", "orders"),
        ("route=orders assigned orders[1] after 0.5 s", "orders"),
    ]
    assert assignment.unready is None
