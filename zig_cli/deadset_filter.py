"""Which dead letters a `zig dead-set` command acts on: all of them, or those of one key, one partition of the
dead-letter topic, or whose error says something.

A partition filter only narrows what is read: a dead-set partition is moved past on its own. A key or error filter
cannot skip a letter in place, since moving the dead set's start past a letter is what deletes it: so the letters
it passes over before one it chooses are written back to the end of the dead set first, and those after the last
one chosen stay where they are (`DeadSet.replay` and `DeadSet.delete`).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DeadLetterFilter:
    key: str | None = None  # the key, exactly, as text
    partition: int | None = None  # a partition of the dead-letter topic
    error: str | None = None  # a part of the error (zig-error header), case-sensitive

    @property
    def by_content(self) -> bool:
        """True when letters are chosen by what they hold, so that the ones passed over must be kept."""
        return self.key is not None or self.error is not None

    def matches(self, key: bytes | None, error: str) -> bool:
        """Whether a letter of the filter's partition, with this key and error, is chosen."""
        if self.key is not None and (key is None or key.decode("utf-8", "replace") != self.key):
            return False
        return self.error is None or self.error in error

    def __str__(self) -> str:
        parts = [f"key {self.key!r}"] if self.key is not None else []
        parts += [f"partition {self.partition}"] if self.partition is not None else []
        parts += [f"error containing {self.error!r}"] if self.error is not None else []
        return ", ".join(parts) or "every dead letter"


EVERY = DeadLetterFilter()
