"""errors: what every message of zig's errors shares."""

from __future__ import annotations

import pytest

from zig_cli.errors import shortened


@pytest.mark.parametrize(
    ("text", "limit", "shown"),
    [("abc", 3, "abc"), ("abcd", 3, "..."), ("x" * 10, 8, "xxxxx..."), ("", 5, "")],
    ids=["fits", "cut to the marker", "cut", "empty"],
)
def test_shortened_cuts_to_the_limit_and_marks_the_cut(text: str, limit: int, shown: str):
    assert shortened(text, limit) == shown
    assert len(shortened(text, limit)) <= limit
