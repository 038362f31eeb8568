"""Registration, promotion and champion loading against a real (SQLite + local folder) MLflow store."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient

from models.features import FEATURE_COLUMNS
from models.registry import (
    Candidate,
    NoChampionError,
    champion_version,
    configure,
    load_champion,
    load_version,
    log_and_register,
    log_backtest,
    promote,
)
from models.train import MODEL_KINDS, evaluate, fit, params_of, walk_forward_split

NAME = "sentitrade-signal-test"
# What configure() exports to the environment (MLflow does so for subprocesses); the store fixture undoes it.
_EXPORTED_ENV = (
    "MLFLOW_TRACKING_URI",
    "MLFLOW_EXPERIMENT_ID",
    "GIT_PYTHON_REFRESH",
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR",
)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """One migrated SQLite store for the module (the first migration takes seconds)."""
    root = tmp_path_factory.mktemp("mlflow")
    with pytest.MonkeyPatch.context() as mp:
        for var in _EXPORTED_ENV:
            mp.delenv(var, raising=False)
        experiment_id = configure(f"sqlite:///{root}/mlflow.db", (root / "artifacts").as_uri())
        yield experiment_id
        mlflow.set_tracking_uri(None)


@pytest.fixture(scope="module")
def split():
    """Four days of 5-minute rows over two markets; `sent_shift` drives the label.

    Some features are missing, as in real data (no 4h return yet, no tweets in the hour): the
    estimators, the input example and the round trip must all cope with NaN.
    """
    rng = np.random.default_rng(7)
    ts = pd.date_range("2024-03-01", periods=4 * 288, freq="5min")
    frame = pd.concat([pd.DataFrame({"market": m, "ts": ts}) for m in ("a", "b")], ignore_index=True)
    for name in FEATURE_COLUMNS:
        frame[name] = rng.normal(size=len(frame))
    frame.loc[frame["ts"] < "2024-03-01 04:00", "ret_4h"] = np.nan
    frame.loc[rng.random(len(frame)) < 0.05, "sent_mean_1h"] = np.nan
    frame["label"] = (2 * frame["sent_shift"] + rng.normal(size=len(frame)) > 0).astype(int)
    frame["fwd_move"] = np.where(frame["label"] == 1, 0.01, -0.01)
    return walk_forward_split(frame, holdout_days=1, horizon=timedelta(minutes=5))


@pytest.fixture(scope="module")
def registered(store, split):
    """Both kinds trained and registered as versions of one model: {kind: (ref, estimator)}."""
    out = {}
    for kind in MODEL_KINDS:
        estimator = fit(kind, split.train)
        metrics = evaluate(estimator, split.holdout)
        out[kind] = (log_and_register(kind, estimator, split, metrics, NAME, {"data_days": 4}), estimator)
    return out


def test_configure_is_idempotent(store):
    experiment = MlflowClient().get_experiment(store)
    assert experiment.name == "sentitrade" and experiment.artifact_location.endswith("/artifacts")
    assert configure(mlflow.get_tracking_uri(), experiment.artifact_location) == store


def test_both_kinds_are_versions_of_one_model(registered, split):
    refs = {kind: ref for kind, (ref, _) in registered.items()}
    assert [refs[k].version for k in MODEL_KINDS] == ["1", "2"]
    client = MlflowClient()
    for kind, ref in refs.items():
        assert (ref.name, ref.kind) == (NAME, kind)
        version = client.get_model_version(NAME, ref.version)
        assert version.run_id == ref.run_id and version.tags["kind"] == kind

        run = client.get_run(ref.run_id)
        assert run.data.tags["kind"] == kind
        params = run.data.params
        assert params["max_depth"] == str(params_of(kind)["max_depth"])
        assert params["data_days"] == "4"
        assert params["features"] == ",".join(FEATURE_COLUMNS)
        assert pd.Timestamp(params["holdout_start"]) == split.holdout_start == pd.Timestamp("2024-03-04")
        assert pd.Timestamp(params["holdout_end"]) == pd.Timestamp("2024-03-05")
        metrics = run.data.metrics
        assert {"holdout_auc", "holdout_logloss", "holdout_accuracy", "holdout_n_rows", "train_auc"} <= set(metrics)
        assert metrics["holdout_auc"] > 0.7 and metrics["holdout_n_rows"] == len(split.holdout)

        info = mlflow.models.get_model_info(f"models:/{NAME}/{ref.version}")
        assert info.signature.inputs.input_names() == FEATURE_COLUMNS
        assert [t.name for t in info.signature.inputs.input_types()] == ["double"] * len(FEATURE_COLUMNS)
        assert info.signature.outputs.input_names() == ["p_up"]
        assert [t.name for t in info.signature.outputs.input_types()] == ["double"]
        assert info.saved_input_example_info is not None
        requirements = Path(mlflow.pyfunc.get_model_dependencies(f"models:/{NAME}/{ref.version}")).read_text()
        assert kind in requirements and "scikit-learn" in requirements and "pytest" not in requirements


def test_log_backtest_attaches_metrics_and_the_equity_curve(registered, tmp_path):
    ref, _ = registered["xgboost"]
    png = tmp_path / "equity.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n")
    log_backtest(ref.run_id, {"sharpe": 1.5, "total_return": 0.12}, png)
    client = MlflowClient()
    metrics = client.get_run(ref.run_id).data.metrics
    assert metrics["backtest_sharpe"] == 1.5 and metrics["backtest_total_return"] == 0.12
    assert [a.path for a in client.list_artifacts(ref.run_id, "backtest")] == ["backtest/equity.png"]


def test_promote_picks_the_best_qualifying_backtest(registered):
    client = MlflowClient()
    # The AUC gate comes first: a dazzling backtest below it does not count.
    gated = [Candidate("1", 0.50, 9.0, 9.0), Candidate("2", 0.60, 0.1, 0.01)]
    assert promote(NAME, gated, min_auc=0.55) == "2"
    assert champion_version(NAME) == "2"
    assert client.get_model_version(NAME, "1").tags["validation_status"].startswith("rejected")
    # Among qualifiers, higher Sharpe wins over higher return ...
    assert promote(NAME, [Candidate("1", 0.70, 0.8, 0.30), Candidate("2", 0.68, 1.4, 0.05)], 0.55) == "2"
    # ... and equal Sharpe falls to total return.
    assert promote(NAME, [Candidate("1", 0.60, 1.0, 0.20), Candidate("2", 0.60, 1.0, 0.10)], 0.55) == "1"
    assert champion_version(NAME) == "1"
    assert client.get_model_version(NAME, "1").tags["validation_status"] == "champion"
    assert client.get_model_version(NAME, "2").tags["validation_status"] == "passed"


def test_promote_keeps_the_champion_when_nothing_qualifies(registered):
    promote(NAME, [Candidate("2", 0.70, 1.0, 0.1)], min_auc=0.55)
    weak = [Candidate("1", 0.52, 5.0, 1.0), Candidate("2", 0.51, 6.0, 2.0)]
    assert promote(NAME, weak, min_auc=0.55) is None
    assert champion_version(NAME) == "2"


@pytest.mark.parametrize("kind", MODEL_KINDS)
def test_load_champion_round_trips_probabilities(registered, split, kind):
    ref, estimator = registered[kind]
    promote(NAME, [Candidate(ref.version, 0.70, 1.0, 0.1)], min_auc=0.55)
    champion = load_champion(NAME)
    assert (champion.name, champion.version, champion.run_id, champion.kind) == (NAME, ref.version, ref.run_id, kind)
    assert champion.feature_columns == tuple(FEATURE_COLUMNS)
    assert (champion.holdout_start, champion.holdout_end) == (split.holdout_start, split.holdout_end)
    holdout = split.holdout.sample(frac=1, axis=1, random_state=0)  # column order must not matter
    expected = estimator.predict_proba(split.holdout[FEATURE_COLUMNS])[:, 1]
    np.testing.assert_allclose(champion.predict_proba(holdout), expected, rtol=0, atol=1e-9)
    # A candidate loads the same way before any promotion (the backtest does this).
    candidate = load_version(NAME, ref.version)
    assert (candidate.version, candidate.kind) == (ref.version, kind)
    np.testing.assert_allclose(candidate.predict_proba(holdout), expected, rtol=0, atol=1e-9)


def test_no_champion_tells_the_user_what_to_run(store):
    MlflowClient().create_registered_model("never-promoted")
    for name in ("never-promoted", "never-registered"):
        assert champion_version(name) is None
        with pytest.raises(NoChampionError, match="sentitrade demo") as excinfo:
            load_champion(name)
        assert isinstance(excinfo.value, LookupError) and "promotion" in str(excinfo.value)
