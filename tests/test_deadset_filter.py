"""Choosing dead letters by hand, without a broker: the filter, and the questions `zig dead-set delete` asks."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import flat_config, write
from typer.testing import CliRunner

from zig_cli import cli
from zig_cli.deadset_filter import EVERY, DeadLetterFilter

runner = CliRunner()


@pytest.mark.parametrize(
    ("only", "key", "error", "chosen"),
    [
        (EVERY, None, "", True),
        (DeadLetterFilter(key="k1"), b"k1", "boom", True),
        (DeadLetterFilter(key="k1"), b"k10", "boom", False),
        (DeadLetterFilter(key="k1"), None, "boom", False),
        (DeadLetterFilter(error="time"), b"k", "handler timed out (retried 3 time(s))", True),
        (DeadLetterFilter(error="Time"), b"k", "handler timed out", False),
        (DeadLetterFilter(key="k", error="boom"), b"k", "kaput", False),
        (DeadLetterFilter(partition=2), b"k", "", True),  # the partition is chosen by reading only it
    ],
)
def test_a_filter_chooses_by_exact_key_and_part_of_the_error(
    only: DeadLetterFilter, key: bytes | None, error: str, chosen: bool
):
    assert only.matches(key, error) is chosen


def test_a_filter_says_what_it_chooses():
    assert str(EVERY) == "every dead letter"
    assert str(DeadLetterFilter("k1", 0, "boom")) == "key 'k1', partition 0, error containing 'boom'"
    assert (EVERY.by_content, DeadLetterFilter(partition=1).by_content, DeadLetterFilter(key="").by_content) == (
        False,
        False,
        True,
    )


def test_delete_needs_yes_when_it_cannot_ask(tmp_path: Path):
    config = write(tmp_path, flat_config())
    refused = runner.invoke(cli.app, ["dead-set", "delete", str(config), "orders"], env={"COLUMNS": "200"})
    assert refused.exit_code == 2
    assert "deleting for good needs --yes when zig cannot ask (not on a terminal)" in refused.stderr


def test_delete_on_a_terminal_asks_and_a_no_deletes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(cli, "_can_ask", lambda: True)
    config = write(tmp_path, flat_config())
    # No broker listens: answering no must end it before anything is read.
    answered = runner.invoke(cli.app, ["dead-set", "delete", str(config), "orders", "--key", "k1"], input="n\n")
    assert answered.exit_code == 1
    assert "delete up to 10 dead letter(s) of route 'orders' (key 'k1') for good? [y/N]: n" in answered.stdout
    assert "Aborted" in answered.stderr + answered.stdout


def test_a_partition_is_never_negative(tmp_path: Path):
    config = write(tmp_path, flat_config())
    refused = runner.invoke(cli.app, ["dead-set", "view", str(config), "orders", "--partition", "-1"])
    assert refused.exit_code == 2 and "-1 is not in the range x>=0" in refused.stderr
