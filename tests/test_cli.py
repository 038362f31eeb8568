"""Bad input to the CLI: one line that says what to do next, exit code 2, never a traceback."""

from __future__ import annotations

import pytest

from tests.conftest import one_line_error, run_cli


def test_unknown_flag(tmp_path):
    line = one_line_error(run_cli("demo", "--bogus", "--data-dir", str(tmp_path)))
    assert "--bogus" in line and "--help" in line


@pytest.mark.parametrize(
    "args, named",
    [
        (["demo", "--markets", "-3"], "--markets"),
        (["demo", "--tweets-per-day", "-1"], "--tweets-per-day"),
        (["replay", "generate", "--days", "0"], "--days"),
    ],
)
def test_negative_or_zero_sizes(tmp_path, args, named):
    line = one_line_error(run_cli(*args, "--data-dir", str(tmp_path)))
    assert named in line


def test_demo_too_short_for_its_held_out_days(tmp_path):
    line = one_line_error(run_cli("demo", "--days", "4", "--data-dir", str(tmp_path)))
    assert "--days must exceed the 3 held-out days" in line


def test_trade_with_missing_data_directory(tmp_path):
    line = one_line_error(run_cli("trade", "--data-dir", str(tmp_path / "nowhere")))
    assert "sentitrade demo" in line


def test_trade_with_empty_data_directory(tmp_path):
    line = one_line_error(run_cli("trade", "--data-dir", str(tmp_path)))
    assert "empty" in line and "sentitrade demo" in line


def test_trade_with_no_champion_yet(tmp_path):
    assert run_cli("replay", "generate", "--days", "3", "--tweets-per-day", "200", "--data-dir", str(tmp_path)).returncode == 0
    line = one_line_error(run_cli("trade", "--data-dir", str(tmp_path)))
    assert "champion" in line and "sentitrade demo" in line


def test_help_explains_every_command():
    for command in ([], ["demo"], ["trade"], ["replay", "generate"]):
        result = run_cli(*command, "--help")
        assert result.returncode == 0
        assert "Usage" in result.stdout and "--data-dir" in result.stdout or command == []
