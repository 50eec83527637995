"""The application's own set-up and tear-down around `zig run`: Ziggurat's start-fn and stop-fn.

Ziggurat took them as arguments of `ziggurat.init/main`; zig names them in the config (`:start-fn`, `:stop-fn`,
dotted paths like handlers) and calls each once, with no arguments: start-fn before anything starts, stop-fn after
the workers have stopped and committed, and only when start-fn returned (a set-up that failed is not torn down).
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zig_cli.config import Config
from zig_cli.contract import describe_error
from zig_cli.errors import HookError, shortened

logger = logging.getLogger(__name__)

HOOKS = ("start-fn", "stop-fn")


@dataclass(frozen=True)
class Hook:
    key: str  # "start-fn" or "stop-fn", as the config names it
    spec: str  # the dotted path the config gives, for messages
    function: Callable[[], Any]

    def call(self) -> None:
        """Call it once; raises HookError saying in one line what it raised, and where."""
        try:
            self.function()
        except (Exception, SystemExit) as error:  # SystemExit too: sys.exit() in a hook is a failure to report
            raise HookError(f"{self.key} {self.spec!r} raised {_raised(error)}") from error


class Lifecycle:
    """Calls start-fn once before the workers start and stop-fn once after they stop, if start-fn returned."""

    def __init__(self, start: Hook | None = None, stop: Hook | None = None) -> None:
        self._start = start
        self._stop = stop
        self._started = False
        self._stopped = False

    def start(self) -> None:
        if self._start is not None:
            self._start.call()
        self._started = True

    def stop(self) -> None:
        """Call stop-fn, once, when start-fn has returned; raises HookError when it raises."""
        if not self._started or self._stopped:
            return
        self._stopped = True
        if self._stop is not None:
            self._stop.call()

    def finish(self, earlier: BaseException | None) -> BaseException | None:
        """`stop` once the run is over (the runner calls `start`; the CLI this, once the runner is closed): returns
        the run's first failure, `earlier` or else stop-fn's, and logs a stop-fn failure that comes after another."""
        try:
            self.stop()
        except HookError as error:
            if earlier is None:
                return error
            logger.error("%s", error)
        return earlier


def from_config(config: Config, functions: Mapping[str, Callable[[], Any]]) -> Lifecycle:
    """The config's hooks, from the functions `zig validate`'s checks imported (by setting key)."""
    hooks = {
        key: Hook(key, str(config.setting(key)), functions[key])
        for key in HOOKS
        if key in config.operations and key in functions
    }
    return Lifecycle(hooks.get("start-fn"), hooks.get("stop-fn"))


def _raised(error: BaseException) -> str:
    """What was raised, on one line (its message's first, shortened), and the line of the application's code it
    came from."""
    frames = traceback.extract_tb(error.__traceback__)
    where = f" (at {Path(frames[-1].filename).name}:{frames[-1].lineno})" if frames else ""
    described = describe_error(error)
    first = described.splitlines()[0] if described else described
    shown = first + " ..." if first != described else first
    return f"{shortened(shown, 300)}{where}"
