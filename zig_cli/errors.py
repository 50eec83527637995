"""Every error zig raises on purpose.

    ZigError
     ├── ConfigError          the config file cannot be used; carries every Problem found
     ├── HandlerImportError   a handler's dotted path does not lead to a callable
     ├── HookError            the application's start-fn or stop-fn raised
     ├── ContractError        a handler returned something zig cannot act on; its batch is not committed
     ├── DecodeError          a message's key or value does not decode with the route's deserializer
     ├── EncodeError          a key or value to send does not fit the producer's serializer
     ├── ProducerError        no producer for that route, or a send that was refused
     └── KafkaFatalError      the broker said something zig cannot survive (auth, ACLs, missing topic, delivery)
          └── RecordRefused   the producer refused to queue one record (too large, unknown topic)

Library code raises these and never exits; only the CLI turns them into text and exit codes. Their messages cut
what they quote from input with `shortened`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Severity = Literal["error", "warning"]


@dataclass(frozen=True, order=True)
class Problem:
    """One finding about a config file, located by key path or, for parse errors, by line and column."""

    file: str
    path: str = ""
    message: str = ""
    line: int | None = None
    column: int | None = None
    severity: Severity = "error"
    detail: str = ""  # a traceback, printed under the one-line message

    def sort_key(self) -> tuple[str, int, int, str, str]:
        return (self.file, self.line or 0, self.column or 0, self.path, self.message)

    def __str__(self) -> str:
        if self.line is not None:
            where = f"{self.file}:{self.line}:{self.column or 1}"
        else:
            where = self.file
        location = f"{where}: {self.path}:" if self.path else f"{where}:"
        return one_line(f"{location} {self.message}")


def shortened(text: str, limit: int) -> str:
    """`text` cut to at most `limit` characters, the cut marked with "...": a message quotes a value, not all of it."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


def one_line(text: str) -> str:
    """Text with unprintable characters escaped: a key holding a newline must not split its problem's line."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


class ZigError(Exception):
    """Root of every error zig raises on purpose."""


class ConfigError(ZigError):
    """The config cannot be used. `problems` holds every error found, sorted; `warnings` what was tolerated."""

    def __init__(self, problems: list[Problem], warnings: list[Problem] | None = None) -> None:
        self.problems = sorted(problems, key=Problem.sort_key)
        self.warnings = sorted(warnings or [], key=Problem.sort_key)
        super().__init__("\n".join(str(p) for p in self.problems))


class HandlerImportError(ZigError):
    """A handler's dotted path does not lead to a callable; `detail` holds the import traceback, if any."""

    def __init__(self, message: str, detail: str = "") -> None:
        self.message = message
        self.detail = detail
        super().__init__(message)


class HookError(ZigError):
    """The application's start-fn or stop-fn raised; zig run exits 1."""


class ContractError(ZigError):
    """A handler broke its contract (an invalid return value); every worker stops and nothing of the batch commits."""


class DecodeError(ZigError):
    """A message's key or value does not decode; the message goes to the dead-letter topic with this reason."""


class KafkaFatalError(ZigError):
    """An error from Kafka that retrying cannot fix: authentication, authorization, a missing topic, a lost write."""


class EncodeError(ZigError):
    """A key or value to send does not fit the producer's serializer."""


class ProducerError(ZigError):
    """A send cannot go ahead: no such route, a route without a producer, or no producers configured."""


class RecordRefused(KafkaFatalError):
    """The producer refused to queue record number `index` of a group (librdkafka's `reason`); the ones before it
    may be in flight."""

    def __init__(self, index: int, reason: str, code: int) -> None:
        super().__init__(reason)
        self.index = index
        self.reason = reason
        self.code = code
