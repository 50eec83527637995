"""Config file <-> plain dict with str keys: EDN (Ziggurat's format) and TOML.

EDN keywords and symbols become strings, Ziggurat's typed values (`[7011 :int]`) become their values, and parse
errors carry the line and column. Nothing here knows which keys are valid; that is config.py's job.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import edn_format
import tomli_w
from edn_format import edn_lex, edn_parse

from zig_cli.errors import ConfigError, Problem

Format = Literal["edn", "toml"]
FORMATS: tuple[Format, ...] = ("edn", "toml")

# Ziggurat's `[value :type]` pairs; the type only told Ziggurat how to coerce environment overrides.
_TYPE_TAGS = {"int", "long", "bool", "keyword", "double", "float", "string", "str"}


def format_of(path: Path) -> Format:
    suffix = path.suffix.lower().lstrip(".")
    for fmt in FORMATS:
        if suffix == fmt:
            return fmt
    raise ConfigError([Problem(str(path), message=f"unknown config format {path.suffix!r}; use .edn or .toml")])


def load(path: Path) -> dict[str, Any]:
    """Read and parse a config file into a plain dict."""
    fmt = format_of(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([Problem(str(path), message="no such file")]) from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError([Problem(str(path), message=f"cannot read: {error}")]) from None
    return loads(text, fmt, str(path))


def loads(text: str, fmt: Format, file: str = "<config>") -> dict[str, Any]:
    """Parse config text; the root must be a map."""
    data = _parse_edn(text, file) if fmt == "edn" else _parse_toml(text, file)
    if not isinstance(data, dict):
        raise ConfigError([Problem(file, line=1, column=1, message="the config must be a map at its root")])
    return data


def _parse_toml(text: str, file: str) -> Any:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        message = str(error)
        found = re.search(r"\s*\(at line (\d+), column (\d+)\)$", message)
        if found:
            line, column = int(found[1]), int(found[2])
            message = message[: found.start()]
        else:  # "(at end of document)"
            message = re.sub(r"\s*\(at end of document\)$", "", message) + " at the end of the file"
            line, column = _end_position(text)
        raise ConfigError([Problem(file, line=line, column=column, message=message)]) from None


def _parse_edn(text: str, file: str) -> Any:
    try:
        forms = edn_parse.parse_all(text)
    except RecursionError:
        raise ConfigError([Problem(file, line=1, column=1, message="the EDN is nested too deeply")]) from None
    # edn_format reports most syntax errors without a position (or with a raw lexer token); find it ourselves.
    except (edn_format.EDNDecodeError, ValueError, NotImplementedError, TypeError, AttributeError) as error:
        line, column, message = _locate_edn_error(text, error)
        raise ConfigError([Problem(file, line=line, column=column, message=message)]) from None
    if len(forms) != 1:
        line, column = _end_position(text) if not forms else (1, 1)
        what = "is empty" if not forms else f"holds {len(forms)} forms; it must hold one map"
        raise ConfigError([Problem(file, line=line, column=column, message=f"the config {what}")])
    return _plain(forms[0], file, "")


def _plain(value: Any, file: str, path: str) -> Any:
    """EDN values -> plain Python: keywords and symbols to str, typed pairs to their value, Decimal to float."""
    if isinstance(value, Mapping):
        result: dict[str, Any] = {}
        for key, item in value.items():
            name = _key_name(key)
            if name is None:
                where = path or "the root map"
                raise ConfigError([Problem(file, path=path, message=f"map key {key!r} in {where} is not a keyword")])
            result[name] = _plain(item, file, f"{path}.{name}" if path else name)
        return result
    if isinstance(value, edn_format.Keyword | edn_format.Symbol):
        return value.name
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, edn_format.Char):
        return str(value)
    if isinstance(value, list | tuple | edn_format.ImmutableList):
        if len(value) == 2 and isinstance(value[1], edn_format.Keyword) and value[1].name in _TYPE_TAGS:
            return _plain(value[0], file, path)
        return [_plain(item, file, f"{path}[{i}]") for i, item in enumerate(value)]
    if isinstance(value, frozenset):
        return [_plain(item, file, path) for item in value]
    return value


def _key_name(key: Any) -> str | None:
    if isinstance(key, edn_format.Keyword | edn_format.Symbol):
        return str(key.name)
    if isinstance(key, str):
        return key
    return None


_OPENERS = {"VECTOR_START": "]", "LIST_START": ")", "MAP_START": "}", "SET_START": "}"}
_CLOSERS = {"VECTOR_END": "]", "LIST_END": ")", "MAP_OR_SET_END": "}"}


def _locate_edn_error(text: str, error: Exception) -> tuple[int, int, str]:
    """Walk the EDN tokens to find where the structure breaks: an unclosed or stray bracket, a map missing a value."""
    lexer = edn_lex.lex()
    lexer.input(text)
    # Each open collection: (its token, closing char, forms counted, forms still to discard).
    stack: list[list[Any]] = []
    last_pos = 0
    tag: Any = None
    try:
        for token in iter(lexer.token, None):
            last_pos = token.lexpos
            if token.type in _OPENERS:
                stack.append([token, _OPENERS[token.type], 0, 0])
                continue
            if token.type in _CLOSERS:
                closer = _CLOSERS[token.type]
                if not stack or stack[-1][1] != closer:
                    expected = f"expected {stack[-1][1]!r}" if stack else "nothing is open"
                    return (*_position(text, token.lexpos), f"unexpected {closer!r} ({expected})")
                opener, _, count, _ = stack.pop()
                if opener.type == "MAP_START" and count % 2:
                    return (*_position(text, opener.lexpos), "this map has a key without a value")
                _count_form(stack)
                continue
            if token.type in ("DISCARD_TAG", "CARET"):
                if stack:
                    stack[-1][3] += 1
                continue
            if token.type in ("TAG", "MAP_NAMESPACE_TAG"):
                tag = tag or token
                continue
            _count_form(stack)
    except edn_format.EDNDecodeError:
        # The lexer met a character it has no token for; it stopped at lexer.lexpos.
        return (*_position(text, lexer.lexpos), f"unexpected character {text[lexer.lexpos]!r}")
    if stack:
        opener = stack[-1][0]
        return (*_position(text, opener.lexpos), f"{opener.value!r} is never closed")
    if tag is not None and isinstance(error, NotImplementedError | ValueError):
        return (*_position(text, tag.lexpos), f"cannot read the tagged value #{tag.value}: zig reads plain EDN data")
    token = error.args[0] if error.args else None
    if token is not None and hasattr(token, "lexpos"):  # the parser's own complaint: a token it did not expect
        return (*_position(text, token.lexpos), f"unexpected {token.value!r}")
    return (*_position(text, last_pos), f"invalid EDN: {error}")


def _count_form(stack: list[list[Any]]) -> None:
    if not stack:
        return
    if stack[-1][3]:
        stack[-1][3] -= 1
    else:
        stack[-1][2] += 1


def _position(text: str, offset: int) -> tuple[int, int]:
    before = text[:offset]
    return before.count("\n") + 1, offset - (before.rfind("\n") + 1) + 1


def _end_position(text: str) -> tuple[int, int]:
    return _position(text, len(text.rstrip()))


# --- writing (zig config convert) ---

_EDN_KEYWORD = re.compile(r"[A-Za-z*+!_?<>=][\w*+!?<>=.\-]*")


def dumps(data: Mapping[str, Any], fmt: Format, file: str = "<config>") -> str:
    """Write a plain config dict as EDN or TOML text that loads back to the same dict."""
    if fmt == "toml":
        missing = _first_none(data, "")
        if missing is not None:
            raise ConfigError([Problem(file, path=missing, message="nil has no TOML equivalent; remove the key")])
        return tomli_w.dumps(dict(data))
    return _edn(data, 0) + "\n"


def _first_none(value: Any, path: str) -> str | None:
    if value is None:
        return path
    items: Any = value.items() if isinstance(value, Mapping) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        found = _first_none(item, f"{path}.{key}" if path else str(key))
        if found is not None:
            return found
    return None


def _edn(value: Any, indent: int) -> str:
    if isinstance(value, Mapping):
        if not value:
            return "{}"
        pad = " " * (indent + 1)
        keys = [_edn_key(k) for k in value]
        width = max(len(k) for k in keys)
        entries = [
            f"{k.ljust(width)} {_edn(v, indent + 1 + width + 1)}" for k, v in zip(keys, value.values(), strict=True)
        ]
        return "{" + ("\n" + pad).join(entries) + "}"
    if isinstance(value, list):
        return "[" + " ".join(_edn(item, indent + 1) for item in value) + "]"
    return str(edn_format.dumps(value))


def _edn_key(key: str) -> str:
    return ":" + key if _EDN_KEYWORD.fullmatch(key) and "/" not in key else str(edn_format.dumps(key))
