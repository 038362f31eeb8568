"""Train and evaluate the up-move classifiers on a time-ordered split.

The label says whether a market's YES price rises over the next few minutes, so neighbouring rows
share information and a random split would leak the future into training. We therefore hold out the
trailing whole UTC days and purge every training row whose label window reaches into them. The
estimators are small, seeded gradient-boosted trees: the signal is weak and noisy, so capacity is kept
modest, and the same data must always give the same model (and the same promotion decision).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import numpy as np
import pandas as pd
from lightgbm import LGBMClassifier
from sklearn.metrics import accuracy_score, log_loss, roc_auc_score
from xgboost import XGBClassifier

from models.features import FEATURE_COLUMNS

MODEL_KINDS = ("xgboost", "lightgbm")

SEED = 42

# Shallow trees, a slow learning rate, row/column subsampling and a floor on leaf size: a few hundred
# weak learners that can pick up a consistent sentiment effect but not memorise 5-minute noise.
_PARAMS: dict[str, dict] = {
    "xgboost": {
        "n_estimators": 200,
        "max_depth": 3,
        "learning_rate": 0.05,
        "subsample": 0.8,
        "colsample_bytree": 0.8,
        "min_child_weight": 5.0,
        "reg_lambda": 1.0,
        "objective": "binary:logistic",
        "eval_metric": "logloss",
        "tree_method": "hist",
        "random_state": SEED,
        "n_jobs": 2,
    },
    "lightgbm": {
        "n_estimators": 200,
        "max_depth": 3,
        "num_leaves": 7,
        "learning_rate": 0.05,
        "subsample": 0.8,
        "subsample_freq": 1,
        "colsample_bytree": 0.8,
        "min_child_samples": 50,
        "reg_lambda": 1.0,
        "objective": "binary",
        "random_state": SEED,
        "n_jobs": 2,
        "deterministic": True,
        "force_row_wise": True,  # LightGBM's advice with deterministic=True: no run-time layout choice
        "verbose": -1,
    },
}

_REQUIRED = ("ts", "label", *FEATURE_COLUMNS)


@dataclass(frozen=True)
class Split:
    """A walk-forward split: `train` ends (label windows included) before `holdout_start`."""

    train: pd.DataFrame
    holdout: pd.DataFrame
    holdout_start: pd.Timestamp

    @property
    def holdout_end(self) -> pd.Timestamp:
        """Exclusive end of the held-out span: the midnight closing its last UTC day."""
        return self.holdout["ts"].max().normalize() + pd.Timedelta(days=1)


def params_of(kind: str) -> dict:
    """The hyperparameters `fit` uses for `kind`, as a fresh dict (for logging)."""
    if kind not in MODEL_KINDS:
        raise ValueError(f"unknown model kind {kind!r}; expected one of {MODEL_KINDS}")
    return dict(_PARAMS[kind])


def features(frame: pd.DataFrame) -> pd.DataFrame:
    """The model input: the feature columns, in order, as float64.

    Casting once here keeps training, evaluation, the MLflow signature and live scoring on one dtype,
    so an integer count column cannot make the logged schema reject a later float.
    """
    return frame[list(FEATURE_COLUMNS)].astype("float64")


def walk_forward_split(training_set: pd.DataFrame, holdout_days: int, horizon: timedelta) -> Split:
    """Hold out the trailing `holdout_days` UTC days; train on rows whose label is known before them.

    A row at `ts` is labelled by the price at `ts + horizon`, so it may train only if
    `ts + horizon <= holdout_start`; the rows in between are dropped (the embargo).
    """
    missing = [c for c in _REQUIRED if c not in training_set.columns]
    if missing:
        raise ValueError(f"training_set lacks column(s) {missing}")
    if holdout_days < 1:
        raise ValueError(f"holdout_days must be at least 1, got {holdout_days}")
    if training_set.empty:
        raise ValueError("training_set is empty: nothing to split")

    ordered = training_set.sort_values(["ts", "market"] if "market" in training_set else ["ts"])
    ordered = ordered.reset_index(drop=True)
    holdout_start = ordered["ts"].max().normalize() - pd.Timedelta(days=holdout_days - 1)
    train = ordered[ordered["ts"] + horizon <= holdout_start].reset_index(drop=True)
    holdout = ordered[ordered["ts"] >= holdout_start].reset_index(drop=True)

    first, last = ordered["ts"].min(), ordered["ts"].max()
    if train.empty:
        raise ValueError(
            f"no training rows: the data spans {first} to {last}, and the {holdout_days} held-out "
            f"day(s) start at {holdout_start} (minus a {horizon} embargo); collect more history "
            "or hold out fewer days"
        )
    for side, rows in (("training", train), ("holdout", holdout)):
        if rows["label"].nunique() < 2:
            raise ValueError(f"the {side} rows hold a single label class, so AUC is undefined")
    return Split(train=train, holdout=holdout, holdout_start=holdout_start)


def fit(kind: str, train: pd.DataFrame) -> XGBClassifier | LGBMClassifier:
    """Fit a fresh classifier of `kind` on `train`; same data in, same model out."""
    params = params_of(kind)
    estimator = XGBClassifier(**params) if kind == "xgboost" else LGBMClassifier(**params)
    return estimator.fit(features(train), train["label"].astype(int))


def evaluate(estimator, frame: pd.DataFrame) -> dict:
    """Ranking (AUC), calibration (log loss) and 0.5-threshold accuracy of P(up) on `frame`.

    `base_rate` is reported alongside because accuracy only means something next to it.
    """
    y = frame["label"].astype(int).to_numpy()
    p = estimator.predict_proba(features(frame))[:, 1]
    return {
        "auc": float(roc_auc_score(y, p)),
        "logloss": float(log_loss(y, p, labels=[0, 1])),
        "accuracy": float(accuracy_score(y, (p >= 0.5).astype(int))),
        "n_rows": int(len(frame)),
        "base_rate": float(np.mean(y)),
    }
