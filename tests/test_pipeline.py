"""The whole path on a small replay: Dagster assets, MLflow registry, paper trader, one definition of features."""

from __future__ import annotations

import json

import duckdb
import pandas as pd
import sqlalchemy as sa
from dagster import AssetKey, DagsterInstance
from mlflow import MlflowClient

from models.features import FEATURE_COLUMNS

EVERY_ASSET = [
    "raw_tweets", "scored_tweets", "markets", "price_history", "stg_scored_tweets", "stg_prices", "stg_markets",
    "sentiment_bars", "decision_times", "features", "labels", "training_set", "xgboost_model", "lightgbm_model",
    "xgboost_backtest", "lightgbm_backtest", "promotion",
]


def test_every_asset_is_materialized_in_the_dagster_instance(signal_run):
    data, _ = signal_run
    instance = DagsterInstance.from_config(str(data / "dagster"))
    try:
        missing = [k for k in EVERY_ASSET if instance.get_latest_materialization_event(AssetKey(k)) is None]
        assert missing == []
        days = instance.get_materialized_partitions(AssetKey("scored_tweets"))
        assert days == {"2026-11-01", "2026-11-02", "2026-11-03", "2026-11-04", "2026-11-05"}
    finally:
        instance.dispose()


def test_planted_signal_is_found_and_champion_is_registered(signal_run):
    data, report = signal_run
    assert report["champion_version"] is not None
    champion_auc = max(report["auc_holdout"].values())
    assert champion_auc >= 0.60, report
    client = MlflowClient(f"sqlite:///{data / 'mlflow' / 'mlflow.db'}")
    model = client.get_registered_model("sentitrade-signal")
    assert str(model.aliases["champion"]) == report["champion_version"]
    versions = client.search_model_versions("name='sentitrade-signal'")
    assert sorted(v.tags["kind"] for v in versions) == ["lightgbm", "xgboost"]
    champion = client.get_model_version("sentitrade-signal", report["champion_version"])
    metrics = client.get_run(champion.run_id).data.metrics
    assert metrics["holdout_auc"] >= 0.60
    assert {"backtest_sharpe", "backtest_total_return", "backtest_max_drawdown"} <= metrics.keys()
    artifacts = [a.path for a in client.list_artifacts(champion.run_id, "backtest")]
    assert any(path.endswith(".png") for path in artifacts)


def test_nothing_is_found_without_a_signal(control_run):
    _, report = control_run
    for kind, auc in report["auc_holdout"].items():
        assert 0.45 <= auc <= 0.55, (kind, auc)
    assert report["champion_version"] is None  # nothing clears the promotion floor, nothing trades
    assert report["fills"] == 0


def _ledger(data) -> sa.Engine:
    return sa.create_engine(f"sqlite:///{data / 'ledger.db'}")


def test_paper_trader_used_the_champion_and_filled(signal_run):
    data, report = signal_run
    with _ledger(data).connect() as con:
        run = con.execute(sa.text("select run_id, feed, execution, status from runs")).one()
        versions = con.execute(sa.text("select distinct model_version from decisions where run_id = :r"), {"r": run.run_id}).scalars().all()
        fills = con.execute(sa.text("select count(*) from fills where run_id = :r"), {"r": run.run_id}).scalar()
    assert (run.feed, run.execution, run.status) == ("replay", "paper", "finished")
    assert versions == [report["champion_version"]]
    assert fills == report["fills"] >= 1


def test_trader_features_equal_the_offline_feature_table(signal_run):
    """One definition of each feature: the trader's rows equal dbt's rows at the same decision times."""
    data, _ = signal_run
    with _ledger(data).connect() as con:
        logged = pd.read_sql("select features from decisions", con)
    live = pd.DataFrame([json.loads(f) for f in logged["features"]])
    live["ts"] = pd.to_datetime(live["ts"])
    with duckdb.connect(str(data / "warehouse.duckdb"), read_only=True) as con:
        offline = con.sql("select * from features").df()
    joined = live.merge(offline, on=["market", "ts"], suffixes=("_live", "_offline"), validate="one_to_one")
    assert len(joined) == len(live) >= 500
    for column in FEATURE_COLUMNS:
        diff = (joined[f"{column}_live"] - joined[f"{column}_offline"]).abs().max()
        assert diff <= 1e-9, (column, diff)
