"""Whatever text or data comes in, the loader and validator answer with a config or a ConfigError, nothing else."""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path
from typing import Any

from helpers import batch_route, flat_config
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from zig_cli import config, defaults, loader
from zig_cli.cli import app
from zig_cli.errors import ConfigError

KNOWN_KEYS = sorted(
    {s.key for _, section in defaults.documented_sections() for s in section.settings}
    | set(defaults.ROOT.children)
    | set(defaults.UNSUPPORTED_SECTIONS)
    | {"ziggurat", "stream-routes", "producer", "jaas", "orders"}
)
keys = st.one_of(st.sampled_from(KNOWN_KEYS), st.text(max_size=12))
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True),
    st.text(max_size=20),
    st.sampled_from(["latest", "earliest", "bytes", "json", "protobuf:a.B", "all", "linear", "x/y", "a.b:c"]),
)
data = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(keys, inner, max_size=6)),
    max_leaves=40,
)
env = st.dictionaries(
    st.sampled_from(
        [
            "ZIGGURAT_APP_NAME",
            "ZIGGURAT_BATCH_ROUTES_ORDERS_THREAD_COUNT",
            "ZIGGURAT_RETRY_ENABLED",
            "ZIGGURAT_SSL_ENABLED",
            "ZIGGURAT_X",
        ]
    ),
    st.text(max_size=8),
    max_size=3,
)
edn_fragments = st.lists(
    st.sampled_from(
        [
            "{",
            "}",
            "[",
            "]",
            "(",
            ")",
            "#{",
            "#_",
            "#inst",
            "#foo",
            "^",
            ":a",
            ":b",
            "1",
            "1.5M",
            '"s"',
            "\\c",
            "nil",
            "true",
            ";c\n",
            " ",
            "\n",
            "sym/x",
            "[1 :int]",
            "#uuid",
            "1/2",
            "0x1F",
        ]
    ),
    max_size=30,
).map("".join)

DEADLINE = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _outcome(run: Any) -> None:
    try:
        result = run()
    except ConfigError as error:
        assert error.problems, "a ConfigError always says what is wrong"
        return
    assert isinstance(result, dict | config.Config)


@DEADLINE
@given(st.one_of(st.text(), edn_fragments))
def test_any_text_loads_as_edn_or_fails_with_config_error(text: str):
    _outcome(lambda: loader.loads(text, "edn", "f.edn"))


@DEADLINE
@given(st.text())
def test_any_text_loads_as_toml_or_fails_with_config_error(text: str):
    _outcome(lambda: loader.loads(text, "toml", "f.toml"))


@DEADLINE
@given(st.dictionaries(keys, data, max_size=6), env)
def test_any_nested_data_validates_or_fails_with_config_error(raw: dict[str, Any], environ: dict[str, str]):
    _outcome(lambda: config.validate(raw, "f.edn", environ))


@DEADLINE
@given(st.dictionaries(keys, data, max_size=4), env)
def test_any_route_content_validates_or_fails_with_config_error(extra: dict[str, Any], environ: dict[str, str]):
    raw = flat_config(**{"batch-routes": {"orders": {**batch_route(), **extra}}})
    _outcome(lambda: config.validate(raw, "f.edn", environ))
    _outcome(lambda: config.validate({"ziggurat": raw}, "f.edn", environ))


# --- the command on hostile text: `zig validate` and `zig config convert` answer with lines, never a traceback ---

EDN_SCALARS = [
    "9" * 5000,
    "0x" + "f" * 5000,
    '"\\uZZZZ"',
    '"\\ud800"',
    '"\\ud83d\\ude00"',
    "1/0",
    "1/2",
    "1e99999999999999999999M",
    "1.5M",
    "nil",
    "true",
    ":latest",
    '"x"',
    '"a\\nb"',
    "42",
    "-1",
    str(10**29),
    "##NaN",
    "##Inf",
    "[1 :int]",
    '#inst "2020-01-01T00:00:00Z"',
    '#uuid "00000000-0000-0000-0000-000000000000"',
    "#foo 1",
    "\\c",
    "\\uD800",
    "sym/x",
    '"x/y"',
    "#{1 2}",
    "^:m [1]",
    "#_ 1 2",
]
TOML_SCALARS = [
    "9" * 5000,
    "0x" + "f" * 5000,
    '"\\uZZZZ"',
    '"\\ud800"',
    '"\\U0001F600"',
    "nan",
    "inf",
    "-0",
    "1979-05-27T07:32:00",
    "1979-05-27T07:32:00Z",
    "07:32:00",
    "1979-05-27",
    '"x"',
    "'lit'",
    "true",
    "42",
    "1e999",
    str(10**29),
    '"a\\nb"',
]
# No handler-fn: every route lacks its mandatory handler, so no generated config is valid (and nothing is imported).
CLI_KEYS = st.one_of(
    st.sampled_from([k for k in KNOWN_KEYS if k not in ("handler-fn", "ziggurat")]), st.text(max_size=8)
)
Node = tuple[str, Any]
trees: st.SearchStrategy[Node] = st.recursive(
    st.integers(0, len(TOML_SCALARS) - 1).map(lambda i: ("scalar", i)),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3).map(lambda items: ("list", items)),
        st.lists(st.tuples(CLI_KEYS, inner), max_size=4).map(lambda pairs: ("map", pairs)),
    ),
    max_leaves=12,
)
nested = st.tuples(st.sampled_from([0, 0, 0, 1, 99, 101, 2000]), trees)
documents = st.lists(st.tuples(CLI_KEYS, nested), max_size=5)


def _edn_key(key: str) -> str:
    return ":" + key if re.fullmatch(r"[A-Za-z][\w\-.]*", key) else json.dumps(key)


def _edn(node: Node) -> str:
    kind, body = node
    if kind == "scalar":
        return EDN_SCALARS[body % len(EDN_SCALARS)]
    if kind == "list":
        return "[" + " ".join(_edn(item) for item in body) + "]"
    return "{" + " ".join(f"{_edn_key(k)} {_edn(v)}" for k, v in body) + "}"


def _toml_key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else json.dumps(key)


def _toml(node: Node) -> str:
    kind, body = node
    if kind == "scalar":
        return TOML_SCALARS[body]
    if kind == "list":
        return "[" + ", ".join(_toml(item) for item in body) + "]"
    return "{" + ", ".join(f"{_toml_key(k)} = {_toml(v)}" for k, v in body) + "}"


def _render(document: list[tuple[str, tuple[int, Node]]], fmt: loader.Format) -> str:
    def value(depth: int, node: Node) -> str:
        text = _edn(node) if fmt == "edn" else _toml(node)
        return "[" * depth + text + "]" * depth

    if fmt == "edn":
        return "{" + "\n ".join(f"{_edn_key(k)} {value(d, n)}" for k, (d, n) in document) + "}\n"
    return "".join(f"{_toml_key(k)} = {value(d, n)}\n" for k, (d, n) in document)


def _no_traceback(result: Any) -> None:
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.stdout + result.stderr


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents, st.sampled_from(loader.FORMATS))
def test_zig_validate_and_convert_answer_hostile_text_with_one_line_per_problem(
    document: list[tuple[str, tuple[int, Node]]], fmt: loader.Format
):
    runner = CliRunner()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"config.{fmt}"
        path.write_text(_render(document, fmt), encoding="utf-8")

        as_json = runner.invoke(app, ["validate", str(path), "--format", "json"])
        _no_traceback(as_json)
        assert as_json.exit_code == 2
        report = json.loads(as_json.stdout)
        assert report["valid"] is False and report["problems"]

        as_text = runner.invoke(app, ["validate", str(path)])
        _no_traceback(as_text)
        assert as_text.exit_code == 2
        count = len(report["problems"])
        assert as_text.stderr.splitlines() == [
            *(f"warning: {w['text']}" for w in report["warnings"]),
            *(p["text"] for p in report["problems"]),
            f"{path}: {count} problem{'s' if count != 1 else ''}",
        ]

        target = "toml" if fmt == "edn" else "edn"
        converted = runner.invoke(app, ["config", "convert", str(path), "--to", target])
        _no_traceback(converted)
        assert converted.exit_code in (0, 2)
