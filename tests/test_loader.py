"""loader: EDN and TOML to plain dicts, parse errors with line and column, and writing back."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import SAMPLES

from zig_cli import config, loader
from zig_cli.errors import ConfigError


def test_ziggurat_typed_values_read_as_their_values():
    text = "{:a [7011 :int] :b [true :bool] :c [:dev :keyword] :d [1.5 :double] :e :latest :f sym/x :g 2.5M}"
    assert loader.loads(text, "edn") == {
        "a": 7011,
        "b": True,
        "c": "dev",
        "d": 1.5,
        "e": "latest",
        "f": "sym/x",
        "g": 2.5,
    }


def test_plain_vectors_stay_lists():
    assert loader.loads("{:a [1 2] :b [1 :other]}", "edn") == {"a": [1, 2], "b": [1, "other"]}


@pytest.mark.parametrize(
    ("text", "fmt", "expected"),
    [
        ('{:app-name "x"\n :batch-routes }', "edn", "f:1:1: this map has a key without a value"),
        ('{:app-name "x"\n :batch-routes {:a [1 2}}', "edn", "f:2:24: unexpected '}' (expected ']')"),
        ('{:app-name "x"\n :retry {:count 1}', "edn", "f:1:1: '{' is never closed"),
        ('{:app-name "x"}\n}', "edn", "f:2:1: unexpected '}' (nothing is open)"),
        ('{:app-name "x}', "edn", "f:1:12: unexpected character '\"'"),
        ("{:a #foo 1}", "edn", "f:1:5: cannot read the tagged value #foo: zig reads plain EDN data"),
        ("", "edn", "f:1:1: the config is empty"),
        ("{:a 1} {:b 2}", "edn", "f:1:1: the config holds 2 forms; it must hold one map"),
        ("[1 2]", "edn", "f:1:1: the config must be a map at its root"),
        ('app-name = "x"\n[retry\ncount = 1\n', "toml", "f:2:7: Expected ']' at the end of a table declaration"),
        ('app-name = "x"\napp-name = "y"\n', "toml", "f:2:15: Cannot overwrite a value"),
        ("app-name = ", "toml", "f:1:11: Invalid value at the end of the file"),
    ],
)
def test_parse_errors_carry_line_and_column(text: str, fmt: loader.Format, expected: str):
    with pytest.raises(ConfigError) as caught:
        loader.loads(text, fmt, "f")
    assert [str(p) for p in caught.value.problems] == [expected]


def test_non_keyword_map_key_is_an_error_with_its_path():
    with pytest.raises(ConfigError) as caught:
        loader.loads("{:batch-routes {1 {}}}", "edn", "f")
    assert str(caught.value.problems[0]) == "f: batch-routes: map key 1 in batch-routes is not a keyword"


def test_unknown_extension_and_missing_file(tmp_path: Path):
    with pytest.raises(ConfigError, match=r"unknown config format '\.yaml'; use \.edn or \.toml"):
        loader.load(tmp_path / "config.yaml")
    with pytest.raises(ConfigError, match="no such file"):
        loader.load(tmp_path / "config.edn")


@pytest.mark.parametrize("sample", sorted(SAMPLES.glob("*.edn")) + sorted(SAMPLES.glob("*.toml")), ids=lambda p: p.name)
@pytest.mark.parametrize("target", loader.FORMATS)
def test_convert_round_trip_loads_to_the_same_validated_config(sample: Path, target: loader.Format, tmp_path: Path):
    original = loader.load(sample)
    converted = tmp_path / f"converted.{target}"
    converted.write_text(loader.dumps(original, target), encoding="utf-8")
    again = loader.load(converted)
    assert again == original
    before = config.validate(original, "c", {})
    after = config.validate(again, "c", {})
    assert before.routes == after.routes
    assert before.security == after.security


def test_toml_cannot_hold_nil():
    with pytest.raises(ConfigError) as caught:
        loader.dumps({"app-name": None}, "toml", "f")
    assert str(caught.value.problems[0]) == "f: app-name: nil has no TOML equivalent; remove the key"
