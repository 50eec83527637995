"""The shape STYLE.md asks of zig_cli: small classes and functions, so that each part reads on its own."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).parent.parent / "zig_cli"
MAX_CLASS_LINES = 200
MAX_FUNCTION_LINES = 70


def _too_long() -> list[str]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef):
                limit = MAX_CLASS_LINES
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                limit = MAX_FUNCTION_LINES
            else:
                continue
            lines = (node.end_lineno or node.lineno) - node.lineno + 1
            if lines > limit:
                found.append(f"{path.relative_to(PACKAGE.parent)}: {node.name} is {lines} lines (at most {limit})")
    return found


def test_no_class_or_function_in_zig_cli_is_too_long_to_read_whole():
    assert _too_long() == []
