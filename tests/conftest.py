"""Shared fixtures: where the shared data lives, and one small end-to-end demo run per session."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
SENTITRADE = [sys.executable, "-m", "sentitrade"]
# A small replay with enough test-span rows (4 markets x 2 days x 288) for AUC to mean something, and the 4 days
# before them that 3 validation folds of a day and 1 day to train on need.
SMALL_DEMO = ["--markets", "4", "--days", "6", "--tweets-per-day", "4000"]


def run_cli(*args: str, env: dict | None = None, timeout: int = 600) -> subprocess.CompletedProcess:
    """Run the real console entry point in a fresh process (its own Dagster/MLflow globals)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("SENTITRADE_", "DAGSTER_", "MLFLOW_"))}
    return subprocess.run(
        [*SENTITRADE, *args], cwd=REPO, env={**clean, **(env or {})}, capture_output=True, text=True, timeout=timeout
    )


def last_json(output: str) -> dict:
    return json.loads(output.strip().splitlines()[-1])


def one_line_error(result: subprocess.CompletedProcess) -> str:
    """The user-error contract: exit code 2, no traceback, one line on standard error starting `error: `."""
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


@pytest.fixture(scope="session")
def signal_run(tmp_path_factory) -> tuple[Path, dict]:
    data = tmp_path_factory.mktemp("signal")
    result = run_cli("demo", "--seed", "11", *SMALL_DEMO, "--data-dir", str(data))
    assert result.returncode == 0, result.stderr[-3000:]
    return data, last_json(result.stdout)


@pytest.fixture(scope="session")
def control_run(tmp_path_factory) -> tuple[Path, dict]:
    data = tmp_path_factory.mktemp("control")
    result = run_cli("demo", "--seed", "11", *SMALL_DEMO, "--no-signal", "--data-dir", str(data))
    assert result.returncode == 0, result.stderr[-3000:]
    return data, last_json(result.stdout)
