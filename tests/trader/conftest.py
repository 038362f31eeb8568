"""A trained, promoted data directory to trade on: a private copy of the session's small demo run."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
from mlflow import MlflowClient

from tests.conftest import REPO, SENTITRADE


@pytest.fixture
def trade_dir(signal_run, tmp_path) -> Path:
    """The demo's data directory with its registry and replay, and no ledger yet (each test its own)."""
    source, _ = signal_run
    target = tmp_path / "data"
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("ledger.db*", "KILL"))
    client = MlflowClient(f"sqlite:///{target / 'mlflow' / 'mlflow.db'}")
    xgboost = next(str(v.version) for v in client.search_model_versions("name='sentitrade-signal'") if v.tags["kind"] == "xgboost")
    client.set_registered_model_alias("sentitrade-signal", "champion", xgboost)  # loads in a second (LightGBM's skops imports all of sklearn)
    return target


@pytest.fixture
def holdout_start(signal_run):
    """Where the demo's trader started: the champion's held-out span."""
    data, _ = signal_run
    with ledger_engine(data).connect() as con:
        return con.execute(sa.text("select min(span_start) from runs")).scalar_one()


def span_args(holdout_start, hours: float) -> list[str]:
    """`--start/--end` for `hours` of the held-out span, an hour in (so every feature window is warm)."""
    begin = pd.Timestamp(holdout_start) + pd.Timedelta(hours=1)
    return ["--start", begin.isoformat(), "--end", (begin + pd.Timedelta(hours=hours)).isoformat()]


def ledger_engine(data: Path) -> sa.Engine:
    return sa.create_engine(f"sqlite:///{data / 'ledger.db'}")


def cli_env(**extra: str) -> dict:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("SENTITRADE_", "DAGSTER_", "MLFLOW_"))}
    return {**clean, **extra}


def start_trader(data: Path, *args: str, **env: str) -> subprocess.Popen:
    """`sentitrade trade` in the background, as a user starts it."""
    return subprocess.Popen([*SENTITRADE, "trade", "--data-dir", str(data), *args], cwd=REPO, env=cli_env(**env),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for(predicate, timeout: float = 120.0, every: float = 0.1):
    """Poll until `predicate()` is truthy; return its value (fail the test on timeout)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {predicate.__doc__ or predicate}")


def scalar(data: Path, sql: str, **params):
    """One value from the ledger, or None while it does not exist yet."""
    if not (data / "ledger.db").exists():
        return None
    try:
        with ledger_engine(data).connect() as con:
            return con.execute(sa.text(sql), params).scalar()
    except sa.exc.OperationalError:
        return None


@pytest.fixture
def postgres():
    """A private PostgreSQL server the test may stop and start (never the shared one on 5432)."""
    from tests.postgres import PrivatePostgres

    server = PrivatePostgres()
    try:
        yield server
    finally:
        server.close()
