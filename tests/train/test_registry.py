"""Registration, evidence and loading against a real (SQLite + local folder) MLflow store: trees in their
native flavour, baselines as pyfunc, both under one registered model."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient

from models.baselines import BuyAndHold, OneFeatureLogistic, SentimentRule
from models.features import FEATURE_COLUMNS
from models.registry import (
    NoChampionError,
    champion_version,
    configure,
    current_test_span,
    data_fingerprint,
    load_champion,
    load_version,
    log_evaluation,
    register_version,
)
from models.train import MODEL_KINDS, BoostedTrees
from sentitrade.settings import Settings
from tests.train.conftest import HORIZON, TEST_SPAN, feature_rows

NAME = "sentitrade-signal-test"


@pytest.fixture(scope="module")
def rows():
    """Three training days and the test day after them."""
    frame = feature_rows(7, 4)
    return frame[frame["ts"] < TEST_SPAN[0]].reset_index(drop=True), frame[frame["ts"] >= TEST_SPAN[0]].reset_index(drop=True)


@pytest.fixture(scope="module")
def registered(store, rows):
    """Both tree kinds and the three baselines, fitted and registered as versions of one model: {kind: (ref, estimator)}."""
    train, _ = rows
    out = {}
    for estimator in (*(BoostedTrees(kind) for kind in MODEL_KINDS), SentimentRule(), BuyAndHold(), OneFeatureLogistic()):
        estimator.fit(train)
        metrics = {"validation_auc_mean": 0.61, "validation_auc_std": 0.02, "train_logloss": 0.6}
        ref = register_version(estimator, model_name=NAME, train=train, test_span=TEST_SPAN, horizon=HORIZON,
                               scorer_version="vader-3.3.2", params={"data_days": 4}, metrics=metrics)
        out[estimator.kind] = (ref, estimator)
    return out


def test_configure_is_idempotent(store):
    experiment = MlflowClient().get_experiment(store)
    assert experiment.name == "sentitrade" and experiment.artifact_location.endswith("/artifacts")
    assert configure(mlflow.get_tracking_uri(), experiment.artifact_location) == store


def test_every_kind_is_a_version_of_one_model_tagged_with_what_it_was_trained_on(registered, rows):
    train, _ = rows
    assert [ref.version for ref, _ in registered.values()] == ["1", "2", "3", "4", "5"]
    client = MlflowClient()
    for kind, (ref, estimator) in registered.items():
        version = client.get_model_version(NAME, ref.version)
        assert (ref.name, ref.kind, version.run_id) == (NAME, kind, ref.run_id)
        tags = version.tags
        assert tags["kind"] == kind and tags["baseline"] == str(kind not in MODEL_KINDS).lower()
        assert tags["feature_set"] == ",".join(FEATURE_COLUMNS) and tags["horizon_minutes"] == "15"
        assert (tags["train_start"], tags["train_end"]) == ("2024-03-01T00:00:00", "2024-03-03T23:55:00")
        assert tags["data_fingerprint"] == data_fingerprint(train) and tags["scorer_version"] == "vader-3.3.2"
        assert tags["test_span"] == "2024-03-04T00:00:00/2024-03-05T00:00:00"
        assert float(tags["validation_auc_mean"]) == 0.61 and "validation_return" not in tags
        assert len(tags["git_commit"]) >= 40 or tags["git_commit"] == "unknown"

        run = client.get_run(ref.run_id)
        assert run.data.params["data_days"] == "4" and run.data.params["features"] == ",".join(FEATURE_COLUMNS)
        for key, value in estimator.params().items():
            assert run.data.params[key] == str(value)
        assert run.data.metrics["validation_auc_mean"] == 0.61

        info = mlflow.models.get_model_info(f"models:/{NAME}/{ref.version}")
        assert info.signature.inputs.input_names() == FEATURE_COLUMNS
        assert [t.name for t in info.signature.outputs.input_types()] == ["double"]
        assert set(info.flavors) == ({kind, "python_function"} if kind in MODEL_KINDS else {"python_function"})
        requirements = Path(mlflow.pyfunc.get_model_dependencies(f"models:/{NAME}/{ref.version}")).read_text()
        assert "scikit-learn" in requirements and "pytest" not in requirements


def test_the_fingerprint_follows_the_rows(rows):
    train, _ = rows
    assert data_fingerprint(train) == data_fingerprint(train.copy()[list(reversed(train.columns))])
    changed = train.copy()
    changed.loc[5, "sent_mean_1h"] += 1e-6
    assert data_fingerprint(changed) != data_fingerprint(train)


@pytest.mark.parametrize("kind", [*MODEL_KINDS, "sentiment_rule", "buy_and_hold", "one_feature_logistic"])
def test_a_loaded_version_scores_as_the_fitted_estimator(registered, rows, kind):
    ref, estimator = registered[kind]
    _, test = rows
    loaded = load_version(NAME, ref.version)
    assert (loaded.name, loaded.version, loaded.run_id, loaded.kind) == (NAME, ref.version, ref.run_id, kind)
    assert loaded.feature_columns == tuple(FEATURE_COLUMNS)
    assert (loaded.holdout_start, loaded.holdout_end) == TEST_SPAN
    shuffled = test.sample(frac=1, axis=1, random_state=0)  # column order must not matter
    p_up = loaded.predict_proba(shuffled)
    assert p_up.dtype == np.float64 and p_up.shape == (len(test),)
    np.testing.assert_allclose(p_up, estimator.predict_proba(test), rtol=0, atol=1e-9)


def test_trees_load_through_the_booster_fast_path(registered, rows):
    """The trader scores every round: a tree version must not go through pyfunc's per-call schema checks."""
    _, test = rows
    for kind in MODEL_KINDS:
        predict = load_version(NAME, registered[kind][0].version).predict_proba
        assert any("Booster" in repr(cell.cell_contents) for cell in predict.__closure__)


def test_log_evaluation_attaches_metrics_files_settings_and_the_current_test_span(registered, tmp_path):
    ref, _ = registered["xgboost"]
    png, trades = tmp_path / "xgboost-v1-equity.png", tmp_path / "fills.csv"
    png.write_bytes(b"\x89PNG\r\n\x1a\n")
    trades.write_text("ts,market,side\n")
    metrics = {"validation_return": 0.031, "validation_sharpe_daily": 1.2, "test_return": -0.004}
    log_evaluation(ref.run_id, metrics, {"backtest/equity.png": png, "backtest/trades.csv": trades}, settings=Settings())

    client = MlflowClient()
    assert {k: client.get_run(ref.run_id).data.metrics[k] for k in metrics} == metrics
    assert sorted(a.path for a in client.list_artifacts(ref.run_id, "backtest")) == ["backtest/equity.png", "backtest/trades.csv"]
    tags = client.get_model_version(NAME, ref.version).tags
    assert float(tags["validation_return"]) == 0.031 and float(tags["test_return"]) == -0.004
    assert json.loads(tags["costs"])["half_spread"] == Settings().costs.half_spread
    assert json.loads(tags["strategy"])["buy_above"] == 0.65 and "max_total_exposure" in json.loads(tags["risk"])
    assert current_test_span(NAME) == TEST_SPAN


def test_an_older_evaluation_does_not_move_the_current_test_span_back(registered, rows):
    train, _ = rows
    old = BuyAndHold().fit(train)
    older_span = (pd.Timestamp("2024-03-02"), pd.Timestamp("2024-03-03"))
    ref = register_version(old, model_name=NAME, train=train, test_span=older_span, horizon=HORIZON, scorer_version="v")
    log_evaluation(ref.run_id, {"test_return": 0.0})
    assert current_test_span(NAME) == TEST_SPAN


def test_unknown_artifact_names_are_refused(registered, tmp_path):
    ref, _ = registered["buy_and_hold"]
    (tmp_path / "x.png").write_bytes(b"")
    with pytest.raises(ValueError, match="backtest/equity.png"):
        log_evaluation(ref.run_id, {}, {"equity.png": tmp_path / "x.png"})


def test_no_champion_tells_the_user_what_to_run(store):
    MlflowClient().create_registered_model("never-promoted")
    for name in ("never-promoted", "never-registered"):
        assert champion_version(name) is None
        with pytest.raises(NoChampionError, match="sentitrade demo") as excinfo:
            load_champion(name)
        assert isinstance(excinfo.value, LookupError) and "promotion" in str(excinfo.value)
