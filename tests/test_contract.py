"""The batch handler's return value: what zig accepts, and the exact contract errors."""

from __future__ import annotations

from typing import Any

import pytest

from zig_cli.contract import BatchResult, Message, interpret_batch_result
from zig_cli.errors import ContractError

A = Message("t", 0, 1, None, None, b"a")
B = Message("t", 0, 2, None, None, b"b")
STRANGER = Message("t", 0, 1, None, None, b"a")  # equal fields, but not a message of the batch


@pytest.mark.parametrize(
    ("value", "retry", "skip"),
    [
        (None, [], []),
        ({}, [], []),
        ({"retry": [A]}, [0], []),
        ({"skip": [B]}, [], [1]),
        ({"retry": [A], "skip": [B]}, [0], [1]),
        ({"retry": (A,), "skip": None}, [0], []),
        (BatchResult(retry=[B]), [1], []),
        (BatchResult(skip=(B, A)), [], [1, 0]),
    ],
)
def test_accepted_results_give_positions_in_the_batch(value: Any, retry: list[int], skip: list[int]):
    assert interpret_batch_result("orders", value, [A, B]) == (retry, skip)


EXPECTED = "None, {'retry': [...], 'skip': [...]} or BatchResult(retry=..., skip=...)"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("oops", f"route 'orders': handler returned 'oops'; expected {EXPECTED}"),
        ([A], f"route 'orders': handler returned [{A!r}]; expected {EXPECTED}"),
        (
            {"retyr": [A]},
            f"route 'orders': handler returned {{'retyr': [{A!r}]}}; unknown key(s) ['retyr'], expected {EXPECTED}",
        ),
        ({"retry": A}, f"route 'orders': handler returned retry={A!r}; expected a list of messages"),
        (
            {"skip": [STRANGER]},
            f"route 'orders': handler returned skip containing {STRANGER!r}, which is not a message of this batch",
        ),
        (
            {"retry": ["a"]},
            "route 'orders': handler returned retry containing 'a', which is not a message of this batch",
        ),
        ({"retry": [A], "skip": [A]}, f"route 'orders': handler returned {A!r} in both retry and skip"),
    ],
    ids=["string", "list", "unknown key", "not a list", "stranger", "not a message", "both"],
)
def test_contract_errors_name_the_route_and_value(value: Any, message: str):
    with pytest.raises(ContractError) as caught:
        interpret_batch_result("orders", value, [A, B])
    assert str(caught.value) == message
