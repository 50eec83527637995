"""Check one map of a config file against its section of the settings table.

Each piece has one job: `check_value` judges one value (pure), `Environment` finds the ZIGGURAT_* variable that
overrides a setting, and `SectionCheck` goes through one map's keys, overrides and defaults. What they find is
collected in `Findings`; no piece raises for what a file says.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from zig_cli import defaults, librdkafka
from zig_cli.defaults import Section, Setting
from zig_cli.errors import Problem, shortened
from zig_cli.model import Value

MASKED = "'***'"  # a secret's value, whatever is wrong with it

# Java client properties with no librdkafka meaning that Ziggurat users put among raw properties, and the zig key
# each is translated to (never passed to librdkafka).
JAVA_ONLY: Mapping[str, str] = {
    "max.poll.records": "max-poll-records",
    "default.api.timeout.ms": "default-api-timeout-ms",
    "key.deserializer": "key-deserializer-class-config",
    "value.deserializer": "value-deserializer-class-config",
    "key.serializer": "key-serializer-class",
    "value.serializer": "value-serializer-class",
}

_TYPE_NAMES = {str: "string", int: "integer", bool: "boolean", float: "number", list: "list", dict: "map"}
_EXPECTED = {
    "str": "a string",
    "int": "an integer",
    "bool": "a boolean (true or false)",
    "float": "a number",
    "choice": "a string",
    "deserializer": "a string",
    "serializer": "a string",
    "properties": "a map",
}


class Findings:
    """The problems and warnings found in one config file, in the order they were found."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.problems: list[Problem] = []
        self.warnings: list[Problem] = []

    def error(self, path: str, message: str) -> None:
        self.problems.append(Problem(self.file, path=path, message=message))

    def warn(self, path: str, message: str) -> None:
        self.warnings.append(Problem(self.file, path=path, message=message, severity="warning"))


def join(path: str, key: str) -> str:
    """A key path one level down: "" and "retry" give "retry"."""
    return f"{path}.{key}" if path else key


# --- how wrong values are shown ---


def describe(raw: Any) -> str:
    """A wrong value as an error message shows it. A list or map is shown by its size only: whatever it holds,
    a password among it included, was not where it belongs."""
    if raw is None:
        return "nil"
    if isinstance(raw, Mapping):
        return f"a map of {_count(len(raw), 'key')}"
    if isinstance(raw, list | tuple | set | frozenset):
        return f"a list of {_count(len(raw), 'item')}"
    if isinstance(raw, int) and not isinstance(raw, bool) and raw.bit_length() > 200:
        return _integer(raw)
    type_name = _TYPE_NAMES.get(type(raw), type(raw).__name__)
    return f"{shortened(repr(raw), 60)} ({type_name})"


def quoted(text: str) -> str:
    """The user's text quoted, cut short when long: a hostile config may hold megabytes."""
    return repr(text) if len(text) <= 60 else f"{text[:54]!r}... ({len(text)} characters)"


def holds_secrets(section: Section) -> bool:
    """True when a section, or one it holds, has a secret setting: a wrong value in its place is not shown."""
    return any(setting.secret for held in defaults.sections(section) for setting in held.settings)


def _kind_only(raw: Any) -> str:
    """What a raw librdkafka property value is, never what it says: which names are secret is librdkafka's matter."""
    if raw is None or isinstance(raw, Mapping | list | tuple):
        return describe(raw)
    name = _TYPE_NAMES.get(type(raw), type(raw).__name__)
    return f"{'an' if name[0] in 'aeiou' else 'a'} {name}"


def _integer(number: int) -> str:
    """An integer as text, or its length when it is too long to read (or for Python to print)."""
    if number.bit_length() <= 200:
        return str(number)
    return f"an integer of {int(math.log10(abs(number))) + 1} digits"


def _count(number: int, thing: str) -> str:
    return f"{number} {thing}" + ("" if number == 1 else "s")


# --- one value ---


@dataclass(frozen=True)
class Bad:
    """Why a value cannot be used, as its problem line says it."""

    message: str


def check_value(setting: Setting, raw: Any) -> Any:
    """The effective value of `raw` for `setting`, or Bad saying why it has none."""
    # A secret's value is never shown, whatever is wrong with it.
    shown = MASKED if setting.secret else describe(raw)
    kind = setting.kind
    if kind == "int":
        if not isinstance(raw, int) or isinstance(raw, bool):
            return Bad(f"expected an integer, got {shown}")
        number = MASKED if setting.secret else _integer(raw)
        if setting.minimum is not None and raw < setting.minimum:
            return Bad(f"must be at least {setting.minimum}, got {number}")
        if setting.maximum is not None and raw > setting.maximum:
            return Bad(f"must be at most {setting.maximum}, got {number}")
        return raw
    if kind == "bool":
        return raw if isinstance(raw, bool) else Bad(f"expected a boolean (true or false), got {shown}")
    if kind == "float":
        if not isinstance(raw, int | float) or isinstance(raw, bool):
            return Bad(f"expected a number, got {shown}")
        return float(raw)
    if kind == "properties":
        return _properties(raw)
    if kind == "choice" and isinstance(raw, int) and not isinstance(raw, bool):
        raw = str(raw)  # acks may be written as a number
    if not isinstance(raw, str):
        return Bad(f"expected {_EXPECTED[kind]}, got {shown}")
    if setting.mandatory and not raw.strip():
        return Bad("must not be empty")
    if kind == "choice" and raw not in setting.choices:
        options = ", ".join(repr(c) for c in setting.choices)
        return Bad(f"must be one of {options}, got {MASKED if setting.secret else quoted(raw)}")
    if kind == "deserializer":
        return _codec(raw, defaults.DESERIALIZERS, allow_protobuf=True)
    if kind == "serializer":
        return _codec(raw, defaults.SERIALIZERS, allow_protobuf=False)
    return raw


def coerce_text(setting: Setting, text: str, source: str) -> Any:
    """Text (an env variable, a raw property) as the setting's type, or Bad saying `source` does not coerce."""
    shown = MASKED if setting.secret else quoted(text)
    if setting.kind == "int":
        try:
            return int(text.strip())
        except ValueError:
            return Bad(f"{source}={shown}: expected an integer")
    if setting.kind == "float":
        try:
            return float(text.strip())
        except ValueError:
            return Bad(f"{source}={shown}: expected a number")
    if setting.kind == "bool":
        lowered = text.strip().lower()
        if lowered in ("true", "1", "yes", "on"):
            return True
        if lowered in ("false", "0", "no", "off"):
            return False
        return Bad(f"{source}={shown}: expected true or false")
    return text


def _codec(raw: str, known: Mapping[str, str], allow_protobuf: bool) -> Any:
    if raw in known:
        return known[raw]
    if allow_protobuf and raw.startswith(defaults.PROTOBUF_PREFIX):
        target = raw[len(defaults.PROTOBUF_PREFIX) :]
        if re.fullmatch(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)+", target):
            return raw
        return Bad(f"{raw!r}: after 'protobuf:' name the generated message class, e.g. 'protobuf:app.pb2.Order'")
    options = ", ".join(repr(k) for k in known if "." not in k)
    protobuf = " or 'protobuf:<message class>'" if allow_protobuf else ""
    if _is_java_class(raw):
        mapped = "; ".join(f"{java.rsplit('.', 1)[-1]} is {name!r}" for java, name in known.items() if "." in java)
        return Bad(
            f"{quoted(raw)} is a Java class zig has no codec for (zig maps {mapped}); use 'bytes' and convert in "
            f"the handler, or {options}{protobuf}"
        )
    return Bad(f"unknown {raw!r}; use {options}{protobuf} (or the Java class names Ziggurat used)")


def _is_java_class(name: str) -> bool:
    """A Kafka serde, deserializer or serializer class name, as Ziggurat configs give them."""
    return name.startswith("org.apache.kafka.") or "$" in name or name.endswith(("Serde", "Deserializer", "Serializer"))


def _properties(raw: Any) -> Any:
    if not isinstance(raw, Mapping):
        return Bad(f"expected a map of librdkafka properties, got {_kind_only(raw)}")
    props: dict[str, str] = {}
    for name, item in raw.items():
        if isinstance(item, str | int | float):
            props[str(name)] = librdkafka.text(item)
        else:
            return Bad(f"{name!r}: expected a string, number or boolean, got {_kind_only(item)}")
    return props


# --- the environment ---


def env_name(*parts: str) -> str:
    """Ziggurat's environment variable for a key path: ZIGGURAT_ + parts joined by _, upper case, - to _."""
    return defaults.ENV_PREFIX + "_".join(parts).upper().replace("-", "_").replace(".", "_")


def route_env_name(route_path: str, key: str) -> str:
    """The variable that overrides a route's setting: its key path, without the root form's :ziggurat."""
    return env_name(route_path.removeprefix("ziggurat."), key)


class Environment:
    """The ZIGGURAT_* variables, and the name of every variable that would have overridden a setting."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        # The flat form's stream-routes spelling names the same variables as stream-router.
        alias = env_name("stream-routes", "")
        self.values = {
            k.replace(alias, env_name("stream-router", ""), 1): v
            for k, v in environ.items()
            if k.startswith(defaults.ENV_PREFIX)
        }
        self.known: set[str] = set()

    def override(self, setting: Setting, env_parts: tuple[str, ...]) -> tuple[str, str | None]:
        """The variable that overrides `setting` at `env_parts`, and its value if it is set. Raw properties have
        none: librdkafka names cannot be spelled as variables."""
        name = env_name(*env_parts, setting.key)
        if setting.kind == "properties":
            return name, None
        self.known.add(name)
        return name, self.values.get(name)

    def properties(self, env_parts: tuple[str, ...], held: Mapping[str, Section]) -> list[tuple[str, str, str]]:
        """(variable, kebab-case key, value) of each variable under `env_parts` that no setting claimed and whose
        rest names a librdkafka property, as a kebab-case key of the file would: ZIGGURAT_SASL_SASL_OAUTHBEARER_
        CLIENT_SECRET is :sasl's sasl-oauthbearer-client-secret. Variables under a `held` section are that section's.
        """
        prefix = env_name(*env_parts, "")
        inner = tuple(env_name(key, "").removeprefix(defaults.ENV_PREFIX) for key in held)
        found = []
        for name, text in self.values.items():
            rest = name.removeprefix(prefix)
            if rest == name or name in self.known or rest.startswith(inner):
                continue
            key = rest.lower().replace("_", "-")
            if librdkafka.knows(librdkafka.property_name(key)):
                self.known.add(name)
                found.append((name, key, text))
        return found

    def unknown(self) -> list[str]:
        """A warning for each ZIGGURAT_* variable that matches no setting, with the closest name."""
        found = []
        for name in sorted(set(self.values) - self.known):
            close = difflib.get_close_matches(name, sorted(self.known), n=1, cutoff=0.8)
            hint = f"; did you mean {close[0]}?" if close else ""
            found.append(f"environment variable {name} matches no setting{hint}")
        return found


def not_utf8(text: str) -> str:
    """Why an environment value is not text, or "": Python keeps bytes that are not UTF-8 as lone surrogates, which
    librdkafka's C strings cannot take (a consumer built with one aborts the process)."""
    for char in text:
        if "\udc80" <= char <= "\udcff":
            return f"not valid UTF-8 (byte 0x{ord(char) - 0xDC00:02x})"
        if "\ud800" <= char <= "\udfff":
            return "not valid UTF-8"
    return ""


# --- keys that are librdkafka properties ---

PLUGINS = "plugin.library.paths"


def _owner(section: Section, key: str) -> Setting | None:
    """The setting a kebab-case librdkafka property key means in a section that passes keys through: Ziggurat's
    `:auto-offset-reset` reached the client as auto.offset.reset, which zig sets from auto-offset-reset-config."""
    if not section.passes_through:
        return None
    name = librdkafka.property_name(key)
    return next((s for s in section.settings if s.kafka == name), None)


def _passed(key: str, raw: Any) -> Any:
    """A key passed on to librdkafka as its property: the value as text, or Bad."""
    name = librdkafka.property_name(key)
    if not isinstance(raw, str | int | float):
        return Bad(f"expected a string, number or boolean for librdkafka's {name}, got {_kind_only(raw)}")
    return Value(librdkafka.text(raw), "file", passed=name)


# --- one map ---

# The sections whose :enabled Ziggurat compared with "true" (build-ssl-properties, build-sasl-properties).
_COMPARED_WITH_TRUE = ("ssl", "sasl")


class SectionCheck:
    """Checks one map against its section: its keys and their values, then env overrides and defaults. The
    sections it holds are left to the caller's walk."""

    def __init__(self, findings: Findings, env: Environment) -> None:
        self.findings = findings
        self.env = env

    def check(self, section: Section, data: Any, path: str, env_parts: tuple[str, ...]) -> dict[str, Value]:
        """key -> Value for the section's settings."""
        if data is None:
            data = {}
        if not isinstance(data, Mapping):
            self.findings.error(path, f"expected a map, got {MASKED if holds_secrets(section) else describe(data)}")
            data = {}
        values: dict[str, Value] = {}
        spelled = self._keys(section, data, path, values)
        if section.passes_through:
            self._passed_from_env(section, values, path, env_parts)
        self._translate_java_properties(section, values, spelled, path)
        for setting in section.settings:
            key_path = join(path, setting.key)
            name, text = self.env.override(setting, env_parts)
            if text is not None:
                checked = self._from_env(setting, name, text, key_path)
                if not isinstance(checked, Bad):
                    values[setting.key] = Value(checked, "env")
            elif setting.key not in values and setting.key not in spelled:
                if setting.default is not None:
                    # Defaults pass the same check, so a Java class name default reads as its codec name.
                    default = self._reported(check_value(setting, setting.default), key_path)
                    values[setting.key] = Value(default, "default")
                elif setting.mandatory:
                    self.findings.error(key_path, f"missing mandatory setting ({setting.description})")
        return values

    def _keys(self, section: Section, data: Mapping[str, Any], path: str, values: dict[str, Value]) -> dict[str, str]:
        """Check the keys the file sets, adding their values; returns setting key -> the spelling the file used."""
        spelled: dict[str, str] = {}
        tolerated: list[str] = []
        for key, raw in data.items():
            key_path = join(path, key)
            setting = section.setting(key) or _owner(section, key)
            if setting is not None:
                if setting.key in spelled:
                    self.findings.error(key_path, f"set twice, also as {spelled[setting.key]!r}")
                    continue
                spelled[setting.key] = key
                raw = self._string_bool(section, setting, raw, key_path)
                checked = self._reported(check_value(setting, raw), key_path)
                if not isinstance(checked, Bad):
                    values[setting.key] = Value(checked, "file", written=key if key != setting.key else "")
            elif key in section.children:
                if raw is not None and not isinstance(raw, Mapping):
                    shown = MASKED if holds_secrets(section.children[key]) else describe(raw)
                    self.findings.error(key_path, f"expected a map, got {shown}")
            elif key in section.ignored:
                self.findings.warn(key_path, f"ignored: {section.ignored[key]}")
            elif section.passes_through and key in defaults.JAVA_ONLY_SECURITY:
                java = defaults.JAVA_ONLY_SECURITY[key]
                if java.works_without:
                    self.findings.warn(key_path, f"ignored, a Java client property: {java.instead}")
                else:
                    self.findings.error(key_path, f"a Java client property librdkafka does not have: {java.instead}")
            elif section.passes_through and librdkafka.knows(librdkafka.property_name(key)):
                passed = self._reported(_passed(key, raw), key_path)
                if not isinstance(passed, Bad):
                    values[key] = passed
            elif section.tolerates:
                tolerated.append(key)
            else:
                self._unknown(key_path, key, section)
        if tolerated:
            keys = ", ".join(quoted(str(key)) for key in tolerated)
            self.findings.warn(path, f"ignored {keys}: {section.tolerates}")
        return spelled

    def _passed_from_env(
        self, section: Section, values: dict[str, Value], path: str, env_parts: tuple[str, ...]
    ) -> None:
        """librdkafka properties from ZIGGURAT_* variables, as the file's kebab-case keys give them, also when the
        file omits them (an OIDC client secret kept out of the file); a variable wins over the file's key. A property
        zig sets from a key of its own is set by that key's variable."""
        for name, key, text in self.env.properties(env_parts, section.children):
            if section.setting(key) is not None or _owner(section, key) is not None:
                self.env.known.discard(name)  # not a property to pass: said to match no setting, with its did-you-mean
                continue
            if not_utf8(text):
                self.findings.error(join(path, key), f"{name}: {not_utf8(text)}")
                continue
            prop = librdkafka.property_name(key)
            for written in [k for k, value in values.items() if value.passed == prop]:
                del values[written]
            values[key] = Value(text, "env", passed=prop)

    def _string_bool(self, section: Section, setting: Setting, raw: Any, key_path: str) -> Any:
        """ "true" or "false" written as a string for a boolean (Ziggurat configs have them, e.g. `:enabled "true"`)
        is read as the boolean, with a warning that says how Ziggurat read it when that differs."""
        if setting.kind != "bool" or not isinstance(raw, str) or raw.strip().lower() not in ("true", "false"):
            return raw
        meant = raw.strip().lower() == "true"
        text = str(meant).lower()
        # Ziggurat's :ssl and :sasl compared :enabled with "true" (config.clj); elsewhere it tested a value for truth,
        # and any string is true in Clojure.
        if section.name in _COMPARED_WITH_TRUE:
            ziggurat, how = raw == "true", 'only "true" was true there'
        else:
            ziggurat, how = True, 'any string was true there, "false" included'
        differs = f"; Ziggurat read it as {str(ziggurat).lower()}: {how}" if ziggurat != meant else ""
        self.findings.warn(
            key_path, f"{quoted(raw)} is a string; read as {text} (write {text} or [{text} :bool]{differs})"
        )
        return meant

    def _from_env(self, setting: Setting, name: str, text: str, key_path: str) -> Any:
        """The value variable `name` gives `setting`, or Bad (reported)."""
        if not_utf8(text):
            return self._reported(Bad(f"{name}: {not_utf8(text)}"), key_path)
        coerced = self._reported(coerce_text(setting, text, name), key_path)
        if isinstance(coerced, Bad):
            return coerced
        return self._reported(check_value(setting, coerced), key_path, source=f"{name}: ")

    def _reported(self, checked: Any, key_path: str, source: str = "") -> Any:
        """The checked value as it is; a Bad one is reported first."""
        if isinstance(checked, Bad):
            self.findings.error(key_path, source + checked.message)
        return checked

    def _translate_java_properties(
        self, section: Section, values: dict[str, Value], spelled: dict[str, str], path: str
    ) -> None:
        props = values.get("kafka-properties")
        if props is None:
            return
        kept: dict[str, str] = {}
        passed = {value.passed: key for key, value in values.items() if value.passed}
        # A plugin may add properties of its own, which librdkafka knows only once the plugin is loaded.
        plugins = PLUGINS in props.value or PLUGINS in passed
        written: dict[str, str] = {}  # property -> the name it was written under, for one written under both names
        for written_name, text in props.value.items():
            prop_path = join(join(path, spelled.get("kafka-properties", "kafka-properties")), written_name)
            prop = librdkafka.canonical(written_name)
            if prop in passed and values[passed[prop]].origin == "env":
                continue  # a variable overrides the file, kafka-properties included
            if prop in passed or prop in written:
                self.findings.error(prop_path, f"set twice, also as {passed.get(prop) or written[prop]!r}")
                continue
            written[prop] = written_name
            if prop not in JAVA_ONLY and not plugins and not librdkafka.has_property(prop):
                close = librdkafka.close_name(prop)
                hint = f"; did you mean {close!r}?" if close else ""
                self.findings.error(prop_path, f"librdkafka has no property {quoted(prop)}{hint}")
                continue
            if prop in JAVA_ONLY:
                setting = section.setting(JAVA_ONLY[prop])
                if setting is None:
                    self.findings.error(prop_path, f"a Java client property with no meaning for a {section.name}")
                elif setting.key in values:
                    self.findings.error(prop_path, f"translated to {setting.key!r}, which is also set")
                else:
                    checked = self._reported(coerce_text(setting, text, prop), prop_path)
                    if not isinstance(checked, Bad):
                        checked = self._reported(check_value(setting, checked), prop_path)
                    if not isinstance(checked, Bad):
                        values[setting.key] = Value(checked, "file")
                        self.findings.warn(prop_path, f"a Java client property; translated to zig's {setting.key!r}")
                continue
            owner = next((s for s in section.settings if s.kafka == prop), None)
            if owner is not None:
                self.findings.error(prop_path, f"set this with zig's key {owner.key!r} instead")
                continue
            kept[prop] = text
        values["kafka-properties"] = Value(kept, props.origin)

    def _unknown(self, key_path: str, key: str, section: Section) -> None:
        candidates = section.known_keys() + [a for s in section.settings for a in s.aliases]
        close = difflib.get_close_matches(key, candidates, n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]!r}?" if close else f" for {section.title}"
        extra = (
            ""
            if close or "kafka-properties" not in candidates
            else " (raw librdkafka properties go in kafka-properties)"
        )
        if section.passes_through and not close:
            name = librdkafka.property_name(key)
            hint = f": neither a setting of {section.title} nor a librdkafka property ({quoted(name)})"
            meant = librdkafka.close_name(name)
            if meant is not None and librdkafka.knows(meant):  # a property a kebab-case key can name
                hint, extra = f"{hint}; did you mean {meant.replace('.', '-')!r} (librdkafka's {meant})?", ""
        self.findings.error(key_path, f"unknown key {key!r}{hint}{extra}")
