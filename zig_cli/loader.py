"""Config file <-> plain dict with str keys: EDN (Ziggurat's format) and TOML.

EDN keywords and symbols become strings, Ziggurat's typed values (`[7011 :int]`) become their values, and parse
errors carry the line and column. Nothing here knows which keys are valid; that is config.py's job.
"""

from __future__ import annotations

import re
import sys
import tomllib
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import edn_format
import tomli_w
from edn_format import edn_lex, edn_parse
from edn_format.edn_lex import MetadataValue

from zig_cli.errors import ConfigError, Problem, shortened

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
        data = tomllib.loads(text)
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
    except RecursionError:
        raise ConfigError([Problem(file, message=_TOO_DEEP)]) from None
    except ValueError:  # tomllib lets int()'s refusal of a number past Python's digit limit through
        long_number = re.search(rf"\w{{{sys.get_int_max_str_digits() + 1},}}", text)
        where = _position(text, long_number.start()) if long_number else (None, None)
        raise ConfigError([Problem(file, line=where[0], column=where[1], message=_too_long())]) from None
    _check_toml_values(data, file)
    return data


# No config needs more; a limit well inside Python's recursion limit keeps every later walk of the data safe.
MAX_DEPTH = 100
_TOO_DEEP = f"maps and lists are nested more than {MAX_DEPTH} levels deep"


def _too_long() -> str:
    return f"an integer with more than {sys.get_int_max_str_digits()} digits, the most zig reads"


def _too_long_to_show(value: Any) -> bool:
    """True for an int Python refuses to turn into text (a hex, octal or binary literal can hold one)."""
    if not isinstance(value, int) or value.bit_length() <= 3000:  # fewer than 1000 digits: the quick answer
        return False
    limit = sys.get_int_max_str_digits()
    return limit > 0 and abs(value) >= 10**limit


def _check_toml_values(data: Any, file: str) -> None:
    """Refuse what tomllib reads but nothing after it could walk or print: deep nesting, unprintable integers."""
    stack: list[tuple[Any, str, int]] = [(data, "", 1)]
    while stack:
        value, path, depth = stack.pop()
        if _too_long_to_show(value):
            raise ConfigError([Problem(file, path=path, message=_too_long())])
        items = value.items() if isinstance(value, Mapping) else enumerate(value) if isinstance(value, list) else None
        if items is None:
            continue
        if depth > MAX_DEPTH:
            raise ConfigError([Problem(file, message=_TOO_DEEP)])
        children = [(item, _child_path(path, key), depth + 1) for key, item in items]
        stack.extend(reversed(children))  # popped in the file's order, so the first problem is reported


def _child_path(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def _parse_edn(text: str, file: str) -> Any:
    scan = _EdnScan(text)
    if scan.problem is not None:
        offset, path, message = scan.problem
        line, column = _position(text, offset)
        raise ConfigError([Problem(file, path=path, line=line, column=column, message=message)])
    try:
        forms = edn_parse.parse_all(text)
    except RecursionError:  # hashing a set of deeply nested maps recurses even within the depth limit
        raise ConfigError([Problem(file, line=1, column=1, message="the EDN is nested too deeply")]) from None
    # edn_format reports most errors without a position (or with a raw lexer token); the scan found the rest.
    except (
        edn_format.EDNDecodeError,
        ValueError,
        ArithmeticError,
        NotImplementedError,
        TypeError,
        AttributeError,
    ) as error:
        line, column, message = _explain_edn_error(text, scan, error)
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
    if isinstance(value, MetadataValue):  # ^{...} annotates a value without being part of it
        return _plain(value.value, file, path)
    if isinstance(value, str):  # a Char too
        return _joined(str(value))
    if isinstance(value, Decimal):
        return float(value)
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
        return _joined(str(key))
    return None


_OPENERS = {"VECTOR_START": "]", "LIST_START": ")", "MAP_START": "}", "SET_START": "}"}
_CLOSERS = {"VECTOR_END": "]", "LIST_END": ")", "MAP_OR_SET_END": "}"}
_SURROGATES = re.compile(r"[\ud800-\udfff]")


def _joined(text: str) -> str:
    """Text with escaped UTF-16 surrogate pairs (how Clojure writes characters past U+FFFF) made characters."""
    if not _SURROGATES.search(text):
        return text
    return text.encode("utf-16", "surrogatepass").decode("utf-16")


def _lone_surrogate(text: str) -> bool:
    try:
        _joined(text)
    except UnicodeDecodeError:
        return True
    return False


class _Collection:
    """An open collection while scanning: what it has read so far."""

    def __init__(self, token: Any, label: str, ignored: bool) -> None:
        self.token = token
        self.closer = _OPENERS[token.type]
        self.is_map = token.type == "MAP_START"
        self.label = label  # its key path, as _plain names it
        self.ignored = ignored  # inside a discarded form: edn_format reads it and throws it away
        self.forms = 0
        self.discard = 0  # forms still to discard (#_ and ^metadata)
        self.tagged = False  # the next form carries a #tag
        self.key = ""  # the last key read, which names the next value
        self.keys: dict[str, int] = {}  # key name -> offset of its first occurrence

    def child_label(self) -> str:
        if self.is_map:
            return f"{self.label}.{self.key}" if self.label else self.key
        if self.token.type in ("VECTOR_START", "LIST_START"):
            return f"{self.label}[{self.forms}]"
        return self.label


class _EdnScan:
    """Walk the EDN tokens once, before parsing: edn_format keeps the last of two equal map keys, recurses without
    limit and reports most errors without a position, so structure, nesting and keys are checked here.

    `problem` is (offset, key path, message) of the first problem found; `tag` the first #tag token.
    """

    def __init__(self, text: str) -> None:
        self.text = text
        self.problem: tuple[int, str, str] | None = None
        self.tag: Any = None
        self.last_pos = 0
        self._scan()

    def _scan(self) -> None:
        lexer = edn_lex.lex()
        lexer.input(self.text)
        stack: list[_Collection] = []
        tokens = iter(lexer.token, None)
        while self.problem is None:
            try:
                token = next(tokens)
            except StopIteration:
                break
            except edn_format.EDNDecodeError:  # a character the lexer has no token for; it stopped at lexpos
                self._fail(lexer.lexpos, f"unexpected character {self.text[lexer.lexpos]!r}")
                return
            except (ValueError, ArithmeticError) as error:  # a token the lexer matched but could not convert
                self._fail(lexer.lexmatch.start(), _unreadable(lexer.lexmatch.group(), error))
                return
            self.last_pos = token.lexpos
            self._token(token, stack)
        if self.problem is None and stack:
            self._fail(stack[-1].token.lexpos, f"{stack[-1].token.value!r} is never closed")

    def _fail(self, offset: int, message: str, path: str = "") -> None:
        self.problem = (offset, path, message)

    def _token(self, token: Any, stack: list[_Collection]) -> None:
        parent = stack[-1] if stack else None
        if token.type in _OPENERS:
            if len(stack) >= MAX_DEPTH:
                self._fail(token.lexpos, _TOO_DEEP)
                return
            label = parent.child_label() if parent else ""
            ignored = parent is not None and (parent.ignored or parent.discard > 0)
            stack.append(_Collection(token, label, ignored))
        elif token.type in _CLOSERS:
            closer = _CLOSERS[token.type]
            if parent is None or parent.closer != closer:
                expected = f"expected {parent.closer!r}" if parent else "nothing is open"
                self._fail(token.lexpos, f"unexpected {closer!r} ({expected})")
                return
            stack.pop()
            if parent.is_map and parent.forms % 2:
                self._fail(parent.token.lexpos, "this map has a key without a value")
                return
            if stack:
                self._form(stack[-1], None)
        elif token.type in ("DISCARD_TAG", "CARET"):
            if parent:
                parent.discard += 1
        elif token.type in ("TAG", "MAP_NAMESPACE_TAG"):
            self.tag = self.tag or token
            if parent:
                parent.tagged = True
        else:
            if _too_long_to_show(token.value):
                self._fail(token.lexpos, _too_long())
                return
            if isinstance(token.value, str) and _lone_surrogate(token.value):
                self._fail(
                    token.lexpos, "a string holds an escaped surrogate (\\ud800-\\udfff) that is not half of a pair"
                )
                return
            if parent:
                self._form(parent, token)

    def _form(self, collection: _Collection, token: Any) -> None:
        """Count one complete form read inside `collection`; `token` is the form when it is a single token."""
        tagged, collection.tagged = collection.tagged, False
        if collection.discard:
            collection.discard -= 1
            return
        if collection.is_map and collection.forms % 2 == 0:
            name = _key_name(token.value) if token is not None and not tagged else None
            collection.key = name if name is not None else "?"
            if name is not None and not collection.ignored:
                first = collection.keys.setdefault(name, token.lexpos)
                if first != token.lexpos:
                    line, column = _position(self.text, first)
                    path = f"{collection.label}.{name}" if collection.label else name
                    self._fail(token.lexpos, f"set twice in the same map (first at line {line}, column {column})", path)
        collection.forms += 1


def _unreadable(token: str, error: Exception) -> str:
    if isinstance(error, UnicodeDecodeError):  # the string's text is not shown: it may be a password
        return f"a string with an invalid escape: {error.reason}"
    if "integer string conversion" in str(error):
        return _too_long()
    return f"cannot read the number {shortened(token, 40)}"


def _explain_edn_error(text: str, scan: _EdnScan, error: Exception) -> tuple[int, int, str]:
    """Where and why edn_format refused text whose tokens and structure the scan found sound."""
    if scan.tag is not None and isinstance(error, NotImplementedError | ValueError):
        return (
            *_position(text, scan.tag.lexpos),
            f"cannot read the tagged value #{scan.tag.value}: zig reads plain EDN data",
        )
    token = error.args[0] if error.args else None
    if token is not None and hasattr(token, "lexpos"):  # the parser's own complaint: a token it did not expect
        return (*_position(text, token.lexpos), f"unexpected {token.value!r}")
    return (*_position(text, scan.last_pos), f"invalid EDN: {error}")


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
    try:
        return tomli_w.dumps(dict(data)) if fmt == "toml" else _edn(data, 0) + "\n"
    except (TypeError, ValueError, NotImplementedError):
        # A value one format has and the other has not (an EDN ratio or uuid, a TOML time of day): find which.
        path, value, error = _first_unwritable(data, fmt)
        # The value itself is not shown: a uuid may well be a credential.
        message = f"a {type(value).__name__} value cannot be written as {fmt.upper()} ({error})"
        raise ConfigError([Problem(file, path=path, message=message)]) from None


def _first_unwritable(data: Mapping[str, Any], fmt: Format) -> tuple[str, Any, str]:
    """The first value that the format's writer refuses on its own: its path, the value and the writer's reason."""
    stack: list[tuple[Any, str]] = [(data, "")]
    while stack:
        value, path = stack.pop()
        if isinstance(value, Mapping | list):
            items = value.items() if isinstance(value, Mapping) else enumerate(value)
            stack.extend(reversed([(item, _child_path(path, key)) for key, item in items]))
            continue
        try:
            tomli_w.dumps({"value": value}) if fmt == "toml" else edn_format.dumps(value)
        except (TypeError, ValueError, NotImplementedError) as error:
            return path, value, str(error)
    return "", data, "the writer refused it"


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
