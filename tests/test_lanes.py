"""Ordering lanes: how consumed messages are cut into items, and which items may be in a handler at once."""

from __future__ import annotations

from typing import Any

import pytest
from fakes import FakeRaw

from zig_cli.worker.lanes import Item, Lanes, splitter


def raws(*keys: bytes | None, partition: int = 0, start: int = 0) -> list[Any]:
    return [FakeRaw("orders", partition, start + i, b"v", key) for i, key in enumerate(keys)]


def offsets(item: Item) -> list[tuple[int, int]]:
    return [(raw.partition(), raw.offset()) for raw in item.raws]


@pytest.mark.parametrize("stream", [True, False])
@pytest.mark.parametrize("ordering", ["key", "partition", "none"])
def test_at_concurrency_1_the_whole_batch_is_one_item_with_no_lane(stream: bool, ordering: str):
    consumed = raws(b"a", b"b", None) + raws(b"a", partition=1)
    (item,) = splitter(ordering, 1, stream)(consumed, None)
    assert item.raws == consumed and item.lane is None
    assert item.firsts == {("orders", 0): 0, ("orders", 1): 0}


def test_a_stream_route_keeps_each_key_of_a_partition_in_its_own_lane_and_unkeyed_messages_in_the_partition_s():
    consumed = raws(b"a", b"b", b"a", None, None) + raws(b"a", partition=1, start=7)
    items = splitter("key", 8, stream=True)(consumed, None)
    assert {item.lane: offsets(item) for item in items} == {
        ("orders", 0, b"a"): [(0, 0), (0, 2)],
        ("orders", 0, b"b"): [(0, 1)],
        ("orders", 0): [(0, 3), (0, 4)],
        ("orders", 1, b"a"): [(1, 7)],
    }


def test_ordering_partition_makes_one_lane_per_partition():
    consumed = raws(b"a", b"b") + raws(b"c", partition=1)
    items = splitter("partition", 8, stream=True)(consumed, None)
    assert {item.lane: offsets(item) for item in items} == {("orders", 0): [(0, 0), (0, 1)], ("orders", 1): [(1, 0)]}


def test_a_batch_route_cuts_at_most_concurrency_sub_batches_each_holding_whole_keys():
    keys = [f"k{n % 40}".encode() for n in range(400)]
    consumed = raws(*keys)
    origins = [f"origin-{n}" for n in range(400)]
    items = splitter("key", 4, stream=False)(consumed, origins)
    assert 1 < len(items) <= 4
    owner: dict[bytes, Any] = {}
    for item in items:
        assert [raw.offset() for raw in item.raws] == sorted(raw.offset() for raw in item.raws)
        assert item.origins == [f"origin-{raw.offset()}" for raw in item.raws], "origins follow their messages"
        for raw in item.raws:
            assert owner.setdefault(raw.key(), item.lane) == item.lane, "a key's messages stay in one sub-batch"
    assert sorted(raw.offset() for item in items for raw in item.raws) == list(range(400))


def test_ordering_none_spreads_every_message_once_over_at_most_concurrency_items_without_lanes():
    consumed = raws(*[b"same"] * 10)
    items = splitter("none", 4, stream=True)(consumed, None)
    assert len(items) == 4 and all(item.lane is None for item in items)
    assert sorted(raw.offset() for item in items for raw in item.raws) == list(range(10))


def test_an_item_waits_behind_the_one_of_its_lane_and_starts_when_that_one_finishes():
    lanes = Lanes()
    first, second, other = (Item(raws(b"a"), None, "a", {}), Item(raws(b"a"), None, "a", {}), Item([], None, "b", {}))
    other.raws = raws(b"b")
    assert lanes.admit([first, second, other]) == [first, other]
    assert lanes.begin(first)
    assert lanes.running_on(None)
    assert lanes.finish(first) is second
    assert lanes.begin(second)
    assert lanes.finish(second) is None
    assert lanes.admit([Item(raws(b"a"), None, "a", {})]), "the lane is free again"


def test_dropping_partitions_empties_items_not_yet_begun_and_leaves_running_ones():
    lanes = Lanes()
    running = Item(raws(b"a", b"b"), None, "x", {("orders", 0): 0})
    behind = Item(raws(b"a") + raws(b"a", partition=1), None, "x", {("orders", 0): 0, ("orders", 1): 0})
    gone = Item(raws(b"c"), None, None, {("orders", 0): 0})
    lanes.admit([running, behind, gone])
    assert lanes.begin(running)
    lanes.drop({("orders", 0)})
    assert len(running.raws) == 2, "a call in hand keeps its messages"
    assert offsets(behind) == [(1, 0)] and behind.firsts == {("orders", 1): 0}
    assert not lanes.begin(gone), "an item with nothing left is never handed to the handler"
    assert lanes.running_on({("orders", 0)}) and not lanes.running_on({("orders", 1)})
