"""The code location loads from workspace.yaml the way `dagster dev` loads it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO


def test_workspace_code_location_validates(tmp_path):
    dagster = Path(sys.executable).parent / "dagster"
    env = {**os.environ, "SENTITRADE_DATA_DIR": str(tmp_path), "DAGSTER_HOME": str(tmp_path)}
    result = subprocess.run(
        [str(dagster), "definitions", "validate", "-w", "workspace.yaml"], cwd=REPO, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "sentitrade" in result.stdout + result.stderr


def test_definitions_hold_the_whole_graph_and_jobs(tmp_path, monkeypatch):
    monkeypatch.setenv("SENTITRADE_DATA_DIR", str(tmp_path))
    from orchestration.definitions import build_definitions
    from sentitrade.settings import Settings

    defs = build_definitions(Settings())
    keys = {key.to_user_string() for key in defs.resolve_asset_graph().get_all_asset_keys()}
    assert {"raw_tweets", "scored_tweets", "features", "training_set", "xgboost_model", "lightgbm_backtest", "promotion"} <= keys
    for job in ("discover_markets", "daily_ingest", "research"):
        assert defs.resolve_job_def(job) is not None
