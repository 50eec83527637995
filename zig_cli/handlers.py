"""Import handlers by dotted path, telling apart every way that can fail.

A handler is named `"package.module/function"` (Clojure style) or `"package.module:function"`. Hyphens map to
underscores, as Clojure names map to files, so `"my-app.handlers/on-batch"` is `my_app.handlers.on_batch`.
A handler may be `async def`; `is_async` tells the runner which kind it has.
"""

from __future__ import annotations

import difflib
import functools
import importlib
import inspect
import re
import sys
import traceback
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from zig_cli.contract import Message
from zig_cli.errors import HandlerImportError

Handler = Callable[[Any], Any]

_NAME = r"[A-Za-z_][\w\-]*"
_SPEC = re.compile(rf"(?P<module>{_NAME}(?:\.{_NAME})*)[/:](?P<attr>{_NAME}(?:\.{_NAME})*)")


def parse_spec(spec: str) -> tuple[str, str]:
    """Split a handler spec into (module, attribute path); raises ValueError with the reason."""
    match = _SPEC.fullmatch(spec.strip())
    if not match:
        raise ValueError(
            f'{spec!r} is not a handler path; write "package.module/function" or "package.module:function"'
        )
    return match["module"].replace("-", "_"), match["attr"].replace("-", "_")


def add_search_paths(paths: Iterable[Path]) -> None:
    """Make the config's folder and the working directory importable, so a handler beside the config just works."""
    for path in reversed([str(p.resolve()) for p in paths]):
        if path not in sys.path:
            sys.path.insert(0, path)


def resolve(spec: str, stream: bool | None = None) -> Handler:
    """Import the handler named by `spec`; raises HandlerImportError saying exactly what went wrong, including
    what zig knows would fail when it calls the handler of a batch route (`stream` False) or a stream route (True)."""
    target, walked = _locate_function(spec)
    if not is_async(target) and any(_wraps_async(f) for f in _called(target)):
        raise HandlerImportError(
            f"{walked!r} is a plain function wrapping an async one (a decorator whose wrapper is not `async def`): "
            "zig would call it without awaiting what it returns; make the wrapper `async def`"
        )
    _check_arguments(target, walked, 1)
    if stream is not None:
        _check_annotation(target, walked, stream)
    return target  # type: ignore[no-any-return]


def resolve_hook(spec: str) -> Callable[[], Any]:
    """Import a start-fn or stop-fn: a plain function zig calls once with no arguments, as Ziggurat did."""
    target, walked = _locate_function(spec)
    if is_async(target):
        raise HandlerImportError(
            f"{walked!r} is an async function: zig calls a start-fn or stop-fn once, outside any event loop; "
            "make it a plain function"
        )
    _check_arguments(target, walked, 0)
    return target  # type: ignore[no-any-return]


def _locate_function(spec: str) -> tuple[Any, str]:
    """As _locate, refusing what zig cannot call as a function: classes and generator functions."""
    target, walked = _locate(spec)
    wrong = _wrong_kind(target)
    if wrong:
        raise HandlerImportError(f"{walked!r} is {wrong}; name a function")
    return target, walked


def _locate(spec: str) -> tuple[Any, str]:
    """The callable `spec` names, and its dotted name; raises HandlerImportError saying exactly what went wrong."""
    try:
        module_name, attr_path = parse_spec(spec)
    except ValueError as error:
        raise HandlerImportError(str(error)) from None
    module = _import(module_name)
    target: Any = module
    walked = module_name
    for part in attr_path.split("."):
        if not hasattr(target, part):
            raise HandlerImportError(f"{walked!r} has no attribute {part!r}{_suggest(part, target)}")
        target = getattr(target, part)
        walked = f"{walked}.{part}"
    if inspect.iscoroutine(target):
        # zig will never await it; closed, so Python does not also warn at exit that it was never awaited.
        target.close()
        raise HandlerImportError(
            f"{walked!r} is a coroutine object, the result of calling {target.__qualname__}(); "
            "name the function instead"
        )
    if not callable(target):
        raise HandlerImportError(f"{walked!r} is a {type(target).__name__}, not a function")
    return target, walked


def _import(module_name: str) -> Any:
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        # The module itself is missing only when the name not found is it or one of its parents;
        # otherwise the module was found and failed on an import of its own.
        if error.name and (module_name == error.name or module_name.startswith(error.name + ".")):
            raise HandlerImportError(
                f"module {module_name!r} not found (looked in the config's folder, the working directory "
                "and the installed packages)"
            ) from None
        raise HandlerImportError(_raised(module_name, error), _traceback(error)) from None
    except (Exception, SystemExit) as error:  # whatever the module's own code raised while importing
        raise HandlerImportError(_raised(module_name, error), _traceback(error)) from None


def _raised(module_name: str, error: BaseException) -> str:
    return f"module {module_name!r} raised {type(error).__name__} while importing: {error}"


def _traceback(error: BaseException) -> str:
    """The traceback of the module's own frames, without importlib's or zig's."""
    hidden = (str(Path(importlib.__file__).parent), str(Path(__file__).parent), "<frozen")
    lines = traceback.TracebackException.from_exception(error)
    lines.stack = traceback.StackSummary.from_list([f for f in lines.stack if not f.filename.startswith(hidden)])
    return "".join(lines.format()).rstrip()


def _suggest(name: str, target: Any) -> str:
    candidates = [n for n in dir(target) if not n.startswith("_") and callable(getattr(target, n, None))]
    close = difflib.get_close_matches(name, candidates, n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


def is_async(handler: Handler) -> bool:
    """True when calling `handler` returns a coroutine to await: an `async def` function, an object whose
    `__call__` is one, or a `functools.partial` of either."""
    return any(inspect.iscoroutinefunction(f) for f in _called(handler))


def _called(target: Any) -> tuple[Any, Any]:
    """What runs when `target` is called: the callable inside any partials, and its type's `__call__`."""
    while isinstance(target, functools.partial):
        target = target.func
    return target, type(target).__call__


def _wrong_kind(target: Any) -> str:
    """Why a callable cannot be a handler: zig calls it (and awaits what an async one returns) and acts on the
    outcome."""
    if inspect.isclass(target):
        return "a class: calling it makes an instance, not an outcome"
    if any(inspect.isasyncgenfunction(f) for f in _called(target)):
        return "an async generator function: calling it returns an async generator, not an outcome"
    if any(inspect.isgeneratorfunction(f) for f in _called(target)):
        return "a generator function: calling it returns a generator, not an outcome"
    return ""


def _wraps_async(function: Any) -> bool:
    """True when `function` is a wrapper (it has `__wrapped__`, as functools.wraps sets) of an `async def`."""
    try:
        inner = inspect.unwrap(function)
    except ValueError:  # a cycle of __wrapped__: nothing zig can tell
        return False
    return inner is not function and inspect.iscoroutinefunction(inner)


_ONE_MESSAGE = re.compile(r"(?:zig_cli\.(?:contract\.)?)?Message")
_MESSAGES = re.compile(
    r"(?:typing\.|collections\.abc\.)?(?:list|List|Sequence|Iterable|Collection)\[(?:zig_cli\.(?:contract\.)?)?Message\]"
)


def _check_annotation(function: Callable[..., Any], name: str, stream: bool) -> None:
    """A handler annotated for the other kind of route fails on every call: a batch route passes a list of
    messages, a stream route one message. Only the plain spellings are read; anything else is the handler's
    business."""
    try:
        parameters = list(inspect.signature(function).parameters.values())
    except (TypeError, ValueError):
        return
    if not parameters or parameters[0].kind not in (parameters[0].POSITIONAL_ONLY, parameters[0].POSITIONAL_OR_KEYWORD):
        return
    annotation = parameters[0].annotation
    text = annotation if isinstance(annotation, str) else _annotation_text(annotation)
    if not stream and _ONE_MESSAGE.fullmatch(text):
        raise HandlerImportError(
            f"{name!r} takes one Message ({parameters[0].name}: {text}), but a batch route calls its handler with a "
            "list of messages; put the route under stream-router, or take list[Message]"
        )
    if stream and _MESSAGES.fullmatch(text):
        raise HandlerImportError(
            f"{name!r} takes {text} ({parameters[0].name}), but a stream route calls its handler with one message; "
            "put the route under batch-routes, or take a Message"
        )


def _annotation_text(annotation: Any) -> str:
    """An evaluated annotation as it is written: `Message`, `list[Message]`."""
    if annotation is Message:
        return "Message"
    args = getattr(annotation, "__args__", None)
    origin = getattr(annotation, "__origin__", None)
    if args == (Message,) and origin is not None:
        return f"{getattr(origin, '__name__', '')}[Message]"
    return ""


def _check_arguments(function: Callable[..., Any], name: str, count: int) -> None:
    """`function` can be called with `count` positional arguments, as zig will call it."""
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):  # builtins and some C callables have no signature to check
        return
    try:
        signature.bind(*([None] * count))
    except TypeError:
        arguments = "no arguments" if count == 0 else "one argument"
        raise HandlerImportError(f"{name!r} cannot be called with {arguments}; its signature is {signature}") from None
