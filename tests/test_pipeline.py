"""The whole path on a small replay: Dagster assets, MLflow registry, paper trader, one definition of features."""

from __future__ import annotations

import json

import duckdb
import pandas as pd
import pytest
import sqlalchemy as sa
from dagster import AssetKey, DagsterInstance
from mlflow import MlflowClient

from models.features import FEATURE_COLUMNS
from models.research import KINDS

EVERY_ASSET = [
    "raw_tweets", "scored_tweets", "markets", "price_history", "stg_scored_tweets", "stg_prices", "stg_markets",
    "sentiment_bars", "decision_times", "features", "labels", "training_set",
    *(f"{kind}_{stage}" for kind in KINDS for stage in ("model", "backtest")), "promotion",
]


def test_every_asset_is_materialized_in_the_dagster_instance(signal_run):
    data, _ = signal_run
    instance = DagsterInstance.from_config(str(data / "dagster"))
    try:
        missing = [k for k in EVERY_ASSET if instance.get_latest_materialization_event(AssetKey(k)) is None]
        assert missing == []
        days = instance.get_materialized_partitions(AssetKey("scored_tweets"))
        assert days == {f"2026-11-0{d}" for d in range(1, 7)}
    finally:
        instance.dispose()


def test_planted_signal_is_found_and_the_champion_beat_every_baseline(signal_run):
    data, report = signal_run
    assert report["champion_version"] is not None
    assert max(report["auc_holdout"].values()) >= 0.60, report
    assert set(report["baselines"]) == {"sentiment_rule", "buy_and_hold", "one_feature_logistic"}
    client = MlflowClient(f"sqlite:///{data / 'mlflow' / 'mlflow.db'}")
    model = client.get_registered_model("sentitrade-signal")
    assert str(model.aliases["champion"]) == report["champion_version"]
    versions = client.search_model_versions("name='sentitrade-signal'")
    assert sorted(v.tags["kind"] for v in versions) == sorted(KINDS)
    evidence = {v.tags["kind"]: client.get_run(v.run_id).data.metrics for v in versions}
    champion = client.get_model_version("sentitrade-signal", report["champion_version"])
    mine = evidence[champion.tags["kind"]]
    # promotion read the validation folds, and the champion beat every baseline there
    assert all(mine["validation_return"] > evidence[b]["validation_return"] for b in report["baselines"])
    assert mine["validation_auc_mean"] >= 0.60 and mine["test_return"] == pytest.approx(report["champion_test_return"], abs=1e-6)
    assert champion.tags["verdict"] == "promotable" and champion.tags["test_span"] == model.tags["test_span"]
    for tag in ("feature_set", "horizon_minutes", "train_start", "data_fingerprint", "git_commit", "scorer_version", "costs"):
        assert champion.tags[tag], tag
    artifacts = {a.path for folder in ("backtest", "evaluation") for a in client.list_artifacts(champion.run_id, folder)}
    assert {"backtest/equity.png", "backtest/trades.csv", "backtest/cost_sensitivity.csv", "evaluation/calibration.png",
            "evaluation/folds.csv", "evaluation/feature_importances.csv"} <= artifacts


def test_nothing_is_found_without_a_signal(control_run):
    _, report = control_run
    for kind, auc in report["auc_holdout"].items():  # 2 days of overlapping 60-minute labels: a few hundred independent rows
        assert 0.40 <= auc <= 0.60, (kind, auc)
    assert report["champion_version"] is None  # no learned version beats the baselines, nothing trades
    assert report["fills"] == 0 and report["champion_test_return"] is None


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
