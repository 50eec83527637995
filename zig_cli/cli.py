"""The `zig` command: the only module that prints, imports rich, or exits.

Exit codes: 0 ok, 1 runtime failure, 2 usage or config error.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import functools
import json
import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.live import Live
from rich.logging import RichHandler
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

import zig_cli
from zig_cli import access, bulk, defaults, embedded, handlers, kafka, lifecycle, loader, preflight, producer, stats
from zig_cli import config as config_module
from zig_cli.config import Config, Route
from zig_cli.deadset_filter import DeadLetterFilter
from zig_cli.envelope import give_up_ms
from zig_cli.errors import ConfigError, EncodeError, KafkaFatalError, Problem, ProducerError, ZigError
from zig_cli.inhand import InHandFilter

if TYPE_CHECKING:  # loaded by the commands that use them: the runtime (prometheus, HTTP) costs start-up time
    from zig_cli import deadset

EXIT_OK, EXIT_FAILURE, EXIT_CONFIG = 0, 1, 2

app = typer.Typer(
    name="zig",
    help="Run plain Python handler functions as Kafka workers from one config file.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,  # locals may hold passwords
    context_settings={"help_option_names": ["-h", "--help"]},  # subcommands inherit it
)
config_app = typer.Typer(help="Inspect and convert config files.", no_args_is_help=True)
app.add_typer(config_app, name="config")
dead_set_app = typer.Typer(help="View, replay or delete a route's dead letters.", no_args_is_help=True)
app.add_typer(dead_set_app, name="dead-set")

# Not on a terminal (a pipe, a file, CI), a table is as wide as its content: folded at 80 columns it would break words
# in the middle. COLUMNS still decides when set.
WIDE = 1_000
out = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() or os.environ.get("COLUMNS") else WIDE)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def _print_version(asked: bool) -> None:
    if asked:
        out.print(f"zig-cli {zig_cli.__version__}")
        raise typer.Exit(EXIT_OK)


@app.callback()
def _options(
    version: Annotated[
        bool, typer.Option("--version", callback=_print_version, is_eager=True, help="Print zig's version and exit.")
    ] = False,
) -> None:
    pass


class OutputFormat(StrEnum):
    text = "text"
    json = "json"


class TableFormat(StrEnum):
    text = "text"
    markdown = "markdown"
    json = "json"


P = ParamSpec("P")
R = TypeVar("R")


def reports_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Turn zig's own errors into clear lines and exit codes; anything else is a bug and keeps its traceback."""

    @functools.wraps(command)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except ConfigError as error:
            _print_problems(error.warnings)
            _print_problems(error.problems)
            raise typer.Exit(EXIT_CONFIG) from None
        except ZigError as error:
            err.print(f"[red]{escape(str(error))}[/red]")
            raise typer.Exit(EXIT_FAILURE) from None

    return run


ConfigArg = Annotated[
    Path, typer.Argument(help="The config file (.edn or .toml).", show_default=False, metavar="CONFIG")
]


def _print_problems(problems: tuple[Problem, ...] | list[Problem], console: Console = err) -> None:
    for problem in problems:
        prefix = "warning: " if problem.severity == "warning" else ""
        style = "yellow" if problem.severity == "warning" else "red"
        console.print(f"[{style}]{escape(prefix + str(problem))}[/{style}]")
        if problem.detail:
            console.print(escape(problem.detail), style="dim")


def _is_secret(route: Route, key: str) -> bool:
    """A zig setting that is secret, or a key passed to a librdkafka property that is."""
    value = route.values.get(key)
    return route.is_secret(key) or (value is not None and bool(value.passed) and kafka.is_secret(value.passed))


def _shown(route: Route, key: str, value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in kafka.mask(value).items()) or "{}"
    if _is_secret(route, key):
        return kafka.MASK
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _where_failures_go(route: Route) -> str:
    retry = route.retry
    if not retry.enabled:
        return f"retry is disabled: messages to retry go to dead-letter topic {route['dead-letter-topic']!r} at once"
    return (
        f"messages to retry go to {route['retry-topic']!r} ({retry.type} backoff of {retry.backoff_ms} ms, "
        f"up to {retry.count} times), then to dead-letter topic {route['dead-letter-topic']!r} (it gives up after "
        f"about {_duration(give_up_ms(retry))})"
    )


def _duration(ms: int) -> str:
    """A span for people: 0 ms, 800 ms, 3 s, 1.5 s, 12 min, 2.5 h, 4 days."""
    seconds = ms / 1000
    for unit, size in (("days", 86_400), ("h", 3_600), ("min", 60), ("s", 1)):
        if seconds >= size * (2 if unit != "s" else 1):
            return f"{round(seconds / size, 1):g} {unit}"
    return f"{ms} ms"


def _handling(route: Route, handler: handlers.Handler) -> dict[str, Any]:
    """How a route calls its handler: its kind, how many calls at once, in what order, and the timeout when set."""
    handling: dict[str, Any] = {
        "kind": "async" if handlers.is_async(handler) else "sync",
        "concurrency": route["concurrency"],
        "ordering": route["ordering"],
    }
    if route["handler-timeout-ms"]:
        handling["handler-timeout-ms"] = route["handler-timeout-ms"]
    if route.kind == "batch" and route["on-handler-error"] != "retry-batch":
        handling["on-handler-error"] = route["on-handler-error"]
    return handling


def _how_handled(route: Route, handler: handlers.Handler) -> str:
    handling = _handling(route, handler)
    count = handling["concurrency"]
    units = ("sub-batch", "sub-batches") if route.kind == "batch" else ("message", "messages")
    text = (
        f"{handling['kind']} handler: up to {count} {units[count != 1]} at once per consumer thread, "
        f"ordering {handling['ordering']!r}"
    )
    if "handler-timeout-ms" in handling:
        text += f", handler-timeout-ms {handling['handler-timeout-ms']}"
    if "on-handler-error" in handling:
        text += f", on-handler-error {handling['on-handler-error']}"
    return text


def _summary_tables(config: Config, by_route: Mapping[str, handlers.Handler]) -> None:
    security = kafka.security_properties(config)
    for route in config.routes:
        table = Table(title=f"{route.kind} route {route.name!r}  ({route.path})", title_justify="left")
        table.add_column("setting", overflow="fold")
        table.add_column("value", overflow="fold")
        table.add_column("origin")
        for key, value in sorted(route.values.items()):
            origin_style = {"env": "cyan", "file": "green", "derived": "magenta"}.get(value.origin, "dim")
            passed = f", passed to librdkafka as {value.passed}" if value.passed else ""
            table.add_row(key, escape(_shown(route, key, value.value)), f"[{origin_style}]{value.origin}[/]{passed}")
        out.print(table)
        out.print(f"  {escape(_how_handled(route, by_route[route.name]))}")
        out.print(f"  {escape(_where_failures_go(route))}")
    if security:
        out.print("security (every client): " + escape(", ".join(f"{k}={v}" for k, v in kafka.mask(security).items())))
        for line in kafka.security_explained(config):
            out.print(f"  {escape(line)}")
    hooks = _hooks(config)
    if hooks:
        named = ", ".join(f"{key} {spec!r}" for key, spec in hooks.items())
        out.print(f"lifecycle: {escape(named)} (start-fn once before anything starts, stop-fn once after the workers)")


def _hooks(config: Config) -> dict[str, str]:
    return {key: str(config.setting(key)) for key in lifecycle.HOOKS if key in config.operations}


def _problem_json(problem: Problem) -> dict[str, Any]:
    return {
        "file": problem.file,
        "path": problem.path,
        "line": problem.line,
        "column": problem.column,
        "message": problem.message,
        "detail": problem.detail,
        "text": str(problem),
    }


def _route_json(route: Route, handler: handlers.Handler) -> dict[str, Any]:
    return {
        "kind": route.kind,
        "name": route.name,
        "path": route.path,
        "handler": _handling(route, handler),
        "settings": {k: _setting_json(route, k, v) for k, v in route.values.items()},
        "failures": _where_failures_go(route),
        "gives_up_after_ms": give_up_ms(route.retry),
    }


def _setting_json(route: Route, key: str, value: config_module.Value) -> dict[str, Any]:
    shown: dict[str, Any] = {"value": _json_value(route, key, value.value), "origin": value.origin}
    if value.passed:
        shown["librdkafka"] = value.passed  # a key that is no zig setting, passed on as this property
    return shown


def _json_value(route: Route, key: str, value: Any) -> Any:
    if isinstance(value, dict):
        return kafka.mask(value)
    if _is_secret(route, key):
        return kafka.MASK
    return value


@app.command()
@reports_errors
def validate(
    config: ConfigArg,
    output: Annotated[OutputFormat, typer.Option("--format", help="text for people, json for machines.")] = (
        OutputFormat.text
    ),
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="Only the problems and warnings, and one summary line (text format).")
    ] = False,
) -> None:
    """Check a config without a broker: syntax, every setting, env overrides, and every handler import."""
    checked = preflight.check_file(config, os.environ)
    if output is OutputFormat.json:
        routes = checked.config.routes if checked.config else ()
        document: dict[str, Any] = {
            "file": checked.file,
            "valid": checked.config is not None,
            "problems": [_problem_json(p) for p in checked.problems],
            "warnings": [_problem_json(p) for p in checked.warnings],
            "routes": [_route_json(r, checked.handlers[r.name]) for r in routes],
            "hooks": _hooks(checked.config) if checked.config else {},
        }
        if checked.config is not None:
            document["security"] = {
                "properties": kafka.mask(kafka.security_properties(checked.config)),
                "explained": list(kafka.security_explained(checked.config)),
            }
        out.print_json(json.dumps(document))
    else:
        _print_problems(checked.warnings)
        if checked.config is None:
            _print_problems(checked.problems)
            count = len(checked.problems)
            err.print(f"[red]{escape(checked.file)}: {count} problem{'s' if count != 1 else ''}[/red]")
        else:
            if not quiet:
                _summary_tables(checked.config, checked.handlers)
            out.print(f"[green]{escape(checked.file)}: valid, {len(checked.config.routes)} route(s)[/green]")
    raise typer.Exit(EXIT_OK if checked.config is not None else EXIT_CONFIG)


@config_app.command("defaults")
def show_defaults(
    output: Annotated[TableFormat, typer.Option("--format", help="text, markdown (as in the README) or json.")] = (
        TableFormat.text
    ),
) -> None:
    """Print the table of every setting zig understands, with its default."""
    sections = list(defaults.documented_sections())
    if output is TableFormat.markdown:
        out.print(defaults.markdown_table(), markup=False, end="")
        return
    if output is TableFormat.json:
        out.print_json(
            json.dumps(
                {
                    path or "root": [
                        {
                            "key": s.key,
                            "aliases": list(s.aliases),
                            "type": defaults.type_text(s).replace("\\|", "|"),
                            "default": s.default,
                            "mandatory": s.mandatory,
                            "librdkafka": s.kafka,
                            "description": s.description,
                        }
                        for s in section.settings
                    ]
                    for path, section in sections
                }
            )
        )
        return
    for path, section in sections:
        table = Table(title=f"{section.title}" + (f"  {path}" if path else ""), title_justify="left")
        for column in ("key", "type", "default", "mandatory", "librdkafka", "description"):
            table.add_column(column)
        for s in section.settings:
            table.add_row(
                s.key,
                defaults.type_text(s).replace("\\|", "|"),
                defaults.default_text(s),
                "yes" if s.mandatory else "",
                s.kafka or "zig",
                s.description,
            )
        out.print(table, markup=False)


@config_app.command("convert")
@reports_errors
def convert(
    file: ConfigArg,
    to: Annotated[loader.Format, typer.Option("--to", help="Target format: toml or edn.", show_default=False)],
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write here instead of stdout.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite --output if it exists.")] = False,
) -> None:
    """Write an equivalent config in the other format."""
    text = loader.dumps(loader.load(file), to, str(file))
    if output is None:
        out.print(text, markup=False, end="")
        return
    if output.exists() and not force:
        err.print(f"[red]{escape(str(output))} exists; pass --force to overwrite it[/red]")
        raise typer.Exit(EXIT_CONFIG)
    output.write_text(text, encoding="utf-8")
    err.print(f"wrote {escape(str(output))}")


class LogFormat(StrEnum):
    text = "text"
    json = "json"


class LogLevel(StrEnum):
    DEBUG = "DEBUG"
    INFO = "INFO"
    WARNING = "WARNING"
    ERROR = "ERROR"


# The context a log call gives with extra= that becomes fields of its JSON line: where (route, topic, partition,
# offset, or a handler's batch), a dead letter's reason (whole: its message has it on one line) and, in the periodic
# summary, a route's counters.
LOG_CONTEXT = (*InHandFilter.FIELDS, "reason", *stats.COLUMNS)


class JsonLines(logging.Formatter):
    """One JSON object per line; the context given with extra= (LOG_CONTEXT) as fields of their own."""

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        entry: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": message,
        }
        given = record.__dict__
        entry.update({name: given[name] for name in LOG_CONTEXT if given.get(name) is not None})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry)


def _setup_logging(log_format: LogFormat, level: LogLevel = LogLevel.INFO) -> None:
    handler: logging.Handler
    if log_format is LogFormat.json:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonLines())
        handler.addFilter(InHandFilter())  # a handler's own records: the route and messages of its call
    elif err.is_terminal:
        handler = RichHandler(console=err, show_path=False, rich_tracebacks=False)
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level.value)


def _stats_table(route_stats: dict[str, stats.RouteStats]) -> Table:
    table = Table(title="zig run", title_justify="left")
    table.add_column("route")
    for column in stats.COLUMNS:
        table.add_column(column.replace("_", " "), justify="right")
    for name, one in route_stats.items():
        snapshot = one.snapshot()
        table.add_row(
            name,
            *(
                f"{getattr(snapshot, c):.1f}" if c == "last_batch_ms" else str(getattr(snapshot, c))
                for c in stats.COLUMNS
            ),
        )
    return table


def _log_stats(route_stats: dict[str, stats.RouteStats]) -> None:
    for name, route_stats_one in route_stats.items():
        snapshot = route_stats_one.snapshot()
        fields = " ".join(
            f"{c}={getattr(snapshot, c):.1f}" if c == "last_batch_ms" else f"{c}={getattr(snapshot, c)}"
            for c in stats.COLUMNS
        )
        context = {"route": name} | {c: getattr(snapshot, c) for c in stats.COLUMNS}
        logging.getLogger("zig_cli.run").info("route=%s %s", name, fields, extra=context)


def _abort(code: int) -> None:
    """Leave at once, without waiting for threads stuck in a handler or in librdkafka."""
    embedded.kill_all()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


@app.command()
@reports_errors
def run(
    config: ConfigArg,
    route: Annotated[list[str] | None, typer.Option("--route", help="Run only this route (repeatable).")] = None,
    log_format: Annotated[
        LogFormat | None,
        typer.Option("--log-format", help="text, or json lines for log shippers (default: the config's)."),
    ] = None,
    log_level: Annotated[
        LogLevel, typer.Option("--log-level", case_sensitive=False, help="The least severe lines logged.")
    ] = LogLevel.INFO,
    graceful_timeout: Annotated[
        float, typer.Option("--graceful-timeout", help="Seconds to finish the batches in hand after a stop signal.")
    ] = 30.0,
    stats_interval: Annotated[
        float, typer.Option("--stats-interval", help="Seconds between summary lines when not on a terminal.")
    ] = 10.0,
    embedded_broker: Annotated[
        bool,
        typer.Option("--embedded-broker", help="Start a local broker (the broker extra) and point every route at it."),
    ] = False,
) -> None:
    """Consume every route's topic and call its handler; offsets commit only after outcomes are applied."""
    graceful_timeout = _seconds(graceful_timeout, GRACEFUL_TIMEOUT_S, "--graceful-timeout")
    stats_interval = _seconds(stats_interval, STATS_INTERVAL_S, "--stats-interval")
    checked = preflight.load(config, os.environ)
    assert checked.config is not None
    _setup_logging(log_format or LogFormat(checked.config.setting("log-format")), log_level)
    for warning in checked.warnings:
        logging.getLogger("zig_cli.config").warning("%s", warning)
    with contextlib.ExitStack() as stack:
        zig_config = checked.config
        if embedded_broker:
            zig_config = _start_embedded_broker(stack, zig_config, route or ())
        hooks = lifecycle.from_config(zig_config, checked.hooks)
        _run(zig_config, checked.handlers, route or (), graceful_timeout, stats_interval, hooks)


def _start_embedded_broker(stack: contextlib.ExitStack, zig_config: Config, routes: Sequence[str]) -> Config:
    port = embedded.DEFAULT_PORT if embedded.port_is_free(embedded.DEFAULT_PORT) else embedded.free_port()
    address = stack.enter_context(embedded.running_broker(port))
    err.print(f"embedded broker listening on [bold]{address}[/bold] (stopped when zig exits)")
    commands = embedded.send_commands(zig_config, routes, address) if port != embedded.DEFAULT_PORT else []
    if commands:  # the README's `zig send` reaches whatever has 9092
        err.print(f"port {embedded.DEFAULT_PORT} is taken; send to this broker with:")
        for command in commands:
            err.print(f"  {escape(command)}")
    zig_config = config_module.with_bootstrap_servers(zig_config, address)
    origins = sorted({r["origin-topic"] for r in zig_config.routes if not routes or r.name in routes})
    plain = [t for t in origins if kafka.is_plain_topic(t)]
    kafka.create_topics({"bootstrap.servers": address}, plain, EMBEDDED_PARTITIONS, 30)
    return zig_config


def _run(
    zig_config: Config,
    handlers: Any,
    routes: Sequence[str],
    graceful_timeout: float,
    stats_interval: float,
    hooks: lifecycle.Lifecycle,
) -> None:
    from zig_cli import runner

    zig_runner = runner.Runner(
        zig_config, handlers, routes, graceful_timeout_s=graceful_timeout * GRACEFUL_SHARE, lifecycle=hooks
    )
    runner.handle_signals(zig_runner.stop, abort=lambda: _abort(130))
    try:
        zig_runner.start()
    except Exception:
        zig_runner.stop.set()
        zig_runner.wait(graceful_timeout)
        zig_runner.close(graceful_timeout)
        hooks.finish(sys.exc_info()[1])  # a start-fn that returned has its stop-fn called
        raise
    stopping_since: float | None = None
    last_stats = time.monotonic()
    live = Live(_stats_table(zig_runner.stats), console=out, refresh_per_second=2) if out.is_terminal else None
    with live or contextlib.nullcontext():
        while not zig_runner.wait(0.5):
            if live is not None:
                live.update(_stats_table(zig_runner.stats))
            elif time.monotonic() - last_stats >= stats_interval:
                _log_stats(zig_runner.stats)
                last_stats = time.monotonic()
            if zig_runner.stop.is_set():
                stopping_since = stopping_since or time.monotonic()
                if time.monotonic() - stopping_since > graceful_timeout:
                    err.print(
                        f"[red]workers did not stop within {graceful_timeout:g} s; exiting without "
                        "committing the batches in hand[/red]"
                    )
                    _abort(EXIT_FAILURE)
        if live is not None:
            live.update(_stats_table(zig_runner.stats))
    zig_runner.close(graceful_timeout)
    if live is None:
        _log_stats(zig_runner.stats)
    failure = hooks.finish(zig_runner.failure)
    if failure is not None:
        if isinstance(failure, ZigError):
            raise failure
        err.print(f"[red]a worker failed: {escape(repr(failure))}[/red]")
        raise typer.Exit(EXIT_FAILURE)


class _LastError(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.message = ""

    def emit(self, record: logging.LogRecord) -> None:
        self.message = record.getMessage().split("]: ", 1)[-1]

    def __str__(self) -> str:
        return f" (last broker error: {self.message})" if self.message else ""


def _config_path(option: Path | None) -> Path:
    """--config, else $ZIG_CONFIG, else ./config.edn; a usage error saying what was tried when it is not there
    (./config.edn only when $ZIG_CONFIG is not set)."""
    if option is not None:
        return option
    named = os.environ.get("ZIG_CONFIG")
    path = Path(named or "config.edn")
    if not path.exists():
        raise typer.BadParameter(
            f"no config file: -c/--config not given, and $ZIG_CONFIG names {named!r}, which does not exist "
            "(./config.edn is read only when $ZIG_CONFIG is not set)"
            if named
            else "no config file: looked for -c/--config (not given), $ZIG_CONFIG (not set) and ./config.edn "
            "(no such file)",
            param_hint="--config",
        )
    return path


def _parse_headers(pairs: list[str]) -> list[tuple[str, str | bytes | None]]:
    headers: list[tuple[str, str | bytes | None]] = []
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise typer.BadParameter(f"{pair!r}: write headers as name=value", param_hint="--header")
        try:
            headers.append(producer.encode_header(name, value))
        except EncodeError as error:
            raise typer.BadParameter(str(error), param_hint="--header") from None
    return headers


# librdkafka's message.timeout.ms is at most 2^31 - 1 ms; 0 would mean no timeout at all.
SEND_TIMEOUT_S = (0.001, 2_147_483)
# zig run's own waits: a day is longer than any sensible one, and far from what the clock's arithmetic overflows.
GRACEFUL_TIMEOUT_S = (0.0, 86_400)
# The share of --graceful-timeout workers wait for the handler calls in hand, so they still commit what those allow
# before the CLI gives up on them.
GRACEFUL_SHARE = 0.8
EMBEDDED_PARTITIONS = 4  # topics created on a broker of zig's own: enough to see partitions handled side by side
STATS_INTERVAL_S = (0.1, 86_400)


def _seconds(seconds: float, bounds: tuple[float, float], option: str) -> float:
    """A duration option within its bounds; a usage error otherwise (nan included: it compares false with all)."""
    low, high = bounds
    if not low <= seconds <= high:
        raise typer.BadParameter(f"must be from {low:g} to {high} seconds, got {seconds:g}", param_hint=option)
    return seconds


def _cli_value(text: str, serializer: str, what: str) -> Any:
    """A key or value from the command line: text (its bytes as given, for a bytes serializer), or parsed JSON for a
    json serializer. Bytes that are not UTF-8 reach Python as lone surrogates, which only `bytes` can write."""
    if serializer == "bytes":
        return text.encode("utf-8", "surrogateescape")
    if serializer != "json":
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise typer.BadParameter(
                f"{what} is not UTF-8 text, which this producer's {serializer} serializer needs", param_hint=what
            ) from None
        return text
    try:
        return json.loads(text)
    except ValueError:
        raise typer.BadParameter(
            f"{text!r} is not JSON, which this producer's json serializer needs", param_hint=what
        ) from None


@app.command()
@reports_errors
def send(
    route: Annotated[
        str, typer.Argument(help="The route whose :producer block sends.", show_default=False, metavar="ROUTE")
    ],
    topic: Annotated[str, typer.Argument(help="The topic to write to.", show_default=False, metavar="TOPIC")],
    message: Annotated[
        list[str] | None,
        typer.Argument(help="KEY VALUE, or PARTITION KEY VALUE.", show_default=False, metavar="[PARTITION] KEY VALUE"),
    ] = None,
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="Config file (default: $ZIG_CONFIG, else ./config.edn).")
    ] = None,
    header: Annotated[
        list[str] | None, typer.Option("--header", "-H", help="A header name=value (repeatable).")
    ] = None,
    file: Annotated[
        str | None, typer.Option("--file", "-f", help="Send one message per line of this file (- for stdin).")
    ] = None,
    timeout: Annotated[
        float,
        typer.Option("--timeout", help=f"Seconds to wait for delivery ({SEND_TIMEOUT_S[0]:g} to {SEND_TIMEOUT_S[1]})."),
    ] = 30.0,
) -> None:
    """Publish through a route's producer: `zig send default test-topic key value`, or with a partition."""
    args = message or []
    partition = _partition(args, file)
    timeout = _seconds(timeout, SEND_TIMEOUT_S, "--timeout")
    headers = _parse_headers(header or [])
    checked = preflight.load(_config_path(config), os.environ, import_handlers=False)
    # librdkafka's own complaints (connection refused, ...) explain a failed delivery; keep the last one for it.
    last_broker_error = _LastError()
    librdkafka = logging.getLogger("zig_cli.librdkafka")
    librdkafka.addHandler(last_broker_error)
    librdkafka.propagate = False
    assert checked.config is not None
    # credentials or a certificate refused, or no bootstrap server answering: said at once, not after the timeout
    refusal = access.Refusal(unreachable=True)
    overrides: dict[str, Any] = {"message.timeout.ms": str(max(1, int(timeout * 1000))), "error_cb": refusal.on_error}
    bulk_result = bulk.BulkResult()
    if file is not None:  # bulk counts failures only; see bulk.send_lines
        overrides |= {"delivery.report.only.error": True, "on_delivery": bulk_result.delivery_report}
    producers = producer.Producers(checked.config, overrides, background=False)  # this thread serves reports
    try:
        try:
            route_producer = producers.get(route)
        except ProducerError as error:  # no such route, or no :producer in it: the command line names the wrong one
            raise typer.BadParameter(str(error), param_hint="ROUTE") from None
        chosen = checked.config.route(route)
        check_refusal = functools.partial(refusal.check, kafka.producer_properties(checked.config, chosen))
        if file is None:
            key = _cli_value(args[-2], chosen["producer.key-serializer-class"], "KEY")
            value = _cli_value(args[-1], chosen["producer.value-serializer-class"], "VALUE")
            future = route_producer.send(topic, key, value, partition=partition, headers=headers)
            where = _delivered(route_producer, future, timeout, last_broker_error, check_refusal)
            out.print(f"delivered to {where[0]} partition {where[1]} offset {where[2]}")
            return
        json_values = chosen["producer.value-serializer-class"] == "json"
        _send_file(route_producer, topic, file, json_values, headers, timeout, bulk_result, check_refusal)
    finally:
        producers.close(0 if refusal.refused else timeout)  # a refused message will never be delivered


# How long each wait for the one message of `zig send` lasts before checking whether its brokers refused zig.
DELIVERY_POLL_S = 0.1


def _partition(args: list[str], file: str | None) -> int | None:
    """The PARTITION of `zig send [PARTITION] KEY VALUE`, if given; usage errors for arguments that do not fit."""
    if file is None and len(args) not in (2, 3):
        raise typer.BadParameter("give KEY VALUE, or PARTITION KEY VALUE (or --file)", param_hint="message")
    if file is not None and args:
        raise typer.BadParameter("give either --file or KEY VALUE, not both", param_hint="message")
    if len(args) != 3:
        return None
    try:
        partition = int(args[0])
    except ValueError:
        raise typer.BadParameter(f"{args[0]!r} is not a partition number", param_hint="PARTITION") from None
    problem = kafka.partition_problem(partition)
    if problem:
        raise typer.BadParameter(problem, param_hint="PARTITION")
    return partition


def _delivered(
    route_producer: producer.RouteProducer,
    future: concurrent.futures.Future[tuple[str, int, int]],
    timeout: float,
    last_broker_error: _LastError,
    check_refusal: Callable[[], None],
) -> tuple[str, int, int]:
    """Where the one message sent went, once its delivery report is served; KafkaFatalError with librdkafka's last
    complaint otherwise, or at once when the brokers refuse the credentials or zig cannot trust their certificate."""
    deadline = time.monotonic() + timeout + 10
    while not future.done() and time.monotonic() < deadline:
        route_producer.flush(DELIVERY_POLL_S)  # serves the delivery report, which settles the future, and error_cb
        check_refusal()
    try:
        return future.result(0)
    except concurrent.futures.TimeoutError:
        raise KafkaFatalError(f"no delivery report within {timeout:g} s{last_broker_error}") from None
    except KafkaFatalError as error:
        raise KafkaFatalError(f"{error}{last_broker_error}") from None


def _send_file(
    route_producer: producer.RouteProducer,
    topic: str,
    file: str,
    json_values: bool,
    headers: list[tuple[str, str | bytes | None]],
    timeout: float,
    result: bulk.BulkResult,
    check_refusal: Callable[[], None],
) -> None:
    try:
        stream = sys.stdin.buffer if file == "-" else open(file, "rb")  # noqa: SIM115  # bytes: see zig_cli.bulk
    except OSError as error:
        raise typer.BadParameter(f"cannot read {file!r}: {error.strerror}", param_hint="--file") from None
    with stream, contextlib.ExitStack() as stack:
        progress_update: Callable[[int], None] = lambda queued: None  # noqa: E731
        if err.is_terminal:
            progress = stack.enter_context(
                Progress(
                    TextColumn("{task.description}"),
                    BarColumn(bar_width=None),
                    TimeElapsedColumn(),
                    console=err,
                    transient=True,
                )
            )
            task = progress.add_task("sending", total=None)
            started = time.perf_counter()

            def progress_update(queued: int) -> None:
                rate = queued / max(time.perf_counter() - started, 1e-9)
                progress.update(task, description=f"{queued:,} queued, {rate:,.0f} msg/s")

        bulk.send_lines(
            route_producer, topic, stream, json_values, headers, timeout, progress_update, result, check_refusal
        )
    check_refusal()  # one line for the cause, rather than every message timing out
    blank = f", {result.blank:,} blank line(s) skipped" if result.blank else ""
    out.print(f"sent {result.sent:,}, failed {result.failed:,}, {result.rate:,.0f} msgs/s{blank}")
    if result.failed:
        for number, reason in result.failures[:10]:
            where = f"line {number}" if number else "delivery"
            err.print(f"[red]{escape(where)}: {escape(reason)}[/red]")
        raise typer.Exit(EXIT_FAILURE)


@app.command()
@reports_errors
def broker(
    port: Annotated[int, typer.Option("--port", help="Port on 127.0.0.1 to listen on.")] = embedded.DEFAULT_PORT,
    config: Annotated[
        Path | None,
        typer.Option("--config", "-c", help="Create this config's topics on the broker.", show_default=False),
    ] = None,
) -> None:
    """Run a local Kafka-compatible broker (tansu, in memory) in the foreground; Ctrl+C stops it."""
    from zig_cli import runner

    # Only the topics are needed: a broker may be started where the handlers' code is not importable.
    checked = preflight.load(config, os.environ, import_handlers=False) if config is not None else None
    log_format = checked.config.setting("log-format") if checked is not None and checked.config else "text"
    _setup_logging(LogFormat(log_format))  # as zig run's: creating topics logs what it does and what it waits for
    stop = threading.Event()
    runner.handle_signals(stop, abort=lambda: _abort(130))
    with embedded.running_broker(port) as address:
        out.print(f"broker listening on [bold]{address}[/bold]; Ctrl+C stops it")
        if checked is not None and checked.config is not None:
            created = config_topics(checked.config)
            kafka.create_topics({"bootstrap.servers": address}, created, EMBEDDED_PARTITIONS, 30, stop)
            out.print(f"created the topics of {escape(str(config))}: {escape(', '.join(created))}")
        while not stop.wait(0.5):
            pass
    out.print("broker stopped")


def config_topics(config: Config) -> list[str]:
    """The topics a config's routes read and write, to create on a broker of one's own: each origin topic (not a
    pattern), retry topic (when retry is on) and dead-letter topic."""
    topics: set[str] = set()
    for route in config.routes:
        if kafka.is_plain_topic(route["origin-topic"]):
            topics.add(route["origin-topic"])
        topics.add(route["dead-letter-topic"])
        if route.retry.enabled:
            topics.add(route["retry-topic"])
    return sorted(topics)


RouteArg = Annotated[
    str, typer.Argument(help="The route whose dead letters to use.", show_default=False, metavar="ROUTE")
]
CountOption = Annotated[int, typer.Option("--count", "-n", help="How many dead letters (a positive integer).")]
FormatOption = Annotated[OutputFormat, typer.Option("--format", help="text for people, json for machines.")]
KeyOption = Annotated[str | None, typer.Option("--key", help="Only dead letters with this key.", show_default=False)]
PartitionOption = Annotated[
    int | None,
    typer.Option("--partition", min=0, help="Only this partition of the dead-letter topic.", show_default=False),
]
ErrorOption = Annotated[
    str | None, typer.Option("--error", help="Only dead letters whose error contains this text.", show_default=False)
]
DryRunOption = Annotated[bool, typer.Option("--dry-run", help="Print what would move, and move nothing.")]
# How much of a value the dead-set table shows.
VALUE_SHOWN = 40


def _dead_set(config: Path, route: str, count: int) -> tuple[deadset.DeadSet, int]:
    from zig_cli import deadset

    checked = preflight.load(config, os.environ)
    assert checked.config is not None
    try:
        return deadset.DeadSet(checked.config, route), deadset.parse_count(str(count), minimum=1)
    except deadset.DeadSetError as error:
        raise typer.BadParameter(str(error)) from None


def _dead_set_call(action: Callable[[], R]) -> R:
    from zig_cli import deadset

    try:
        return action()
    except deadset.DeadSetError as error:
        if error.status == 400:  # what was asked cannot be: a partition the topic does not have
            raise typer.BadParameter(str(error)) from None
        raise ZigError(str(error)) from None


def _shortened(text: str | None) -> str:
    if text is None:
        return ""
    return text if len(text) <= VALUE_SHOWN else text[: VALUE_SHOWN - 1] + "…"


def _letters_table(title: str, letters: list[deadset.DeadLetter]) -> Table:
    table = Table(title=title, title_justify="left")
    for column in ("partition", "offset", "key", "value", "retry count", "reason", "age"):
        table.add_column(column, overflow="fold")
    for letter in letters:
        shown = letter.as_dict()
        age = f"{shown['age_s']:.0f} s" if shown["age_s"] is not None else ""
        table.add_row(
            str(letter.partition),
            str(letter.offset),
            escape(repr(shown["key"])),
            escape(_shortened(shown["value"])),
            str(letter.origin.retry_count),
            escape(letter.error),
            age,
        )
    return table


@dead_set_app.command("view")
@reports_errors
def dead_set_view(
    config: ConfigArg,
    route: RouteArg,
    count: CountOption = 10,
    output: FormatOption = OutputFormat.text,
    key: KeyOption = None,
    partition: PartitionOption = None,
    error: ErrorOption = None,
) -> None:
    """Show the first dead letters (value shortened, and the reason) without removing them."""
    dead_set, number = _dead_set(config, route, count)
    letters = _dead_set_call(lambda: dead_set.view(number, DeadLetterFilter(key, partition, error)))
    if output is OutputFormat.json:
        out.print_json(json.dumps({"messages": [letter.as_dict() for letter in letters]}))
        return
    out.print(_letters_table(f"dead letters of route {route!r} ({dead_set.topic})", letters))
    out.print(f"{len(letters)} dead letter(s) shown")


def _dry_run(dead_set: deadset.DeadSet, number: int, only: DeadLetterFilter, action: str) -> None:
    scan = _dead_set_call(lambda: dead_set.scan(number, only))
    out.print(_letters_table(f"dead letters of route {dead_set.route.name!r} ({dead_set.topic})", scan.letters))
    kept = ""
    if scan.passed_over and only.by_content:
        kept = f"; {scan.passed_over} passed over would be written back to the end of the dead set"
    out.print(f"dry run: would {action} {len(scan.letters)} dead letter(s) ({only}){kept}; nothing moved")


@dead_set_app.command("replay")
@reports_errors
def dead_set_replay(
    config: ConfigArg,
    route: RouteArg,
    count: CountOption = 10,
    key: KeyOption = None,
    partition: PartitionOption = None,
    error: ErrorOption = None,
    dry_run: DryRunOption = False,
) -> None:
    """Move dead letters back to be handled again (to the retry topic, or the origin topic when retry is off)."""
    dead_set, number = _dead_set(config, route, count)
    only = DeadLetterFilter(key, partition, error)
    if dry_run:
        _dry_run(dead_set, number, only, f"replay to {dead_set.destination!r}")
        return
    moved = _dead_set_call(lambda: dead_set.replay(number, only=only))
    out.print(f"replayed {moved} dead letter(s) of route {route!r}")


def _can_ask() -> bool:
    """Whether a question can be answered: someone is at the terminal zig reads from."""
    return sys.stdin.isatty()


@dead_set_app.command("delete")
@reports_errors
def dead_set_delete(
    config: ConfigArg,
    route: RouteArg,
    count: CountOption = 10,
    key: KeyOption = None,
    partition: PartitionOption = None,
    error: ErrorOption = None,
    dry_run: DryRunOption = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask (needed when not on a terminal).")] = False,
) -> None:
    """Discard dead letters for good (asks first on a terminal)."""
    if not (yes or dry_run or _can_ask()):
        raise typer.BadParameter("deleting for good needs --yes when zig cannot ask (not on a terminal)")
    dead_set, number = _dead_set(config, route, count)
    only = DeadLetterFilter(key, partition, error)
    if dry_run:
        _dry_run(dead_set, number, only, "delete")
        return
    if not yes:
        typer.confirm(f"delete up to {number} dead letter(s) of route {route!r} ({only}) for good?", abort=True)
    deleted = _dead_set_call(lambda: dead_set.delete(number, only))
    out.print(f"deleted {deleted} dead letter(s) of route {route!r}")


def main() -> None:
    app()
