"""Whatever text or data comes in, the loader and validator answer with a config or a ConfigError, nothing else."""

from __future__ import annotations

from typing import Any

from helpers import batch_route, flat_config
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from zig_cli import config, defaults, loader
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
