"""handlers.resolve: each way a dotted path can fail gets its own exact message."""

from __future__ import annotations

import functools
from pathlib import Path

import pytest
from helpers import batch_route, flat_config, stream_route, write

from zig_cli import handlers, preflight
from zig_cli.errors import HandlerImportError


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (
            "zig_fixture_nowhere/on-batch",
            "module 'zig_fixture_nowhere' not found (looked in the config's folder, the working directory "
            "and the installed packages)",
        ),
        (
            "zig_fixture_raises/on-batch",
            "module 'zig_fixture_raises' raised RuntimeError while importing: database URL is not set",
        ),
        (
            "zig_fixture_bad_import/on-batch",
            "module 'zig_fixture_bad_import' raised ModuleNotFoundError while importing: "
            "No module named 'zig_no_such_dependency'",
        ),
        (
            "zig_fixture_handlers/on-bach",
            "'zig_fixture_handlers' has no attribute 'on_bach'; did you mean 'on_batch'?",
        ),
        ("zig_fixture_handlers/NOT_A_FUNCTION", "'zig_fixture_handlers.NOT_A_FUNCTION' is a int, not a function"),
        (
            "zig_fixture_handlers/takes-nothing",
            "'zig_fixture_handlers.takes_nothing' cannot be called with one argument; its signature is ()",
        ),
        (
            "zig_fixture_handlers/OnBatch",
            "'zig_fixture_handlers.OnBatch' is a class: calling it makes an instance, not an outcome; name a function",
        ),
        (
            "zig_fixture_handlers/on-batch-async-generator",
            "'zig_fixture_handlers.on_batch_async_generator' is an async generator function: calling it returns an "
            "async generator, not an outcome; name a function",
        ),
        (
            "zig_fixture_coroutine/handler",
            "'zig_fixture_coroutine.handler' is a coroutine object, the result of calling on_message(); "
            "name the function instead",
        ),
        (
            "zig_fixture_handlers/on-batch-generator",
            "'zig_fixture_handlers.on_batch_generator' is a generator function: calling it returns a generator, "
            "not an outcome; name a function",
        ),
        (
            "zig_fixture_handlers/on-batch-wrapped-async",
            "'zig_fixture_handlers.on_batch_wrapped_async' is a plain function wrapping an async one (a decorator "
            "whose wrapper is not `async def`): zig would call it without awaiting what it returns; make the wrapper "
            "`async def`",
        ),
        (
            "zig_fixture_handlers/on-batch-keyword-only",
            "'zig_fixture_handlers.on_batch_keyword_only' cannot be called with one argument; its signature is "
            "(batch, *, db)",
        ),
        (
            "zig_fixture_handlers.on_batch",
            "'zig_fixture_handlers.on_batch' is not a handler path; "
            'write "package.module/function" or "package.module:function"',
        ),
    ],
    ids=[
        "module not found",
        "module raised",
        "module's own import missing",
        "attribute missing",
        "not callable",
        "wrong arity",
        "a class",
        "an async generator function",
        "a coroutine object",
        "a generator function",
        "a sync wrapper of an async function",
        "a required keyword-only argument",
        "malformed path",
    ],
)
def test_each_failure_kind_has_its_message(spec: str, expected: str):
    with pytest.raises(HandlerImportError) as caught:
        handlers.resolve(spec)
    assert caught.value.message == expected


def test_module_that_raised_carries_its_traceback():
    with pytest.raises(HandlerImportError) as caught:
        handlers.resolve("zig_fixture_raises/on-batch")
    assert 'zig_fixture_raises.py", line 3' in caught.value.detail
    assert "RuntimeError: database URL is not set" in caught.value.detail
    assert "importlib" not in caught.value.detail


@pytest.mark.parametrize("spec", ["zig_fixture_handlers/on-batch", "zig_fixture_handlers:on_batch"])
def test_clojure_and_python_spellings_resolve_to_the_same_function(spec: str):
    from zig_fixture_handlers import on_batch  # type: ignore[import-not-found]

    assert handlers.resolve(spec) is on_batch


def test_a_handler_beside_the_config_is_importable(tmp_path: Path):
    (tmp_path / "zig_fixture_beside.py").write_text("def handle(batch):\n    return None\n")
    handlers.add_search_paths([tmp_path])
    assert handlers.resolve("zig_fixture_beside/handle").__name__ == "handle"


def test_a_callable_object_is_a_handler():
    from zig_fixture_handlers import on_batch_object  # type: ignore[import-not-found]

    assert handlers.resolve("zig_fixture_handlers/on-batch-object") is on_batch_object


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("zig_fixture_handlers/on-batch", False),
        ("zig_fixture_handlers/on-batch-object", False),
        ("zig_fixture_handlers/on-batch-async", True),
        ("zig_fixture_handlers/on-message-async-object", True),
        ("zig_fixture_handlers/on-message-partial", True),
    ],
    ids=["function", "object", "async function", "object with an async __call__", "partial of an async function"],
)
def test_async_handlers_resolve_and_are_told_from_sync_ones(spec: str, expected: bool):
    assert handlers.is_async(handlers.resolve(spec)) is expected


def test_a_partial_of_a_sync_function_is_not_async():
    assert handlers.is_async(functools.partial(lambda message, client: None, client=None)) is False


@pytest.mark.parametrize(
    ("spec", "stream", "expected"),
    [
        (
            "zig_fixture_handlers/on-one-message",
            False,
            "'zig_fixture_handlers.on_one_message' takes one Message (message: Message), but a batch route calls its "
            "handler with a list of messages; put the route under stream-router, or take list[Message]",
        ),
        (
            "zig_fixture_handlers/on-one-message-written",
            False,
            "'zig_fixture_handlers.on_one_message_written' takes one Message (message: Message), but a batch route "
            "calls its handler with a list of messages; put the route under stream-router, or take list[Message]",
        ),
        (
            "zig_fixture_handlers/on-many-messages",
            True,
            "'zig_fixture_handlers.on_many_messages' takes list[Message] (batch), but a stream route calls its "
            "handler with one message; put the route under batch-routes, or take a Message",
        ),
        (
            "zig_fixture_handlers/on-many-messages-written",
            True,
            "'zig_fixture_handlers.on_many_messages_written' takes list[Message] (batch), but a stream route calls "
            "its handler with one message; put the route under batch-routes, or take a Message",
        ),
    ],
    ids=["Message on batch", "'Message' on batch", "list on stream", "'list' on stream"],
)
def test_a_handler_annotated_for_the_other_kind_of_route_is_refused(spec: str, stream: bool, expected: str):
    with pytest.raises(HandlerImportError) as caught:
        handlers.resolve(spec, stream=stream)
    assert caught.value.message == expected


@pytest.mark.parametrize(
    ("spec", "stream"),
    [
        ("zig_fixture_handlers/on-one-message", True),
        ("zig_fixture_handlers/on-many-messages-written", False),
        ("zig_fixture_handlers/on-batch", True),
        ("zig_fixture_handlers/on-batch", False),
    ],
)
def test_a_handler_annotated_for_its_route_or_not_at_all_resolves(spec: str, stream: bool):
    assert callable(handlers.resolve(spec, stream=stream))


def test_validate_reports_a_handler_annotated_for_the_other_kind_of_route(tmp_path: Path):
    raw = flat_config(
        **{
            "batch-routes": {"orders": batch_route(**{"handler-fn": "zig_fixture_handlers/on-one-message"})},
            "stream-router": {"events": stream_route(**{"handler-fn": "zig_fixture_handlers/on-one-message"})},
        }
    )
    checked = preflight.check_file(write(tmp_path, raw), {})
    assert [(p.path, p.message.split(" takes ")[1][:12]) for p in checked.problems] == [
        ("batch-routes.orders.handler-fn", "one Message ")
    ], "the stream route takes one message, as its handler says"
