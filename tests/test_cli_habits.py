"""What every command line tool is expected to have: --version, -h, shell completion, numbers shown as numbers."""

from __future__ import annotations

import importlib.metadata
import tomllib
from pathlib import Path

import pytest
import typer
from typer.core import TyperGroup
from typer.testing import CliRunner

import zig_cli
from zig_cli.cli import app

runner = CliRunner()


def commands(group: TyperGroup, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found: list[tuple[str, ...]] = [prefix]
    for name, command in group.commands.items():
        if isinstance(command, TyperGroup):
            found += commands(command, (*prefix, name))
        else:
            found.append((*prefix, name))
    return found


EVERY_COMMAND = commands(typer.main.get_command(app))  # type: ignore[arg-type]  # the app is a group


def test_version_comes_from_the_package_metadata():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout == f"zig-cli {importlib.metadata.version('zig-cli')}\n"
    assert zig_cli.__version__ == importlib.metadata.version("zig-cli")


@pytest.mark.parametrize("command", EVERY_COMMAND, ids=lambda c: " ".join(c) or "zig")
def test_every_command_takes_h_for_help(command: tuple[str, ...]):
    short = runner.invoke(app, [*command, "-h"])
    assert short.exit_code == 0, short.stdout
    assert short.stdout == runner.invoke(app, [*command, "--help"]).stdout
    assert "Usage:" in short.stdout


def test_shell_completion_completes_commands_under_both_names():
    script = runner.invoke(app, ["--show-completion", "bash"], prog_name="zig")
    assert script.exit_code == 0 and "complete -o default -F _zig_completion zig" in script.stdout
    for prog, variable in (("zig", "_ZIG_COMPLETE"), ("zig-cli", "_ZIG_CLI_COMPLETE")):
        env = {variable: "complete_bash", "COMP_WORDS": f"{prog} dead-set re", "COMP_CWORD": "2"}
        completed = runner.invoke(app, [], prog_name=prog, env=env)
        assert completed.stdout.split() == ["replay"], prog


def test_zig_cli_is_installed_beside_zig():
    scripts = tomllib.loads((Path(__file__).parent.parent / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["zig-cli"] == scripts["zig"] == "zig_cli.cli:main"


@pytest.mark.parametrize("command", ["view", "replay", "delete"])
def test_count_is_shown_as_a_number(command: str):
    shown = runner.invoke(app, ["dead-set", command, "--help"], env={"COLUMNS": "200"}).stdout
    [line] = [line for line in shown.splitlines() if "--count" in line]
    assert "<int>" in line, line
