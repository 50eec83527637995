"""Ziggurat's start-fn and stop-fn: named in the config, imported by `zig validate`, called once around the workers."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from fakes import FakeConsumer, FakeProducer
from helpers import flat_config, write
from typer.testing import CliRunner

from zig_cli import config, preflight
from zig_cli.cli import app
from zig_cli.errors import HookError
from zig_cli.lifecycle import Hook, Lifecycle, from_config
from zig_cli.runner import Clients, Runner

HOOKS = {"start-fn": "zig_fixture_handlers/takes-nothing", "stop-fn": "zig_fixture_handlers:takes_nothing"}


def test_validate_imports_both_hooks_and_shows_them(tmp_path: Path):
    path = write(tmp_path, {"ziggurat": flat_config(**HOOKS)})
    found = preflight.check_file(path, {})
    assert found.problems == ()
    assert sorted(found.hooks) == ["start-fn", "stop-fn"]
    assert all(hook.__name__ == "takes_nothing" for hook in found.hooks.values())
    result = CliRunner().invoke(app, ["validate", str(path)])
    assert result.exit_code == 0, result.stderr
    assert (
        "lifecycle: start-fn 'zig_fixture_handlers/takes-nothing', stop-fn 'zig_fixture_handlers:takes_nothing' "
        "(start-fn once before anything starts, stop-fn once after the workers)"
    ) in result.stdout


BAD_HOOKS = [
    ("zig_fixture_nowhere/start", "module 'zig_fixture_nowhere' not found"),
    ("zig_fixture_handlers/on-batch", "'zig_fixture_handlers.on_batch' cannot be called with no arguments; "),
    ("zig_fixture_handlers/on-batch-async", "'zig_fixture_handlers.on_batch_async' is an async function: zig calls"),
    ("zig_fixture_handlers/OnBatch", "'zig_fixture_handlers.OnBatch' is a class: calling it makes an instance"),
    ("start", "'start' is not a handler path; write \"package.module/function\""),
]


@pytest.mark.parametrize(("spec", "message"), BAD_HOOKS, ids=["missing", "arity", "async", "class", "path"])
def test_a_hook_that_cannot_be_called_is_a_problem_at_its_key(tmp_path: Path, spec: str, message: str):
    found = preflight.check_file(write(tmp_path, {"ziggurat": flat_config(**{"stop-fn": spec})}), {})
    [problem] = found.problems
    assert problem.path == "ziggurat.stop-fn"
    assert problem.message.startswith(message), problem.message
    assert found.config is None and found.hooks == {}


def test_a_hook_can_come_from_the_environment(tmp_path: Path):
    found = preflight.check_file(write(tmp_path, flat_config()), {"ZIGGURAT_START_FN": HOOKS["start-fn"]})
    assert found.problems == () and list(found.hooks) == ["start-fn"]


def raises() -> None:
    raise RuntimeError("no database")


def test_a_hook_that_raises_says_what_and_where_in_one_line():
    with pytest.raises(HookError) as caught:
        Hook("start-fn", "app/start", raises).call()
    line = raises.__code__.co_firstlineno + 1
    assert str(caught.value) == f"start-fn 'app/start' raised RuntimeError: no database (at test_lifecycle.py:{line})"


def test_a_hook_error_of_many_lines_is_shown_as_its_first_one():
    def raises_lines() -> None:
        raise RuntimeError("db down\npassword=hunter2 on the second line")

    with pytest.raises(HookError) as caught:
        Hook("start-fn", "app/start", raises_lines).call()
    assert "\n" not in str(caught.value) and "hunter2" not in str(caught.value)
    assert str(caught.value).startswith("start-fn 'app/start' raised RuntimeError: db down ...")


def test_stop_fn_runs_once_and_only_after_start_fn_returned():
    calls: list[str] = []
    failing = Lifecycle(Hook("start-fn", "s", raises), Hook("stop-fn", "t", lambda: calls.append("stop")))
    with pytest.raises(HookError):
        failing.start()
    failing.stop()
    assert calls == [], "a set-up that failed is not torn down"
    lifecycle = Lifecycle(stop=Hook("stop-fn", "t", lambda: calls.append("stop")))
    lifecycle.start()
    lifecycle.stop()
    lifecycle.stop()
    assert calls == ["stop"]


def runner_with(cfg: config.Config, hooks: Lifecycle, consumers: list[str]) -> Runner:
    """A runner on fakes whose workers end as soon as they have their consumers."""
    producer = FakeProducer()
    stop = threading.Event()

    def new_consumer(props: Any, callbacks: Any) -> FakeConsumer:
        consumers.append(props["group.id"])
        stop.set()
        return FakeConsumer(producer)

    clients = Clients(consumer=new_consumer, producer=lambda props: producer, prepare_topics=lambda *a: None)
    runner = Runner(cfg, {"orders": lambda batch: None}, clients=clients, lifecycle=hooks)
    runner.stop = stop
    return runner


SERVERS_OFF = {"prometheus": {"enabled": False}, "http-server": {"enabled": False}}


def test_the_runner_calls_start_fn_before_any_consumer():
    cfg = config.validate(flat_config(**HOOKS, **SERVERS_OFF), "c.edn", {})
    consumers: list[str] = []
    seen: list[int] = []
    hooks = from_config(cfg, {"start-fn": lambda: seen.append(len(consumers)), "stop-fn": lambda: None})
    runner = runner_with(cfg, hooks, consumers)
    runner.start()
    assert runner.wait(10)
    assert seen == [0] and consumers == ["orders-group", "orders-group"]


def test_a_failing_start_fn_starts_nothing():
    cfg = config.validate(flat_config(**HOOKS, **SERVERS_OFF), "c.edn", {})
    consumers: list[str] = []
    runner = runner_with(cfg, Lifecycle(Hook("start-fn", "app/start", raises)), consumers)
    with pytest.raises(HookError, match="^start-fn 'app/start' raised RuntimeError: no database"):
        runner.start()
    assert consumers == [] and runner.workers == []


def test_finish_calls_stop_fn_and_keeps_the_run_s_first_failure(caplog: pytest.LogCaptureFixture):
    assert Lifecycle(stop=Hook("stop-fn", "t", lambda: None)).finish(None) is None
    failing = Lifecycle(stop=Hook("stop-fn", "app/stop", raises))
    failing.start()
    failure = failing.finish(None)
    assert isinstance(failure, HookError) and str(failure).startswith("stop-fn 'app/stop' raised RuntimeError")
    earlier = RuntimeError("a worker failed")
    again = Lifecycle(stop=Hook("stop-fn", "app/stop", raises))
    again.start()
    assert again.finish(earlier) is earlier
    assert [r.getMessage()[:35] for r in caplog.records] == ["stop-fn 'app/stop' raised RuntimeEr"]
