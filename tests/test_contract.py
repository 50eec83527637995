"""The batch handler's return value: what zig accepts, and the exact contract errors."""

from __future__ import annotations

from typing import Any

import pytest

from zig_cli.contract import (
    BatchResult,
    Message,
    Outcome,
    describe_error,
    interpret_batch_result,
    interpret_stream_result,
    shown,
)
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


class _Raises:
    def __init__(self, where: str) -> None:
        self.where = where

    def __bool__(self) -> bool:
        raise ValueError("truth value is ambiguous")

    def __iter__(self) -> Any:
        raise RuntimeError("no iterating me")

    def __repr__(self) -> str:
        raise RuntimeError("no showing me")


class _HostileDict(dict):  # type: ignore[type-arg]
    def __iter__(self) -> Any:
        raise RuntimeError("no iterating me")


class _HostileList(list):  # type: ignore[type-arg]
    def __iter__(self) -> Any:
        raise RuntimeError("no iterating me")


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (_Raises("top"), "handler returned <a _Raises whose repr raised RuntimeError>; expected"),
        ({"retry": _Raises("items")}, "which zig cannot read (ValueError: truth value is ambiguous)"),
        (_HostileDict(retry=[A]), "which zig cannot read (RuntimeError: no iterating me)"),
        ({"retry": _HostileList([A])}, "which zig cannot read (RuntimeError: no iterating me)"),
    ],
    ids=["repr raises", "truth value raises", "dict iteration raises", "list iteration raises"],
)
def test_a_result_that_fights_being_read_is_a_contract_error(value: Any, message: str):
    with pytest.raises(ContractError) as caught:
        interpret_batch_result("orders", value, [A, B])
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("value", "outcome"),
    [
        ("success", Outcome.SUCCESS),
        (" :Retry ", Outcome.RETRY),
        (Outcome.SKIP, Outcome.SKIP),
        (42, None),
        (_Raises("top"), None),
    ],
)
def test_stream_results_are_read_without_calling_their_methods(value: Any, outcome: Outcome | None):
    assert interpret_stream_result(value) is outcome


def test_a_str_subclass_is_read_as_the_text_it_holds():
    class Sneaky(str):
        def strip(self, *args: Any) -> str:
            raise RuntimeError("no stripping me")

        def __hash__(self) -> int:
            raise RuntimeError("no hashing me")

    assert interpret_stream_result(Sneaky("dead-letter")) is Outcome.DEAD_LETTER


def test_shown_and_describe_error_never_raise():
    class BadMessage(Exception):
        def __str__(self) -> str:
            raise RuntimeError("no")

    assert shown(_Raises("x")) == "<a _Raises whose repr raised RuntimeError>"
    assert shown("x" * 500) == repr("x" * 500)[:197] + "..."
    assert describe_error(BadMessage()) == "BadMessage: <its message raised RuntimeError>"
