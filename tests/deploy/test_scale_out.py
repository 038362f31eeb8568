"""Scale-out on Dagster itself: the stack's own instance file (deploy/dagster.yaml) on PostgreSQL, and two daily
partitions of ingest and scoring run at once, each on the multiprocess executor, as the daemon runs a backfill."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from dagster import AssetKey, DagsterInstance, DagsterRunStatus, RunsFilter

from connectors.replay import ReplayConfig, generate_replay
from tests.postgres import scratch_database

ROOT = Path(__file__).resolve().parents[2]
DAYS = ["2026-11-02", "2026-11-03"]
pytestmark = pytest.mark.postgres


def _materialize(env: dict, selection: str, partition: str | None = None) -> subprocess.Popen:
    """`dagster asset materialize` on the code location, as an operator (or the daemon's run worker) runs it."""
    argv = [str(Path(sys.executable).parent / "dagster"), "asset", "materialize", "-m", "orchestration.definitions",
            "--select", selection, *(["--partition", partition] if partition else [])]
    return subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _finish(process: subprocess.Popen) -> str:
    output, _ = process.communicate(timeout=300)
    assert process.returncode == 0, output[-3000:]
    return output


def test_two_partitions_run_at_once_on_the_multiprocess_executor_into_postgres(tmp_path, monkeypatch):
    data = tmp_path / "data"
    generate_replay(data / "replay", ReplayConfig(seed=3, markets=2, days=4, tweets_per_day=400))
    home = tmp_path / "dagster-home"
    home.mkdir()
    shutil.copy(ROOT / "deploy" / "dagster.yaml", home / "dagster.yaml")
    with scratch_database() as name:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SENTITRADE_", "DAGSTER_"))}
        env.update(DAGSTER_HOME=str(home), DAGSTER_PG_HOST="127.0.0.1", DAGSTER_PG_USER="postgres", DAGSTER_PG_PASSWORD="",
                   DAGSTER_PG_DB=name, SENTITRADE_DATA_DIR=str(data))
        _finish(_materialize(env, "markets"))
        runs = [_materialize(env, "raw_tweets,scored_tweets,price_history", day) for day in DAYS]
        outputs = [_finish(run) for run in runs]

        for variable in ("DAGSTER_PG_HOST", "DAGSTER_PG_USER", "DAGSTER_PG_PASSWORD", "DAGSTER_PG_DB"):
            monkeypatch.setenv(variable, env[variable])
        instance = DagsterInstance.from_config(str(home))
        try:
            assert type(instance.run_storage).__name__ == "PostgresRunStorage"
            records = instance.get_run_records(RunsFilter(statuses=[DagsterRunStatus.SUCCESS]))
            daily = [r for r in records if r.dagster_run.tags.get("dagster/partition") in DAYS]
            assert sorted(r.dagster_run.tags["dagster/partition"] for r in daily) == DAYS
            first, second = sorted(daily, key=lambda r: r.start_time)
            assert second.start_time < first.end_time, "the two partitions' runs did not overlap"
            for key in ("raw_tweets", "scored_tweets", "price_history"):
                assert instance.get_materialized_partitions(AssetKey(key)) == set(DAYS), key
        finally:
            instance.dispose()
        assert all("multiprocess executor" in output for output in outputs)
        with psycopg.connect(f"postgresql://postgres@127.0.0.1:5432/{name}") as con:
            stored = dict(con.execute(
                "select run_id, count(*) from event_logs where dagster_event_type = 'ASSET_MATERIALIZATION' group by run_id").fetchall())
        assert {stored.get(r.dagster_run.run_id) for r in daily} == {3}  # three assets per partition's run
