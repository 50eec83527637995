"""The README says what the code does: its settings table and its test command."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from zig_cli import defaults, ziggurat_metrics

ROOT = Path(__file__).parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_readme_settings_table_matches_the_code():
    found = re.search(r"<!-- settings-table:start -->\n(.*?)<!-- settings-table:end -->", README, re.S)
    assert found, "README.md lost its settings-table markers"
    assert found[1] == defaults.markdown_table(), "regenerate with: zig config defaults --format markdown"


def test_readme_ziggurat_names_table_matches_the_code():
    found = re.search(r"<!-- ziggurat-names:start -->\n(.*?)<!-- ziggurat-names:end -->", README, re.S)
    assert found, "README.md lost its ziggurat-names markers"
    assert found[1] == ziggurat_metrics.markdown_table()


@pytest.mark.parametrize("block", ["test-command", "apache-kafka-test-command", "consumer-protocol-test-command"])
def test_ci_runs_exactly_the_readme_test_commands(block: str):
    found = re.search(rf"<!-- {block} -->\n```sh\n(.+?)\n```", README)
    assert found, f"README.md lost its {block} block"
    ci_lines = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    # A command CI runs in the background carries its own options and output file after the README's words.
    assert any(line == found[1] or line.startswith(found[1] + " -p no:cacheprovider") for line in ci_lines)


def test_every_unsupported_section_is_documented():
    for section in defaults.UNSUPPORTED_SECTIONS:
        assert f"`:{section}`" in README, section
