"""Nothing a user imported is lost when the replay's day is materialized: the raw_tweets asset replaces only
the replay's own rows of its partition (the UI's Materialize button, the daily schedule, a demo re-run)."""

from __future__ import annotations

import os
from datetime import date
import subprocess
import sys
from pathlib import Path

from connectors.lake import SOURCE, Lake
from connectors.replay import ReplayConfig, generate_replay
from models.ingest.landing import TABLE
from sentitrade.settings import Settings
from tests.conftest import last_json, run_cli

ROOT = Path(__file__).resolve().parents[2]
DAY = "2026-11-02"


def _materialize(data: Path, home: Path) -> None:
    """`dagster asset materialize` on the code location in local mode: a run in the instance, executed on the
    definitions' own resources, as a run launched from the UI is."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SENTITRADE_", "DAGSTER_"))}
    env.update(SENTITRADE_DATA_DIR=str(data), DAGSTER_HOME=str(home))
    done = subprocess.run([str(Path(sys.executable).parent / "dagster"), "asset", "materialize", "-m", "orchestration.definitions",
                           "--select", "raw_tweets", "--partition", DAY], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]


def test_imported_tweets_of_a_replay_day_survive_its_materialization(tmp_path):
    data, home = tmp_path / "data", tmp_path / "dagster"
    home.mkdir()
    generate_replay(data / "replay", ReplayConfig(seed=4, markets=2, days=3, tweets_per_day=300))
    _materialize(data, home)  # the replay's day, landed first
    mine = tmp_path / "mine.csv"
    mine.write_text("id,created_at,text,followers\n" + "".join(
        f"my-{k},{DAY} {10 + k % 10}:{k % 60:02d}:00,my own tweet number {k} about the fed,{100 + k}\n" for k in range(40)))
    imported = run_cli("ingest", "tweets", "--from", str(mine), "--market", "fed", "--data-dir", str(data))
    assert imported.returncode == 0, imported.stderr
    assert last_json(imported.stdout)["landed"] == 40

    lake = Lake(Settings(data_dir=data).lake_dir)
    before = lake.read(TABLE, date.fromisoformat(DAY))
    replay_ids = {t for t, s in zip(before["tweet_id"].to_pylist(), before[SOURCE].to_pylist()) if s == "replay"}
    assert replay_ids
    for _ in range(2):  # materialized again, twice: the import is kept, the replay's rows replaced, nothing doubled
        _materialize(data, home)
        after = lake.read(TABLE, date.fromisoformat(DAY))
        ids = after["tweet_id"].to_pylist()
        assert {f"my-{k}" for k in range(40)} <= set(ids) and replay_ids <= set(ids)
        assert len(ids) == len(set(ids)) == len(replay_ids) + 40
        sources = dict(zip(ids, after[SOURCE].to_pylist()))
        assert {sources[f"my-{k}"] for k in range(40)} == {"import-mine"}
