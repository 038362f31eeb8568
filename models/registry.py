"""MLflow bookkeeping for the signal models: runs, registered versions, the evidence on each, the aliases.

Every model, learned or baseline, becomes one MLflow run and one new version of a single registered
model, so they compete under one name and MLflow's compare-runs shows them side by side (the artifacts
keep the same names on every run). Boosted trees are stored in their native flavour (the trader scores
through the booster directly); baselines as pyfunc models answering P(up). Each version is tagged with
what it was trained on and the evidence a promoter weighs; who is champion is said only by the aliases.
The run keeps the exact test span, so a backtest or replay can be rerun on data the model never saw.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import numbers
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import mlflow
import numpy as np
import pandas as pd
import sklearn
from lightgbm import LGBMModel
from mlflow import MlflowClient
from mlflow.entities import Metric, RunTag
from mlflow.exceptions import MlflowException
from mlflow.models import infer_signature
from mlflow.protos.databricks_pb2 import RESOURCE_ALREADY_EXISTS, RESOURCE_DOES_NOT_EXIST, ErrorCode
from xgboost import XGBModel

from models.baselines import BASELINE_KINDS, ProbabilityModel
from models.features import FEATURE_COLUMNS

if TYPE_CHECKING:
    from models.train import Estimator
    from sentitrade.settings import Settings

CHAMPION = "champion"
TEST_SPAN = "test_span"  # tag on each version (its own span) and on the registered model (the current one)
# The metrics promotion reads; each is also a version tag, so the registry UI shows the evidence.
EVIDENCE_METRICS = ("validation_auc_mean", "validation_auc_std", "validation_return", "validation_sharpe_daily", "test_return")
ARTIFACT_NAMES = (
    "evaluation/calibration.png",
    "evaluation/folds.csv",
    "evaluation/feature_importances.csv",
    "backtest/equity.png",
    "backtest/trades.csv",
    "backtest/cost_sensitivity.csv",
)
_REPO = Path(__file__).resolve().parent.parent


class NoChampionError(LookupError):
    """No version of the model carries the `champion` alias yet."""


@dataclass(frozen=True)
class ModelVersionRef:
    """A registered version and the MLflow run that produced it."""

    name: str
    version: str
    run_id: str
    kind: str


@dataclass(frozen=True)
class ChampionModel:
    """A loaded version (the champion, or a candidate under backtest), ready to score.

    It carries the span it was held out on, so backtests and replays run only on unseen data.
    """

    name: str
    version: str
    run_id: str
    kind: str
    predict_proba: Callable[[pd.DataFrame], np.ndarray]  # P(up) per row
    feature_columns: tuple[str, ...]
    holdout_start: pd.Timestamp
    holdout_end: pd.Timestamp


def configure(tracking_uri: str, artifact_root: str, experiment: str = "sentitrade") -> str:
    """Point MLflow at the store, create `experiment` with `artifact_root` if missing; return its id.

    Also quiets MLflow's chatter (the schema migration log, GitPython's probe, download progress
    bars) so the CLI, Dagster and trader logs show our messages, not MLflow's.
    """
    os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")  # no phoning home from a trading box
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    for noisy in ("alembic", "mlflow.store.db.utils", "mlflow.models.model"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # Its one warning is that a pyfunc is cloudpickled: ours are this project's own baselines, loaded only here.
    logging.getLogger("mlflow.pyfunc").setLevel(logging.ERROR)
    mlflow.set_tracking_uri(tracking_uri)
    client = MlflowClient(tracking_uri)
    existing = client.get_experiment_by_name(experiment)
    if existing is None:
        experiment_id = client.create_experiment(experiment, artifact_location=artifact_root)
    else:
        experiment_id = existing.experiment_id
        if existing.lifecycle_stage == "deleted":
            client.restore_experiment(experiment_id)
    mlflow.set_experiment(experiment_id=experiment_id)
    return experiment_id


def register_version(
    estimator: Estimator,
    *,
    model_name: str,
    train: pd.DataFrame,
    test_span: tuple[pd.Timestamp, pd.Timestamp],
    horizon: timedelta,
    scorer_version: str,
    params: dict | None = None,
    metrics: dict | None = None,
    tags: dict | None = None,
    artifacts: dict[str, Path] | None = None,
) -> ModelVersionRef:
    """Record one fitted model (params, metrics, files, the model) as a run and a new version of `model_name`.

    `test_span` is [start, end) of the untouched trailing days; `train` the rows it was fit on, from
    which the training window and a data fingerprint are tagged. The signature is inferred from the
    features as float64 and P(up) as float64, which is what the trader consumes.
    """
    x_train = train[FEATURE_COLUMNS].astype("float64")
    p_up = pd.DataFrame({"p_up": estimator.predict_proba(x_train)}, dtype="float64")
    window = {"train_start": train["ts"].min().isoformat(), "train_end": train["ts"].max().isoformat()}
    run_params = {
        **estimator.params(),
        **(params or {}),
        "features": ",".join(FEATURE_COLUMNS),
        "n_train_rows": len(train),
        **window,
        "holdout_start": test_span[0].isoformat(),
        "holdout_end": test_span[1].isoformat(),
    }
    version_tags = {
        "kind": estimator.kind,
        "baseline": str(estimator.kind in BASELINE_KINDS).lower(),
        "feature_set": ",".join(FEATURE_COLUMNS),
        "horizon_minutes": str(int(horizon / timedelta(minutes=1))),
        **window,
        "data_fingerprint": data_fingerprint(train),
        "git_commit": git_commit(),
        "scorer_version": scorer_version,
        TEST_SPAN: span_text(test_span),
        **_evidence_tags(metrics or {}),
        **(tags or {}),
    }
    with mlflow.start_run(run_name=f"{estimator.kind}-{test_span[0]:%Y%m%d}") as run:
        mlflow.set_tags({**version_tags, **_notes(metrics or {})})
        mlflow.log_params(run_params)
        mlflow.log_metrics(_numbers(metrics or {}))
        info = _log_model(estimator, name="model", signature=infer_signature(x_train, p_up), input_example=x_train.head(5))
    _log_artifacts(run.info.run_id, artifacts or {})
    client = MlflowClient()
    ensure_registered_model(client, model_name, "P(YES price rises) signal models and the baselines they must beat.")
    version = client.create_model_version(
        model_name, source=info.model_uri, run_id=run.info.run_id, tags=version_tags, model_id=info.model_id
    )
    return ModelVersionRef(name=model_name, version=str(version.version), run_id=run.info.run_id, kind=estimator.kind)


def _native_tree(estimator: Estimator) -> XGBModel | LGBMModel | None:
    """The fitted classifier behind boosted trees (`BoostedTrees.model`); None for any other estimator."""
    model = getattr(estimator, "model", None)
    return model if isinstance(model, (XGBModel, LGBMModel)) else None


def _log_model(estimator: Estimator, **kwargs) -> mlflow.models.model.ModelInfo:
    """Log trees with their native flavour, anything else as a P(up) pyfunc, with explicit pip requirements.

    Naming the packages skips MLflow's requirement inference, which reloads the model in a subprocess
    (seconds per run) and records whatever this process happens to have imported (pytest, torch, ...).
    The pyfunc pickles the estimator by reference, so loading it needs this project importable (as the
    trader and the backtest have it).
    """
    sklearn_pin = f"scikit-learn=={sklearn.__version__}"
    tree = _native_tree(estimator)
    if isinstance(tree, XGBModel):
        requirements = [*mlflow.xgboost.get_default_pip_requirements(), sklearn_pin]
        return mlflow.xgboost.log_model(tree, pip_requirements=requirements, **kwargs)
    if isinstance(tree, LGBMModel):
        requirements = [*mlflow.lightgbm.get_default_pip_requirements(include_skops=True), sklearn_pin]
        return mlflow.lightgbm.log_model(tree, serialization_format="skops", pip_requirements=requirements, **kwargs)
    requirements = [f"mlflow=={mlflow.__version__}", sklearn_pin, f"pandas=={pd.__version__}", f"numpy=={np.__version__}"]
    return mlflow.pyfunc.log_model(python_model=ProbabilityModel(estimator), pip_requirements=requirements, **kwargs)


def _log_artifacts(run_id: str, artifacts: dict[str, Path]) -> None:
    """Attach files under their common names (`backtest/equity.png`, ...), whatever they are called locally."""
    unknown = sorted(set(artifacts) - set(ARTIFACT_NAMES))
    if unknown:
        raise ValueError(f"unknown artifact name(s) {unknown}; use one of {ARTIFACT_NAMES}")
    client = MlflowClient()
    for name, path in artifacts.items():
        folder, filename = name.split("/")
        with tempfile.TemporaryDirectory() as tmp:
            named = Path(tmp) / filename
            shutil.copyfile(path, named)
            client.log_artifact(run_id, str(named), artifact_path=folder)


def data_fingerprint(rows: pd.DataFrame) -> str:
    """A short hash of the rows' values (columns in name order): same training rows, same fingerprint."""
    hashed = pd.util.hash_pandas_object(rows[sorted(rows.columns)], index=False).to_numpy()
    return hashlib.sha256(hashed.tobytes()).hexdigest()[:16]


def git_commit() -> str:
    """The checkout's commit (with `-dirty` when it has uncommitted changes), or "unknown" outside git."""
    try:
        commit = subprocess.run(["git", "-C", str(_REPO), "rev-parse", "HEAD"], capture_output=True, text=True, check=True)
        status = subprocess.run(["git", "-C", str(_REPO), "status", "--porcelain", "--untracked-files=no"],
                                capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit.stdout.strip() + ("-dirty" if status.stdout.strip() else "")


def span_text(span: tuple[pd.Timestamp, pd.Timestamp]) -> str:
    """A test span as a tag value: `start/end` in ISO 8601 (end exclusive)."""
    return f"{span[0].isoformat()}/{span[1].isoformat()}"


def parse_span(text: str | None) -> tuple[pd.Timestamp, pd.Timestamp] | None:
    if not text:
        return None
    start, end = text.split("/")
    return pd.Timestamp(start), pd.Timestamp(end)


def _numbers(metrics: dict) -> dict[str, float]:
    """The numeric metrics; None (not computed, e.g. a daily Sharpe on too few days) is left out."""
    return {k: float(v) for k, v in metrics.items() if isinstance(v, numbers.Real)}


def _notes(metrics: dict) -> dict[str, str]:
    """Text among the metrics (`sharpe_note`: why a Sharpe is missing), kept as run tags."""
    return {k: v for k, v in metrics.items() if isinstance(v, str)}


def _evidence_tags(metrics: dict) -> dict[str, str]:
    found = _numbers(metrics)
    return {k: f"{found[k]:.6g}" for k in EVIDENCE_METRICS if k in found}


def ensure_registered_model(client: MlflowClient, name: str, description: str) -> None:
    """Create the registered model unless it exists: every training run adds a version to the same one."""
    try:
        client.create_registered_model(name, description=description)
    except MlflowException as exc:
        if exc.error_code != ErrorCode.Name(RESOURCE_ALREADY_EXISTS):
            raise


def log_evaluation(run_id: str, metrics: dict, artifacts: dict[str, Path] | None = None, *,
                   settings: Settings | None = None) -> None:
    """Attach validation or backtest metrics and files to a version's run, and refresh its evidence tags.

    `settings` are those the backtest ran with: their cost, strategy and risk sections are tagged as
    compact JSON, so a version's numbers can be reproduced. The version's test span becomes the
    registered model's current one unless a later span is already current (the newest research run
    defines what "the test span" is; older versions' evidence then no longer counts for promotion).
    """
    client = MlflowClient()
    now = int(pd.Timestamp.now("UTC").timestamp() * 1000)
    client.log_batch(run_id, metrics=[Metric(k, v, now, 0) for k, v in _numbers(metrics).items()],
                     tags=[RunTag(k, v) for k, v in _notes(metrics).items()])
    _log_artifacts(run_id, artifacts or {})
    tags = _evidence_tags(metrics)
    if settings is not None:
        tags |= {"costs": settings.costs.model_dump_json(), "strategy": settings.strategy.model_dump_json(),
                 "risk": settings.risk.model_dump_json()}
    for version in client.search_model_versions(f"run_id = '{run_id}'"):
        for key, value in tags.items():
            client.set_model_version_tag(version.name, version.version, key, value)
        span = parse_span(version.tags.get(TEST_SPAN))
        current = current_test_span(version.name)
        if span is not None and (current is None or span[0] >= current[0]):
            client.set_registered_model_tag(version.name, TEST_SPAN, span_text(span))


def versions_without_backtest(model_name: str) -> list[tuple[str, dict[str, str]]]:
    """(version, tags) of every version with no `test_return` evidence yet, oldest first: registered
    outside the research job, or by a research run that failed before its backtest."""
    try:
        found = MlflowClient().search_model_versions(f"name = '{model_name}'")
    except MlflowException as exc:
        if exc.error_code != ErrorCode.Name(RESOURCE_DOES_NOT_EXIST):
            raise
        return []
    return sorted(((str(v.version), dict(v.tags)) for v in found if "test_return" not in v.tags), key=lambda vt: int(vt[0]))


def current_test_span(model_name: str) -> tuple[pd.Timestamp, pd.Timestamp] | None:
    """The span the latest research run tested on (the registered model's tag); None before any evaluation."""
    try:
        return parse_span(MlflowClient().get_registered_model(model_name).tags.get(TEST_SPAN))
    except MlflowException as exc:
        if exc.error_code != ErrorCode.Name(RESOURCE_DOES_NOT_EXIST):
            raise
        return None


def aliases(model_name: str) -> dict[str, str]:
    """Every alias of the registered model and the version it points at; empty if there is no such model."""
    try:
        found = MlflowClient().get_registered_model(model_name).aliases
    except MlflowException as exc:
        if exc.error_code != ErrorCode.Name(RESOURCE_DOES_NOT_EXIST):
            raise
        return {}
    return {alias: str(version) for alias, version in found.items()}


def champion_version(model_name: str) -> str | None:
    """The version the `champion` alias points at; None if there is none or no such model."""
    return aliases(model_name).get(CHAMPION)


def load_champion(model_name: str) -> ChampionModel:
    """Load the version behind `models:/<name>@champion`, or say how to get one.

    The alias is resolved once and that exact version is loaded, so a promotion landing mid-call
    cannot pair one version's metadata with another's weights.
    """
    version = champion_version(model_name)
    if version is None:
        raise NoChampionError(
            f"registered model {model_name!r} has no {CHAMPION!r} version yet; run `sentitrade demo` "
            "or materialize the `promotion` asset to train, backtest and promote one"
        )
    return load_version(model_name, version)


def _probability(model: mlflow.pyfunc.PyFuncModel, columns: tuple[str, ...]) -> Callable[[pd.DataFrame], np.ndarray]:
    """P(up) per row of a frame holding `columns`, however the version was stored.

    Trees score through the booster itself: the same numbers as the wrapper's `predict_proba`, without
    its per-call validation (about 20 ms a call against 0.4 ms on 20 rows), which a trader pays per
    round. A pyfunc baseline answers P(up) from its own `predict` (a tree's pyfunc `predict` would
    return class labels instead).
    """
    flavors = model.metadata.flavors
    if "xgboost" in flavors:  # binary:logistic predicts the probability, with the trees up to early stopping's best
        booster = model.get_raw_model().get_booster()
        best = booster.attr("best_iteration")
        score = functools.partial(booster.inplace_predict, iteration_range=(0, int(best) + 1 if best is not None else 0))
    elif "lightgbm" in flavors:  # cross_entropy predicts the probability (up to the best iteration, if any)
        score = functools.partial(model.get_raw_model().booster_.predict, num_threads=1)
    else:
        return lambda frame: model.predict(frame[list(columns)].astype("float64"))["p_up"].to_numpy(dtype="float64")
    return lambda frame: score(frame[list(columns)].to_numpy(dtype="float64")).astype("float64")


def load_version(model_name: str, version: str) -> ChampionModel:
    """Load one registered version with what scoring needs (also used to backtest a candidate).

    The feature list comes from the training run, so scoring uses the columns it was fit on.
    """
    client = MlflowClient()
    registered = client.get_model_version(model_name, version)
    run = client.get_run(registered.run_id)
    params = run.data.params
    columns = tuple(params["features"].split(","))
    model = mlflow.pyfunc.load_model(f"models:/{model_name}/{version}")
    return ChampionModel(
        name=model_name,
        version=str(version),
        run_id=run.info.run_id,
        kind=registered.tags.get("kind") or run.data.tags["kind"],
        predict_proba=_probability(model, columns),
        feature_columns=columns,
        holdout_start=pd.Timestamp(params["holdout_start"]),
        holdout_end=pd.Timestamp(params["holdout_end"]),
    )
