"""Everything that can be checked without a broker, in one pass: parse, validate, import handlers, ask librdkafka.

`zig validate` reports what `check_file` finds; commands that go on to use the config call `load`, which raises
the same findings as one ConfigError.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zig_cli import codecs, config, handlers, kafka, loader
from zig_cli.config import Config
from zig_cli.errors import ConfigError, HandlerImportError, Problem


@dataclass(frozen=True)
class Checked:
    """The outcome of checking a config file; `config` is set only when there are no problems."""

    file: str
    config: Config | None
    problems: tuple[Problem, ...]
    warnings: tuple[Problem, ...]
    handlers: Mapping[str, handlers.Handler] = field(default_factory=dict)  # route name -> handler
    hooks: Mapping[str, Callable[[], Any]] = field(default_factory=dict)  # "start-fn" / "stop-fn" -> function


def check_file(path: Path, environ: Mapping[str, str], import_handlers: bool = True) -> Checked:
    """Every problem of the file; `import_handlers=False` (for `zig send`, which calls none) leaves the handler
    modules alone: importing an application can take longer than sending a message."""
    file = str(path)
    try:
        raw = loader.load(path)
    except ConfigError as error:
        return Checked(file, None, tuple(error.problems), tuple(error.warnings))
    report = config.check(raw, file, environ)
    problems = list(report.problems)
    warnings = list(report.warnings)

    resolved: dict[str, handlers.Handler] = {}
    hooks: dict[str, Callable[[], Any]] = {}
    if import_handlers:
        handlers.add_search_paths([path.parent, Path.cwd()])
        for key_path, spec in report.handler_specs.items():
            try:
                resolved[key_path] = handlers.resolve(spec, stream=key_path in report.stream_handlers)
            except HandlerImportError as error:
                problems.append(Problem(file, key_path, error.message, detail=error.detail))
        for key_path, spec in report.hook_specs.items():
            try:
                hooks[key_path.rsplit(".", 1)[-1]] = handlers.resolve_hook(spec)
            except HandlerImportError as error:
                problems.append(Problem(file, key_path, error.message, detail=error.detail))

    if report.config is not None:
        for route in report.config.routes:
            for key in ("key-deserializer-class-config", "value-deserializer-class-config"):
                try:
                    codecs.decoder(route[key])
                except ValueError as error:
                    problems.append(Problem(file, f"{route.path}.{key}", str(error)))
        refused, notes = kafka.property_problems(report.config)
        problems.extend(refused)
        warnings.extend(notes)
    else:  # zig's own settings have problems: librdkafka still judges the raw properties, in the same pass
        said = {problem.path for problem in problems}  # a property zig has already found fault with is left out
        clients = [
            (path, role, {key: value for key, value in props.items() if f"{path}.{key}" not in said})
            for path, role, props in config.raw_client_properties(raw)
        ]
        problems.extend(kafka.raw_property_problems(file, clients))

    valid = report.config if not problems else None
    by_route = (
        {} if valid is None or not import_handlers else {r.name: resolved[f"{r.path}.handler-fn"] for r in valid.routes}
    )
    return Checked(
        file,
        valid,
        tuple(sorted(problems, key=Problem.sort_key)),
        tuple(sorted(warnings, key=Problem.sort_key)),
        by_route,
        hooks if valid is not None else {},
    )


def load(path: Path, environ: Mapping[str, str], import_handlers: bool = True) -> Checked:
    """check_file, raising ConfigError (with the warnings) when anything is wrong."""
    checked = check_file(path, environ, import_handlers)
    if checked.config is None:
        raise ConfigError(list(checked.problems), list(checked.warnings))
    return checked
