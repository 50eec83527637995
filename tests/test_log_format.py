"""zig run's JSON log lines: the context a log call gives with extra= becomes fields of their own."""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from fakes import FakeConsumer, FakeProducer, FakeRaw
from test_worker import make_worker
from typer.testing import CliRunner

from zig_cli import cli, stats
from zig_cli.contract import Message
from zig_cli.inhand import IN_HAND, InHand, InHandFilter


def formatted(message: str, *args: Any, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    record = logging.getLogger("zig_cli.test").makeRecord(
        "zig_cli.test", logging.INFO, __file__, 1, message, args, None, extra=extra
    )
    return json.loads(cli.JsonLines().format(record))  # type: ignore[no-any-return]


def test_the_context_given_with_extra_becomes_fields():
    line = formatted(
        "route=%s %s[%d]@%d: offset not stored",
        "orders",
        "shop",
        3,
        42,
        extra={"route": "orders", "topic": "shop", "partition": 3, "offset": 42},
    )
    assert line["message"] == "route=orders shop[3]@42: offset not stored"
    assert (line["route"], line["topic"], line["partition"], line["offset"]) == ("orders", "shop", 3, 42)
    assert (line["level"], line["logger"]) == ("info", "zig_cli.test")


def test_the_context_is_taken_as_given_not_read_from_the_text():
    line = formatted("route=%s waiting", "other", extra={"route": "orders"})
    assert line["route"] == "orders"
    assert "topic" not in line and "partition" not in line


def test_a_line_without_context_has_no_context_fields():
    line = formatted("metrics at http://%s:%d/metrics", "0.0.0.0", 8002)
    assert set(line) == {"time", "level", "logger", "message"}


class Counted:
    """A route's counters as the summary reads them."""

    def snapshot(self) -> stats.Snapshot:
        return stats.Snapshot(consumed=10, succeeded=7, retried=2, skipped=1, batches=1, last_batch_ms=12.5)


def test_the_summary_line_carries_the_route_and_its_counters(caplog: pytest.LogCaptureFixture):
    with caplog.at_level(logging.INFO, logger="zig_cli.run"):
        cli._log_stats({"orders": Counted()})  # type: ignore[dict-item]
    [record] = caplog.records
    line = json.loads(cli.JsonLines().format(record))
    assert line["message"].startswith("route=orders consumed=10 succeeded=7 retried=2 skipped=1 dead_lettered=0")
    assert line["route"] == "orders"
    assert {c: line[c] for c in ("consumed", "succeeded", "retried", "batches", "last_batch_ms")} == {
        "consumed": 10,
        "succeeded": 7,
        "retried": 2,
        "batches": 1,
        "last_batch_ms": 12.5,
    }


class Lines(logging.Handler):
    """The JSON lines the CLI would write, with its filter of the messages in hand."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(cli.JsonLines())
        self.addFilter(InHandFilter())
        self.lines: list[dict[str, Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(json.loads(self.format(record)))


@pytest.fixture
def lines() -> Iterator[list[dict[str, Any]]]:
    handler = Lines()
    logger = logging.getLogger("shop")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield handler.lines
    logger.removeHandler(handler)


def fields(line: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(line.get(name) for name in ("message", "route", "topic", "partition", "offset", "batch"))


@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("concurrency", [1, 4])
def test_a_stream_handlers_own_lines_carry_the_message_in_hand(
    lines: list[dict[str, Any]], asynchronous: bool, concurrency: int
):
    def on_message(message: Message) -> str:
        logging.getLogger("shop").info("handling %s", message.value)
        return "success"

    async def on_message_async(message: Message) -> str:
        await asyncio.sleep(0)  # other calls run meanwhile, each in its own context
        return on_message(message)

    producer = FakeProducer()
    handler = on_message_async if asynchronous else on_message
    worker = make_worker(handler, producer, value="string", stream=True, concurrency=concurrency)  # type: ignore[arg-type]
    given = [FakeRaw("orders", p, 10 + i, f"{p}-{i}".encode(), f"k{p}".encode()) for p in (0, 1) for i in range(3)]
    worker.handle(FakeConsumer(producer), given)
    assert sorted(fields(line) for line in lines) == sorted(
        (f"handling {p}-{i}", "orders", "orders", p, 10 + i, None) for p in (0, 1) for i in range(3)
    )
    logging.getLogger("shop").info("after the calls")
    assert fields(lines[-1]) == ("after the calls", None, None, None, None, None)


def test_a_thread_started_by_a_stream_handler_never_names_another_message(lines: list[dict[str, Any]]):
    copied: list[contextvars.Context] = []

    def audit() -> None:
        logging.getLogger("shop").info("audit of the first message")

    def on_message(message: Message) -> str:
        if not copied:
            copied.append(contextvars.copy_context())  # the call's context, as a thread pool would take it
        elif message.offset == 12:  # the index has moved on: a thread of the first call logs now
            thread = threading.Thread(target=copied[0].run, args=(audit,))
            thread.start()
            thread.join()
        return "success"

    producer = FakeProducer()
    worker = make_worker(on_message, producer, value="string", stream=True)
    worker.handle(FakeConsumer(producer), [FakeRaw("orders", 0, 10 + i, b"v") for i in range(3)])
    assert [fields(line) for line in lines] == [
        ("audit of the first message", "orders", "orders", 0, None, "orders[0]@10..12")
    ]


def test_tasks_started_by_an_async_stream_handler_keep_their_own_message(lines: list[dict[str, Any]]):
    audits: list[asyncio.Task[None]] = []

    async def audit(message: Message) -> None:
        await asyncio.sleep(0)
        logging.getLogger("shop").info("audit of %s", message.value)

    async def on_message(message: Message) -> str:
        audits.append(asyncio.create_task(audit(message)))
        if message.offset == 12:  # the audits run now, while the last message is in hand
            await asyncio.gather(*audits)
            await asyncio.to_thread(logging.getLogger("shop").info, "from a thread")
        return "success"

    producer = FakeProducer()
    worker = make_worker(on_message, producer, value="string", stream=True)  # type: ignore[arg-type]
    worker.handle(FakeConsumer(producer), [FakeRaw("orders", 0, 10 + i, f"m{i}".encode()) for i in range(3)])
    assert [fields(line) for line in lines] == [
        *((f"audit of m{i}", "orders", "orders", 0, 10 + i, None) for i in range(3)),
        ("from a thread", "orders", "orders", 0, 12, None),
    ]


class Counting(FakeRaw):
    reads = 0

    def offset(self) -> int:
        Counting.reads += 1
        return super().offset()


def test_a_batchs_fields_are_worked_out_once_per_call(lines: list[dict[str, Any]]):
    logs: list[bool] = []

    def on_batch(messages: list[Message]) -> None:
        for _ in messages * len(logs):
            logging.getLogger("shop").info("handling one")

    producer = FakeProducer()
    worker = make_worker(on_batch, producer, value="string")
    given = [Counting("orders", 0, 10 + i, b"v") for i in range(50)]
    worker.handle(FakeConsumer(producer), given)
    reads_without_logs = Counting.reads
    Counting.reads = 0
    logs.append(True)
    worker.handle(FakeConsumer(producer), given)  # the same again, with the handler logging once per message

    assert len(lines) == 50 and {line["batch"] for line in lines} == {"orders[0]@10..59"}
    assert Counting.reads - reads_without_logs <= 50  # not once per record (2,500)


def test_a_batch_handlers_own_lines_carry_the_batch_in_hand(lines: list[dict[str, Any]]):
    def on_batch(messages: list[Message]) -> None:
        logging.getLogger("shop").info("handling %d", len(messages))

    producer = FakeProducer()
    worker = make_worker(on_batch, producer, value="string")
    worker.handle(FakeConsumer(producer), [FakeRaw("orders", 2, 10 + i, b"v") for i in range(3)])
    worker.handle(FakeConsumer(producer), [FakeRaw("orders", p, 7, b"v") for p in (0, 1)])
    assert [fields(line) for line in lines] == [
        ("handling 3", "orders", "orders", 2, None, "orders[2]@10..12"),
        ("handling 2", "orders", None, None, None, "orders[0]@7..7, orders[1]@7..7"),
    ]


def test_zigs_own_lines_keep_their_context_during_a_call(lines: list[dict[str, Any]]):
    token = IN_HAND.set(InHand("orders", [FakeRaw("orders", 0, 5, b"v")]))
    try:
        logging.getLogger("shop").warning("route=%s waiting", "other", extra={"route": "other"})
    finally:
        IN_HAND.reset(token)
    assert fields(lines[0]) == ("route=other waiting", "other", None, None, None, None)


@pytest.mark.parametrize("given", ["debug", "Warning", "ERROR"])
def test_log_level_takes_any_case(given: str):
    result = CliRunner().invoke(cli.app, ["run", "missing.edn", "--log-level", given])
    assert (result.exit_code, result.stderr.strip()) == (2, "missing.edn: no such file")  # past the options


def test_an_unknown_log_level_is_a_usage_error():
    result = CliRunner().invoke(cli.app, ["run", "missing.edn", "--log-level", "verbose"], env={"COLUMNS": "200"})
    assert result.exit_code == 2
    assert "Invalid value for '--log-level': 'verbose' is not one of 'debug', 'info', 'warning', 'error'." in (
        result.stderr
    )


@pytest.mark.parametrize(("log_format", "filters"), [("json", [InHandFilter]), ("text", [])])
def test_the_log_level_is_the_roots_and_only_json_lines_get_the_filter(
    monkeypatch: pytest.MonkeyPatch, log_format: str, filters: list[type]
):
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", list(root.handlers))  # restored after the test, with the level
    monkeypatch.setattr(root, "level", root.level)
    cli._setup_logging(cli.LogFormat(log_format), cli.LogLevel("WARNING"))
    assert root.level == logging.WARNING
    [handler] = root.handlers
    assert [type(f) for f in handler.filters] == filters  # a text line shows none of the fields it adds


@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "async"])
def test_under_split_each_call_alone_carries_its_message(lines: list[dict[str, Any]], asynchronous: bool):
    def on_batch(messages: list[Message]) -> None:
        logging.getLogger("shop").info("handling %d", len(messages))
        if len(messages) > 1:
            raise ConnectionError("database down")

    async def on_batch_async(messages: list[Message]) -> None:
        on_batch(messages)

    producer = FakeProducer()
    handler = on_batch_async if asynchronous else on_batch
    worker = make_worker(handler, producer, value="string", split_on_error=True)  # type: ignore[arg-type]
    worker.handle(FakeConsumer(producer), [FakeRaw("orders", 2, 10 + i, b"v") for i in range(3)])
    assert [fields(line) for line in lines] == [
        ("handling 3", "orders", "orders", 2, None, "orders[2]@10..12"),
        *(("handling 1", "orders", "orders", 2, 10 + i, None) for i in range(3)),
    ]
