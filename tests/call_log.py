"""Reading a log of handler calls (tests/fixtures/zig_fixture_concurrency.py writes one): did any key's messages
overlap or run out of order, and how many calls ran at once. Pure functions over the records, tested by
test_call_log.py so that a broker test's "no violations" means something."""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

# key, seq, partition, offset, call, pos (place in the call's list), start, end: one message of one handler call
Record = dict[str, Any]


def order_violations(records: Iterable[Record]) -> list[str]:
    """Where key ordering was broken: a call of a key starting before an earlier call of that key ended, or a message
    starting before a message of lower sequence number of its key had started. A key's sequence numbers count from
    0 with no gaps; a message handled again (at-least-once) is no violation, nor are messages of one key sharing a
    batch call in order."""
    by_key: dict[str, list[Record]] = defaultdict(list)
    for record in records:
        by_key[record["key"]].append(record)
    problems: list[str] = []
    for key, handled in sorted(by_key.items()):
        handled.sort(key=lambda r: (r["start"], r["call"], r["pos"]))
        busy_until, busy_seq = float("-inf"), -1  # the latest end among the key's earlier calls, and its message
        highest = -1  # the highest sequence number of the key started so far
        for _, group in itertools.groupby(handled, key=lambda r: r["call"]):
            call = list(group)
            start, end = call[0]["start"], call[0]["end"]
            if start < busy_until:
                problems.append(
                    f"key {key!r}: seq {call[0]['seq']} started {(busy_until - start) * 1000:.1f} ms before seq "
                    f"{busy_seq} ended"
                )
            for record in call:
                if record["seq"] > highest + 1:
                    problems.append(f"key {key!r}: seq {record['seq']} started before seq {highest + 1}")
                highest = max(highest, record["seq"])
            if end > busy_until:
                busy_until, busy_seq = end, call[-1]["seq"]
    return problems


def most_at_once(records: Iterable[Record]) -> int:
    """The largest number of handler calls in progress at one moment."""
    calls = {record["call"]: (record["start"], record["end"]) for record in records}
    # At equal times an end comes before a start: a call starting as another ends does not overlap it.
    events = sorted([(start, 1) for start, _ in calls.values()] + [(end, -1) for _, end in calls.values()])
    running = most = 0
    for _, change in events:
        running += change
        most = max(most, running)
    return most
