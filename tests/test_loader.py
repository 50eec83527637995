"""loader: EDN and TOML to plain dicts, parse errors with line and column, and writing back."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import SAMPLES

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


HOSTILE: list[tuple[str, str, loader.Format, str]] = [
    (
        "10,000 nested vectors in EDN",
        "{:a " + "[" * 10_000 + "]" * 10_000 + "}",
        "edn",
        "f:1:104: maps and lists are nested more than 100 levels deep",
    ),
    (
        "10,000 unclosed vectors in EDN",
        "[" * 10_000,
        "edn",
        "f:1:101: maps and lists are nested more than 100 levels deep",
    ),
    (
        "10,000 nested arrays in TOML",
        "a = " + "[" * 10_000 + "]" * 10_000,
        "toml",
        "f: maps and lists are nested more than 100 levels deep",
    ),
    (
        "120 nested arrays in TOML",
        "a = " + "[" * 120 + "]" * 120,
        "toml",
        "f: maps and lists are nested more than 100 levels deep",
    ),
    (
        "a 5,000-digit integer in EDN",
        "{:a " + "9" * 5000 + "}",
        "edn",
        "f:1:5: an integer with more than 4300 digits, the most zig reads",
    ),
    (
        "a 5,000-digit integer in TOML",
        "a = " + "9" * 5000,
        "toml",
        "f:1:5: an integer with more than 4300 digits, the most zig reads",
    ),
    (
        "a 5,000-digit hex integer in EDN",
        "{:a 0x" + "f" * 5000 + "}",
        "edn",
        "f:1:5: an integer with more than 4300 digits, the most zig reads",
    ),
    (
        "a 5,000-digit hex integer in TOML",
        "[x]\nb = [1, 0x" + "f" * 5000 + "]",
        "toml",
        "f: x.b[1]: an integer with more than 4300 digits, the most zig reads",
    ),
    (
        "an exponent of 5,000 digits",
        "{:a 1e" + "9" * 5000 + "}",
        "edn",
        "f:1:5: an integer with more than 4300 digits, the most zig reads",
    ),
    ("a bad \\u escape", '{:a "\\uZZZZ"}', "edn", "f:1:5: a string with an invalid escape: truncated \\uXXXX escape"),
    (
        "an unknown \\N name",
        '{:a "x\\N{nope}"}',
        "edn",
        "f:1:5: a string with an invalid escape: unknown Unicode character name",
    ),
    (
        "an escaped surrogate",
        '{:a "\\ud800"}',
        "edn",
        "f:1:5: a string holds an escaped surrogate (\\ud800-\\udfff) that is not half of a pair",
    ),
    ("a ratio over zero", "{:a 1/0}", "edn", "f:1:5: cannot read the number 1/0"),
    (
        "a decimal past its exponent range",
        "{:a 1e99999999999999999999M}",
        "edn",
        "f:1:5: cannot read the number 1e99999999999999999999M",
    ),
    ("duplicate keys", "{:a 1 :b 2\n :a 3}", "edn", "f:2:2: a: set twice in the same map (first at line 1, column 2)"),
    (
        "duplicate keys spelled as keyword and string",
        '{:r {:x 1 "x" 2}}',
        "edn",
        "f:1:11: r.x: set twice in the same map (first at line 1, column 6)",
    ),
    (
        "duplicate keys inside a vector",
        "{:a [{:k 1 :k 2}]}",
        "edn",
        "f:1:12: a[0].k: set twice in the same map (first at line 1, column 7)",
    ),
]


@pytest.mark.parametrize(("text", "fmt", "expected"), [c[1:] for c in HOSTILE], ids=[c[0] for c in HOSTILE])
def test_hostile_text_is_one_located_problem(text: str, fmt: loader.Format, expected: str):
    with pytest.raises(ConfigError) as caught:
        loader.loads(text, fmt, "f")
    assert [str(p) for p in caught.value.problems] == [expected]


def test_keys_of_discarded_forms_may_repeat():
    assert loader.loads("{:a #_{:k 1 :k 2} 1 :b ^{:m 1 :m 2} [2]}", "edn")["a"] == 1


def test_an_escaped_surrogate_pair_reads_as_its_character():
    assert loader.loads('{:a "\\ud83d\\ude00" "\\ud83d\\ude00" \\u00e9}', "edn") == {
        "a": "\U0001f600",
        "\U0001f600": "é",
    }


@pytest.mark.parametrize(
    ("text", "fmt", "target", "expected"),
    [
        (
            "{:a {:b 1/2}}",
            "edn",
            "toml",
            "f: a.b: a Fraction value cannot be written as TOML (Object of type 'Fraction' is not TOML serializable)",
        ),
        (
            '{:a [#uuid "00000000-0000-0000-0000-000000000000"]}',
            "edn",
            "toml",
            "f: a[0]: a UUID value cannot be written as TOML (Object of type 'UUID' is not TOML serializable)",
        ),
        (
            "a = 07:32:00",
            "toml",
            "edn",
            "f: a: a time value cannot be written as EDN (encountered object "
            "of type '<class 'datetime.time'>' for which no known encoding is available: datetime.time(7, 32))",
        ),
        (
            "a = 1979-05-27T07:32:00",
            "toml",
            "edn",
            "f: a: a datetime value cannot be written as EDN (naive datetime and accept_naive is False)",
        ),
    ],
)
def test_a_value_the_other_format_lacks_is_named(text: str, fmt: loader.Format, target: loader.Format, expected: str):
    with pytest.raises(ConfigError) as caught:
        loader.dumps(loader.loads(text, fmt), target, "f")
    assert [str(p) for p in caught.value.problems] == [expected]
