"""The batch handler's return value: what zig accepts, and the exact contract errors."""

from __future__ import annotations

from typing import Any

import pytest

from zig_cli.contract import (
    Answer,
    BatchResult,
    Message,
    Outcome,
    describe_error,
    interpret_batch_result,
    interpret_stream_answer,
    interpret_stream_result,
    shown,
)
from zig_cli.errors import ContractError

A = Message("t", 0, 1, None, None, b"a")
B = Message("t", 0, 2, None, None, b"b")
STRANGER = Message("t", 0, 1, None, None, b"a")  # equal fields, but not a message of the batch


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, Answer({}, {}, {})),
        ({}, Answer({}, {}, {})),
        ({"retry": [A]}, Answer({0: ""}, {}, {})),
        ({"skip": [B]}, Answer({}, {1: ""}, {})),
        ({"retry": [A], "skip": [B]}, Answer({0: ""}, {1: ""}, {})),
        ({"retry": (A,), "skip": None}, Answer({0: ""}, {}, {})),
        ({"retry": [A, A]}, Answer({0: ""}, {}, {})),
        ({"dead-letter": [B]}, Answer({}, {}, {1: ""})),
        ({"dead_letter": {B: "no customer"}}, Answer({}, {}, {1: "no customer"})),
        ({"retry": {A: "db timeout"}, "skip": {B: ""}}, Answer({0: "db timeout"}, {1: ""}, {})),
        ({"retry": {A: "x" * 5000}}, Answer({0: "x" * 997 + "..."}, {}, {})),
        (BatchResult(retry=[B]), Answer({1: ""}, {}, {})),
        (BatchResult(skip=(B, A)), Answer({}, {1: "", 0: ""}, {})),
        (BatchResult(dead_letter={A: "bad"}, retry=[B]), Answer({1: ""}, {}, {0: "bad"})),
    ],
    ids=[
        "None",
        "empty",
        "retry",
        "skip",
        "both",
        "tuple and None",
        "named twice in one list",
        "dead-letter",
        "dead_letter with a reason",
        "reasons",
        "a long reason is capped",
        "BatchResult",
        "BatchResult skip",
        "BatchResult dead_letter",
    ],
)
def test_accepted_results_give_positions_in_the_batch_and_reasons(value: Any, expected: Answer):
    assert interpret_batch_result("orders", value, [A, B]) == expected


EXPECTED = (
    "None, {'retry': [...], 'skip': [...], 'dead-letter': [...]} (lists of messages, or dicts of message -> reason) "
    "or BatchResult(retry=..., skip=..., dead_letter=...)"
)
NOT_A_LIST = "expected a list of messages or a dict of message -> reason"


async def _coroutine(batch: Any) -> None:
    pass


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("oops", f"route 'orders': handler returned 'oops'; expected {EXPECTED}"),
        ([A], f"route 'orders': handler returned [{A!r}]; expected {EXPECTED}"),
        (
            {"retyr": [A]},
            f"route 'orders': handler returned {{'retyr': [{A!r}]}}; unknown key(s) ['retyr'], expected {EXPECTED}",
        ),
        ({"retry": A}, f"route 'orders': handler returned retry={A!r}; {NOT_A_LIST}"),
        (
            {"skip": [STRANGER]},
            f"route 'orders': handler returned skip containing {STRANGER!r}, which is not a message of this batch",
        ),
        (
            {"retry": ["a"]},
            "route 'orders': handler returned retry containing 'a', which is not a message of this batch",
        ),
        (
            {"dead-letter": {STRANGER: "why"}},
            f"route 'orders': handler returned dead-letter containing {STRANGER!r}, which is not a message of this "
            "batch",
        ),
        ({"retry": [A], "skip": [A]}, f"route 'orders': handler returned {A!r} in both retry and skip"),
        (
            {"skip": {B: "dup"}, "dead_letter": [B]},
            f"route 'orders': handler returned {B!r} in both skip and dead-letter",
        ),
        (
            {"dead-letter": [A], "dead_letter": [B]},
            "route 'orders': handler returned both 'dead-letter' and 'dead_letter'; use one",
        ),
        (
            {"retry": {A: 42}},
            f"route 'orders': handler returned 42 as the retry reason of {A!r}; a reason is a string",
        ),
        (
            BatchResult(dead_letter={B: None}),  # type: ignore[dict-item]
            f"route 'orders': handler returned None as the dead-letter reason of {B!r}; a reason is a string",
        ),
    ],
    ids=[
        "string",
        "list",
        "unknown key",
        "not a list",
        "stranger",
        "not a message",
        "stranger with a reason",
        "both",
        "in two lists, one with a reason",
        "both spellings",
        "a reason that is no string",
        "a None reason",
    ],
)
def test_contract_errors_name_the_route_and_value(value: Any, message: str):
    with pytest.raises(ContractError) as caught:
        interpret_batch_result("orders", value, [A, B])
    assert str(caught.value) == message


def test_a_coroutine_returned_by_a_plain_function_says_so_and_is_closed():
    coroutine = _coroutine([A])
    with pytest.raises(ContractError) as caught:
        interpret_batch_result("orders", coroutine, [A, B])
    assert str(caught.value) == (
        "route 'orders': handler returned a coroutine (_coroutine), which zig does not await from a plain function; "
        f"make the handler itself `async def`; expected {EXPECTED}"
    )
    assert coroutine.cr_frame is None  # closed: Python does not warn that it was never awaited


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
    def items(self) -> Any:
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


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("retry", (Outcome.RETRY, "")),
        (("retry", "db timeout"), (Outcome.RETRY, "db timeout")),
        ((Outcome.DEAD_LETTER, "no customer id"), (Outcome.DEAD_LETTER, "no customer id")),
        ((":skip", "test order"), (Outcome.SKIP, "test order")),
        (("success", "fine"), (Outcome.SUCCESS, "fine")),
        (("retry", "y" * 3000), (Outcome.RETRY, "y" * 997 + "...")),
    ],
)
def test_a_stream_answer_may_carry_a_reason(value: Any, expected: tuple[Outcome, str]):
    assert interpret_stream_answer(value) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (42, "handler returned 42, not success, retry, skip or dead-letter"),
        (("retry", 5), "handler returned ('retry', 5), whose reason is not a string"),
        (("retry", "a", "b"), "handler returned ('retry', 'a', 'b'), not success, retry, skip or dead-letter"),
        (["retry", "a"], "handler returned ['retry', 'a'], not success, retry, skip or dead-letter"),
        (("sideways", "a"), "handler returned ('sideways', 'a'), not success, retry, skip or dead-letter"),
    ],
)
def test_a_stream_answer_zig_cannot_read_says_why(value: Any, message: str):
    with pytest.raises(ContractError) as caught:
        interpret_stream_answer(value)
    assert str(caught.value) == message


def test_a_coroutine_from_a_plain_stream_handler_says_so_and_is_closed():
    coroutine = _coroutine(A)
    with pytest.raises(ContractError) as caught:
        interpret_stream_answer(coroutine)
    assert str(caught.value) == (
        "handler returned a coroutine (_coroutine), which zig does not await from a plain function; make the handler "
        "itself `async def`"
    )
    assert coroutine.cr_frame is None
