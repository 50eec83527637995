"""The checker of handler-call logs that tests/test_concurrency.py relies on: it finds what it must, and only that."""

from __future__ import annotations

import pytest
from call_log import Record, most_at_once, order_violations


def call(call_id: int, start: float, end: float, *messages: tuple[str, int]) -> list[Record]:
    """One handler call over (key, seq) messages, in this order; offsets follow the sequence numbers."""
    return [
        {"key": key, "seq": seq, "partition": 0, "offset": seq, "call": call_id, "pos": pos, "start": start, "end": end}
        for pos, (key, seq) in enumerate(messages)
    ]


CLEAN = [
    *call(0, 0.0, 1.0, ("a", 0)),
    *call(1, 0.5, 1.5, ("b", 0)),  # another key overlapping: the point of concurrency
    *call(2, 1.0, 2.0, ("a", 1)),  # starts as the key's previous call ends
    *call(3, 2.0, 3.0, ("a", 2), ("a", 3), ("b", 1)),  # one batch call, two messages of a key
    *call(4, 3.5, 4.0, ("a", 2)),  # handled again, at least once: no violation
]


def test_a_clean_log_has_no_violations():
    assert order_violations(CLEAN) == []
    assert order_violations(reversed(CLEAN)) == [], "the order of the lines in the file does not matter"


@pytest.mark.parametrize(
    ("log", "expected"),
    [
        (
            call(0, 0.0, 1.0, ("a", 0)) + call(1, 0.75, 2.0, ("a", 1)),
            ["key 'a': seq 1 started 250.0 ms before seq 0 ended"],
        ),
        (
            # Overlapping a long call, not the call just before it.
            call(0, 0.0, 5.0, ("a", 0)) + call(1, 1.0, 2.0, ("a", 1)) + call(2, 3.0, 4.0, ("a", 2)),
            [
                "key 'a': seq 1 started 4000.0 ms before seq 0 ended",
                "key 'a': seq 2 started 2000.0 ms before seq 0 ended",
            ],
        ),
        (
            call(0, 0.0, 1.0, ("a", 1)) + call(1, 1.0, 2.0, ("a", 0)),
            ["key 'a': seq 1 started before seq 0"],
        ),
        (
            call(0, 0.0, 1.0, ("a", 0), ("a", 2), ("a", 1)),
            ["key 'a': seq 2 started before seq 1"],
        ),
        (
            call(0, 0.0, 1.0, ("b", 0)) + call(1, 0.0, 1.0, ("b", 1)) + call(2, 2.0, 3.0, ("c", 0)),
            ["key 'b': seq 1 started 1000.0 ms before seq 0 ended"],
        ),
    ],
    ids=["overlap", "overlap-of-an-older-call", "out-of-order", "out-of-order-in-a-batch", "same-start"],
)
def test_a_broken_order_is_reported(log: list[Record], expected: list[str]):
    assert order_violations(log) == expected


@pytest.mark.parametrize(
    ("log", "expected"),
    [
        ([], 0),
        (call(0, 0.0, 1.0, ("a", 0), ("b", 0)), 1),  # one call, however many messages
        (call(0, 0.0, 1.0, ("a", 0)) + call(1, 1.0, 2.0, ("b", 0)), 1),  # back to back
        (CLEAN, 2),
        (call(0, 0.0, 3.0, ("a", 0)) + call(1, 1.0, 2.0, ("b", 0)) + call(2, 1.5, 4.0, ("c", 0)), 3),
    ],
)
def test_most_at_once_counts_calls_in_progress_together(log: list[Record], expected: int):
    assert most_at_once(log) == expected
