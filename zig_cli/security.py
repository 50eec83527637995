"""The :ssl and :sasl sections resolved as Ziggurat resolves them, into the librdkafka properties of every client.

Ziggurat (config.clj, build-ssl-properties then build-sasl-properties) sets security.protocol and sasl.mechanism
only if not yet set, so the first section that names one wins, :ssl's before :sasl's; it builds sasl.jaas.config from
:jaas, the last section's winning; and passes every other key of an enabled section to the client. librdkafka has no
JAAS, so :jaas becomes sasl.username and sasl.password, and its login-module says which mechanism is meant.

`resolve` is pure: what a config checker reports and what a client builder uses come from the same call.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from zig_cli import defaults, librdkafka
from zig_cli.checks import env_name
from zig_cli.defaults import Section
from zig_cli.model import Value, passed

SECTIONS: tuple[tuple[str, Section], ...] = (("ssl", defaults.SSL), ("sasl", defaults.SASL))
# The keys resolve() decides itself, rather than each section setting its own.
_RESOLVED = {"security.protocol", "sasl.mechanism"}
_PROTOCOL_KEY = {"ssl": "security-protocol", "sasl": "protocol"}
_OIDC = "oidc"


@dataclass(frozen=True)
class Note:
    """Something the config checker reports about the security sections: a key path relative to the root."""

    path: str
    message: str
    severity: Literal["error", "warning"]


@dataclass(frozen=True)
class Resolved:
    """The security properties of every client, what they were made from, and what is wrong with them."""

    properties: dict[str, str]
    explained: tuple[str, ...] = ()
    notes: tuple[Note, ...] = ()


def _set(value: Value | None) -> bool:
    return value is not None and value.origin != "default"


def _module_name(module: str) -> str:
    return module.rsplit(".", 1)[-1]


class _Resolution:
    """One resolve() call: the enabled sections in Ziggurat's order, and what is found in them."""

    def __init__(self, values: Mapping[str, Value]) -> None:
        self.values = values
        self.enabled = [name for name, _ in SECTIONS if self._get(name, "enabled", False)]
        self.props: dict[str, str] = {}
        self.explained: list[str] = []
        self.notes: list[Note] = []
        self.protocol_path = "sasl.enabled"  # where the protocol comes from, for what is said about it

    def _get(self, section: str, key: str, fallback: object = None) -> object:
        value = self.values.get(f"{section}.{key}")
        return value.value if value is not None else fallback

    def _first(self, keys: list[str]) -> tuple[str, str, str] | None:
        """The first of these key paths set in the file or the environment, among enabled sections: its path, its
        value, and the words that say which other one it wins over, if any."""
        found = [key for key in keys if key.split(".", 1)[0] in self.enabled and _set(self.values.get(key))]
        if not found:
            return None
        value = str(self.values[found[0]].value)
        overruled = [key for key in found[1:] if str(self.values[key].value) != value]
        why = f" (over {self.said(overruled[0])}: the first set wins, :ssl's before :sasl's)" if overruled else ""
        return found[0], value, why

    def written(self, path: str) -> str:
        """A key path in the file's spelling (`ssl.protocol` for ssl.security-protocol)."""
        value = self.values.get(path)
        return f"{path.rsplit('.', 1)[0]}.{value.written}" if value is not None and value.written else path

    def said(self, path: str) -> str:
        """A key path as the config gave it: in the file's spelling, or with the variable that set it."""
        value = self.values.get(path)
        env = f" ({env_name(*path.split('.'))})" if value is not None and value.origin == "env" else ""
        return self.written(path) + env

    def _applies(self, path: str) -> bool:
        """True for a key path of an enabled section, other than its :enabled."""
        section, key = path.split(".", 1)
        return section in self.enabled and key != "enabled"

    def error(self, path: str, message: str) -> None:
        self.notes.append(Note(path, message, "error"))

    def warn(self, path: str, message: str) -> None:
        self.notes.append(Note(path, message, "warning"))

    def run(self) -> Resolved:
        for name, section in SECTIONS:
            if name in self.enabled:
                self._own(name, section)
        from_env = [path for path, value in self.values.items() if value.origin == "env" and self._applies(path)]
        if from_env:
            self.explained.append("from the environment: " + ", ".join(self.said(path) for path in from_env))
        credentials = self._credentials()
        mechanism = self._mechanism(credentials)
        protocol = self._protocol(mechanism is not None or credentials is not None)
        if protocol is not None:
            self.props = {"security.protocol": protocol} | self.props
        if mechanism is not None:
            self.props["sasl.mechanism"] = mechanism
        for name in self.enabled:
            self._login_callback_handler(name, mechanism)
        if protocol == "SASL_PLAINTEXT" and mechanism == "PLAIN":
            self.warn(
                self.protocol_path,
                "SASL PLAIN over SASL_PLAINTEXT sends the password in clear text: use SASL_SSL, or a SCRAM mechanism",
            )
        return Resolved(self.props, tuple(self.explained), tuple(self.notes))

    def _own(self, name: str, section: Section) -> None:
        """The section's settings with a librdkafka name, and the keys it passes through; a later section's win."""
        for setting in section.settings:
            value = self.values.get(f"{name}.{setting.key}")
            if setting.kafka and setting.kafka not in _RESOLVED and value is not None:
                self.props[setting.kafka] = librdkafka.text(value.value)
        self.props.update(passed({k: v for k, v in self.values.items() if k.startswith(name + ".")}))
        keystore_type = self.values.get(f"{name}.ssl-keystore-type")
        if keystore_type is not None and str(keystore_type.value).upper() != "PKCS12":
            self.error(
                f"{name}.ssl-keystore-type",
                f"librdkafka reads PKCS12 keystores only, not {str(keystore_type.value)!r}: convert it with keytool "
                "-importkeystore -deststoretype PKCS12 and point ssl-keystore-location at the result (or use PEM "
                "files: ssl-certificate-location and ssl-key-location)",
            )

    def _credentials(self) -> str | None:
        """The :jaas that counts (the last enabled section's, as Ziggurat's sasl.jaas.config), as its section name."""
        chosen = None
        for name in self.enabled:
            if any(_set(self.values.get(f"{name}.jaas.{key}")) for key in ("username", "password", "login-module")):
                chosen = name
        if chosen is None:
            return None
        given = [key for key in ("username", "password") if f"{chosen}.jaas.{key}" in self.values]
        for key in given:
            self.props[f"sasl.{key}"] = str(self.values[f"{chosen}.jaas.{key}"].value)
        if given:
            self.explained.append(
                f":{chosen} :jaas: {' and '.join(given)} become{'s' if len(given) == 1 else ''} "
                f"{' and '.join('sasl.' + key for key in given)} (librdkafka has no sasl.jaas.config)"
            )
        return chosen

    def _mechanism(self, credentials: str | None) -> str | None:
        order = [f"{n}.{key}" for n, _ in SECTIONS for key in ("mechanism", "jaas.mechanism")]
        named = self._first(order)
        module_path = f"{credentials}.jaas.login-module"
        module = str(self.values[module_path].value) if credentials and module_path in self.values else None
        implied = defaults.LOGIN_MODULES.get(module) if module else None
        if named is not None:
            self.explained.append(f"sasl.mechanism from {self.said(named[0])}{named[2]}")
            if module is not None and module in defaults.LOGIN_MODULES and implied not in (None, named[1]):
                self.warn(
                    module_path,
                    f"{_module_name(module)} means mechanism {implied}, but {self.written(named[0])} is used",
                )
            elif module is not None and module not in defaults.LOGIN_MODULES:
                self.warn(module_path, f"librdkafka cannot load a Java login module; {self.written(named[0])} is used")
            return named[1]
        if module is None:
            if credentials is None or not self._jaas_user(credentials):
                return None
            self.explained.append(
                f"sasl.mechanism PLAIN: :{credentials} :jaas has a username and neither :mechanism nor :login-module "
                "names a mechanism (Ziggurat's Java client used GSSAPI here: set :mechanism if PLAIN is not meant)"
            )
            return "PLAIN"
        if module not in defaults.LOGIN_MODULES:
            self.error(
                module_path, "librdkafka cannot load a Java login module: name the SASL mechanism with :mechanism"
            )
            return None
        if implied is None:
            self.error(module_path, f"{_module_name(module)} serves SCRAM-SHA-256 and SCRAM-SHA-512: set :mechanism")
            return None
        self.explained.append(f"sasl.mechanism from :{credentials} :jaas :login-module {_module_name(module)}")
        return implied

    def _jaas_user(self, section: str) -> bool:
        return f"{section}.jaas.username" in self.values

    def _protocol(self, sasl_in_use: bool) -> str | None:
        named = self._first([f"{n}.{_PROTOCOL_KEY[n]}" for n, _ in SECTIONS])
        if named is not None:
            path, protocol, why = named
            self.protocol_path = self.written(path)
            self.explained.append(f"security.protocol {protocol} from {self.said(path)}{why}")
            if protocol == "SASL_PLAINTEXT" and "ssl" in self.enabled:
                self.warn(
                    "ssl.enabled",
                    f"{self.protocol_path} is SASL_PLAINTEXT, which does not use TLS: :ssl's settings are unused "
                    '(set :ssl :protocol "SASL_SSL" for TLS)',
                )
            return protocol
        if "ssl" in self.enabled:
            self.protocol_path = "ssl.enabled"
            protocol = "SASL_SSL" if sasl_in_use or "sasl" in self.enabled else "SSL"
            self.explained.append(f"security.protocol {protocol}: :ssl is enabled and names no protocol")
            return protocol
        if "sasl" in self.enabled:
            self.explained.append("security.protocol SASL_PLAINTEXT: :sasl is enabled and names no protocol")
            return "SASL_PLAINTEXT"
        return None

    def _login_callback_handler(self, name: str, mechanism: str | None) -> None:
        path = f"{name}.login-callback-handler"
        if not _set(self.values.get(path)):
            return
        if mechanism != "OAUTHBEARER":
            self.warn(path, "ignored: a Java class librdkafka cannot load, and only OAUTHBEARER used it")
        elif self.props.get("sasl.oauthbearer.method") == _OIDC:
            self.warn(path, "ignored: librdkafka fetches the tokens itself (sasl.oauthbearer.method oidc)")
        else:
            self.error(path, defaults.SSL.setting("login-callback-handler").description)  # type: ignore[union-attr]


def enabled(values: Mapping[str, Value]) -> list[str]:
    """The sections that are enabled, ssl before sasl."""
    return _Resolution(values).enabled


def section_of(values: Mapping[str, Value], prop: str) -> str | None:
    """The enabled section (ssl or sasl) whose keys set librdkafka property `prop`: the later one when both do, as its
    keys win; None when neither does."""
    found = None
    for name in enabled(values):
        section = dict(SECTIONS)[name]
        held = {key.removeprefix(name + "."): value for key, value in values.items() if key.startswith(name + ".")}
        if any(value.passed == prop for value in held.values()) or any(
            setting.kafka == prop and setting.key in held for setting in section.settings
        ):
            found = name
    return found


def resolve(values: Mapping[str, Value]) -> Resolved:
    """The librdkafka properties of the :ssl and :sasl sections (values keyed "ssl.enabled", "sasl.jaas.username"...),
    the lines that explain them, and what is wrong with them."""
    return _Resolution(values).run()
