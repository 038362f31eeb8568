"""Nested walk-forward training: an untouched test span, validation folds before it, early stopping inside each fold.

Neighbouring rows share their future, so every split here is in time and purged by when a row's label is
actually known (`price_fwd_ts`, the forward price's own timestamp: later than ts + horizon across a gap in
prices), plus an embargo. Three nested spans, each unseen by the one inside it:

  * the test span (the trailing whole UTC days) is only ever reported on: nothing here chooses by it;
  * validation folds (whole-day blocks just before it) choose hyperparameters and are what promotion reads;
  * inside each fit, the latest ~20% of the training rows stop the boosting, so no block that scores a
    model also decides how long it trains.

Everything is seeded and single-threaded per model: the same data gives the same model and the same decision.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Callable, Protocol

import lightgbm
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from sklearn.metrics import roc_auc_score
from xgboost import XGBModel, XGBRegressor

from models.features import FEATURE_COLUMNS
from models.labels import NO_TRADE
from sentitrade.settings import ResearchSettings

MODEL_KINDS = ("xgboost", "lightgbm")
SEED = 42
MAX_ROUNDS = 1000
EARLY_STOPPING_SHARE = 0.2  # the latest share of a fit's training rows that decides when boosting stops

# Kind-neutral tree settings. Shallow trees, a floor on leaf size and row/column subsampling: the signal is
# weak and the rows are few (about 5,000 on the demo), so capacity is kept small and early stopping sets
# the number of trees.
DEFAULT_PARAMS: dict = {
    "max_depth": 3,
    "learning_rate": 0.05,
    "min_leaf_rows": 50,
    "subsample": 0.8,
    "colsample_bytree": 0.8,
    "reg_lambda": 1.0,
}
# The search: 2 depths x 2 learning rates x 2 leaf floors = 8 points, chosen by mean validation log-loss.
# Depth and leaf floor bound what a tree can memorise; the learning rate trades rounds for smoothness.
PARAM_GRID: list[dict] = [
    {"max_depth": depth, "learning_rate": rate, "min_leaf_rows": leaf}
    for depth in (2, 4)
    for rate in (0.05, 0.15)
    for leaf in (25, 100)
]

_SPLIT_COLUMNS = ("ts", "price_fwd_ts")


def features(frame: pd.DataFrame) -> pd.DataFrame:
    """The model input: the feature columns, in order, as float64 (one dtype for training, logging and scoring)."""
    return frame[list(FEATURE_COLUMNS)].astype("float64")


def in_span(frame: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    """The rows of `frame` whose decision time lies in [start, end)."""
    return frame[(frame["ts"] >= start) & (frame["ts"] < end)]


def _known_before(frame: pd.DataFrame, start: pd.Timestamp, embargo: timedelta) -> pd.Series:
    """Rows that may train for a span starting at `start`: label priced before it (purge), ts `embargo` before it."""
    return (frame["price_fwd_ts"] < start) & (frame["ts"] <= start - embargo)


def _in_time_order(frame: pd.DataFrame) -> pd.DataFrame:
    keys = ["ts", "market"] if "market" in frame else ["ts"]
    return frame.sort_values(keys, kind="mergesort").reset_index(drop=True)


def _targets(frame: pd.DataFrame) -> np.ndarray:
    """The labels as floats: 1 (YES pays), 0 (NO pays) or 0.5 (no trade), from `models.labels.labelled`."""
    if "label" not in frame:
        raise ValueError("rows have no `label`: label them with models.labels.labelled first")
    y = frame["label"].to_numpy(dtype="float64")
    if not np.isin(y, (0.0, NO_TRADE, 1.0)).all():
        raise ValueError("labels must be 0, 0.5 or 1: label the rows with models.labels.labelled first")
    return y


def split_test(
    training_set: pd.DataFrame, test_days: int, embargo: timedelta
) -> tuple[pd.DataFrame, pd.Timestamp, pd.Timestamp]:
    """(development rows, test_start, test_end): the test span is the trailing `test_days` whole UTC days.

    A development row's label is priced before test_start and its ts is at least `embargo` before it;
    the test rows are the caller's `in_span(training_set, test_start, test_end)`.
    """
    missing = [c for c in _SPLIT_COLUMNS if c not in training_set.columns]
    if missing:
        raise ValueError(f"training_set lacks column(s) {missing}")
    if test_days < 1:
        raise ValueError(f"test_days must be at least 1, got {test_days}")
    if training_set.empty:
        raise ValueError("training_set is empty: nothing to split")
    ordered = _in_time_order(training_set)
    last_day = ordered["ts"].max().normalize()
    test_start, test_end = last_day - pd.Timedelta(days=test_days - 1), last_day + pd.Timedelta(days=1)
    days = (last_day - ordered["ts"].min().normalize()).days + 1
    development = ordered[_known_before(ordered, test_start, embargo)].reset_index(drop=True)
    if development.empty:
        raise ValueError(
            f"the data spans {days} UTC day(s) and the test span takes the trailing {test_days}, leaving nothing "
            "to develop on: lower SENTITRADE_HOLDOUT_DAYS or collect more history"
        )
    return development, test_start, test_end


@dataclass(frozen=True)
class Fold:
    """One walk-forward fold: `train` is purged and embargoed from the validation block [start, end)."""

    train: pd.DataFrame
    validation_start: pd.Timestamp
    validation_end: pd.Timestamp

    def validation(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The rows of `frame` in this fold's validation block."""
        return in_span(frame, self.validation_start, self.validation_end)


def walk_forward_folds(development: pd.DataFrame, n_folds: int, validation_days: int, embargo: timedelta) -> list[Fold]:
    """Folds in time order: fold k validates on the k-th of the last `n_folds` blocks of `validation_days`
    whole days of `development` and trains on every earlier row whose label is known before the block.

    Build them from the labelled development rows (`models.labels.labelled`), so fold.train is fit-ready.
    """
    if n_folds < 1 or validation_days < 1:
        raise ValueError(f"n_folds and validation_days must be at least 1, got {n_folds} and {validation_days}")
    if development.empty:
        raise ValueError("development is empty: nothing to fold")
    ordered = _in_time_order(development)
    end = ordered["ts"].max().normalize() + pd.Timedelta(days=1)  # the midnight closing the last development day
    days, needed = (end - ordered["ts"].min().normalize()).days, n_folds * validation_days + 1
    if days < needed:
        raise ValueError(
            f"walk-forward needs {needed} UTC days before the test span ({n_folds} fold(s) x {validation_days} "
            f"validation day(s) + 1 to train on) but there are {days}: lower SENTITRADE_RESEARCH_FOLDS or "
            "SENTITRADE_RESEARCH_VALIDATION_DAYS (or SENTITRADE_HOLDOUT_DAYS), or collect more history"
        )
    block = pd.Timedelta(days=validation_days)
    folds = []
    for k in range(n_folds):
        start = end - (n_folds - k) * block
        fold = Fold(ordered[_known_before(ordered, start, embargo)].reset_index(drop=True), start, start + block)
        if fold.train.empty or fold.validation(ordered).empty:
            raise ValueError(f"fold {k} ({start:%Y-%m-%d}) has no training or no validation rows: prices are missing "
                             "around it; lower SENTITRADE_RESEARCH_FOLDS or collect more history")
        folds.append(fold)
    return folds


class Estimator(Protocol):
    """What every model, learned or baseline, implements.

    `train`/`validation` are training_set rows with a `label` from `models.labels.labelled`: 1, 0, or 0.5 for
    no trade. `predict_proba` takes any rows with the FEATURE_COLUMNS (market and ts may be there).
    """

    kind: str

    def fit(self, train: pd.DataFrame, validation: pd.DataFrame | None = None) -> "Estimator": ...

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray: ...  # P(up) as float64, one per row

    def params(self) -> dict: ...  # what to log


def _library_params(kind: str, hyper: dict, early_stopping_rounds: int) -> dict:
    common = {
        "n_estimators": MAX_ROUNDS,
        "max_depth": hyper["max_depth"],
        "learning_rate": hyper["learning_rate"],
        "subsample": hyper["subsample"],
        "colsample_bytree": hyper["colsample_bytree"],
        "reg_lambda": hyper["reg_lambda"],
        "random_state": SEED,
        "n_jobs": 1,
    }
    if kind == "xgboost":
        # The same tree shape for both kinds (a full tree of max_depth); a leaf's hessian sum in xgboost is
        # rows x p(1-p), about rows / 4 near even odds.
        # binary:logistic and cross_entropy fit soft targets: the no-trade rows' 0.5 (see models/labels.py).
        return {**common, "min_child_weight": hyper["min_leaf_rows"] / 4, "objective": "binary:logistic",
                "eval_metric": "logloss", "tree_method": "hist", "early_stopping_rounds": early_stopping_rounds}
    return {**common, "num_leaves": 2 ** hyper["max_depth"], "min_child_samples": hyper["min_leaf_rows"],
            "subsample_freq": 1, "objective": "cross_entropy", "deterministic": True,
            "force_row_wise": True,  # LightGBM's advice with deterministic=True: no run-time layout choice
            "verbose": -1}


class BoostedTrees:
    """Gradient-boosted trees (xgboost or lightgbm) that stop on the latest share of their own training rows,
    or, given `rounds`, grow exactly that many trees on all of them (the final refit, sized by the folds).

    `validation` is accepted for the protocol and ignored: the block that scores a fold never shapes its model.
    Unset `early_stopping_rounds`/`embargo` come from `ResearchSettings`.
    """

    def __init__(self, kind: str = "xgboost", *, early_stopping_rounds: int | None = None,
                 embargo: timedelta | None = None, rounds: int | None = None, **overrides) -> None:
        if kind not in MODEL_KINDS:
            raise ValueError(f"unknown model kind {kind!r}; expected one of {MODEL_KINDS}")
        unknown = set(overrides) - set(DEFAULT_PARAMS)
        if unknown:
            raise ValueError(f"unknown tree parameter(s) {sorted(unknown)}; expected some of {sorted(DEFAULT_PARAMS)}")
        research = ResearchSettings() if early_stopping_rounds is None or embargo is None else None
        self.kind = kind
        self.hyper = {**DEFAULT_PARAMS, **overrides}
        self.early_stopping_rounds = early_stopping_rounds or research.early_stopping_rounds
        self.embargo = embargo if embargo is not None else timedelta(minutes=research.embargo_minutes)
        self.rounds = rounds
        self.model = None  # the fitted XGBRegressor / LGBMRegressor on a probability objective, for logging
        self.best_iteration: int | None = None  # trees kept (1-based), set by fit
        self._fit_info: dict = {}

    def fit(self, train: pd.DataFrame, validation: pd.DataFrame | None = None) -> BoostedTrees:
        ordered = _in_time_order(train)
        if len(ordered) < 10:
            raise ValueError(f"{len(ordered)} training rows are too few to fit and early-stop on")
        if self.rounds is not None:
            return self._fit_rounds(ordered)
        stop_start = ordered["ts"].iloc[int(len(ordered) * (1 - EARLY_STOPPING_SHARE))]
        stopping = ordered[ordered["ts"] >= stop_start]
        fitting = ordered[_known_before(ordered, stop_start, self.embargo)]
        y_fit, y_stop = _targets(fitting), _targets(stopping)
        if len(np.unique(y_fit)) < 2:
            raise ValueError("the training rows before early stopping hold a single label class: nothing to learn")
        params = _library_params(self.kind, self.hyper, self.early_stopping_rounds)
        if self.kind == "xgboost":
            self.model = XGBRegressor(**params).fit(
                features(fitting), y_fit, eval_set=[(features(stopping), y_stop)], verbose=False
            )
            self.best_iteration = int(self.model.best_iteration) + 1
        else:
            stop = lightgbm.early_stopping(self.early_stopping_rounds, first_metric_only=True, verbose=False)
            self.model = lightgbm.LGBMRegressor(**params).fit(
                features(fitting), y_fit, eval_X=features(stopping), eval_y=y_stop, eval_metric="cross_entropy",
                callbacks=[stop],
            )
            self.best_iteration = int(self.model.best_iteration_)
        self._fit_info = {"n_fit_rows": len(fitting), "n_stopping_rows": len(stopping),
                          "stopping_start": stop_start.isoformat()}
        return self

    def _fit_rounds(self, ordered: pd.DataFrame) -> BoostedTrees:
        """Exactly `rounds` trees on every row: no tail held back, since the folds already chose how many."""
        params = {**_library_params(self.kind, self.hyper, self.early_stopping_rounds), "n_estimators": self.rounds}
        params.pop("early_stopping_rounds", None)
        regressor = XGBRegressor if self.kind == "xgboost" else lightgbm.LGBMRegressor
        self.model = regressor(**params).fit(features(ordered), _targets(ordered))
        self.best_iteration = self.rounds
        self._fit_info = {"n_fit_rows": len(ordered), "n_stopping_rows": 0}
        return self

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        if self.model is None:
            raise RuntimeError("fit the estimator before predicting")
        return self.model.predict(features(frame)).astype("float64")  # a probability, up to best_iteration

    def params(self) -> dict:
        return {"kind": self.kind, **self.hyper, "max_rounds": self.rounds or MAX_ROUNDS,
                "early_stopping_rounds": self.early_stopping_rounds,
                "embargo_minutes": self.embargo / timedelta(minutes=1),
                "best_iteration": self.best_iteration, **self._fit_info}


def evaluate(estimator: Estimator, frame: pd.DataFrame) -> dict:
    """Ranking (AUC) and calibration (log loss, Brier) of P(up) on labelled `frame`.

    AUC and accuracy read the rows where a trade pays (label 0 or 1): does P(up) put the YES winners above
    the NO winners. Log loss and Brier read every row against its soft target (0.5 for no trade), the loss
    the models fit. `base_rate` (the YES share of paying rows) and `trade_share` are reported alongside,
    since accuracy only means something next to them.
    """
    y = _targets(frame)
    paying = y != NO_TRADE
    if len(np.unique(y[paying])) < 2:
        raise ValueError(f"the {int(paying.sum())} paying rows scored hold a single label class, so AUC is undefined")
    p = estimator.predict_proba(frame)
    clipped = np.clip(p, 1e-15, 1 - 1e-15)
    return {
        "auc": float(roc_auc_score(y[paying], p[paying])),
        "logloss": float(-np.mean(y * np.log(clipped) + (1 - y) * np.log(1 - clipped))),
        "brier": float(np.mean((p - y) ** 2)),
        "accuracy": float(np.mean((p[paying] >= 0.5) == (y[paying] == 1))),
        "n_rows": int(len(y)),
        "trade_share": float(paying.mean()),
        "base_rate": float(np.mean(y[paying])),
    }


@dataclass(frozen=True)
class CrossValidation:
    """Per-fold validation metrics (one row per fold, in time order) and the estimators fit on each fold."""

    folds: list[Fold]
    estimators: list[Estimator]
    metrics: pd.DataFrame

    @property
    def summary(self) -> dict[str, float]:
        """`<metric>_mean` and `<metric>_std` (population, across folds) of every numeric metric."""
        numeric = self.metrics.select_dtypes("number")
        means = {f"{name}_mean": float(numeric[name].mean()) for name in numeric}
        return {**means, **{f"{name}_std": float(numeric[name].std(ddof=0)) for name in numeric}}


def cross_validate(
    make: Callable[[], Estimator], labelled_development: pd.DataFrame, folds: list[Fold]
) -> CrossValidation:
    """Fit a fresh `make()` on each fold's train rows and score it on the fold's labelled validation rows."""
    estimators, rows = [], []
    for fold in folds:
        estimator = make().fit(fold.train)
        row = evaluate(estimator, fold.validation(labelled_development))
        if getattr(estimator, "best_iteration", None) is not None:
            row["best_iteration"] = estimator.best_iteration
        estimators.append(estimator)
        rows.append({**row, "validation_start": fold.validation_start, "validation_end": fold.validation_end})
    return CrossValidation(list(folds), estimators, pd.DataFrame(rows))


def out_of_fold(cv: CrossValidation, frame: pd.DataFrame) -> pd.Series:
    """P(up) of each row of `frame` inside a validation block, by that block's fold estimator; NaN elsewhere."""
    p_up = pd.Series(np.nan, index=frame.index, name="p_up", dtype="float64")
    for fold, estimator in zip(cv.folds, cv.estimators):
        rows = fold.validation(frame)
        if not rows.empty:
            p_up.loc[rows.index] = estimator.predict_proba(rows)
    return p_up


@dataclass(frozen=True)
class ParamSearch:
    """The chosen tree parameters, their cross-validation, and every grid point's mean validation scores."""

    params: dict
    cv: CrossValidation
    scores: pd.DataFrame = field(repr=False)


def search_params(
    kind: str, labelled_development: pd.DataFrame, folds: list[Fold], research: ResearchSettings
) -> ParamSearch:
    """Choose `kind`'s parameters by mean validation log-loss over `folds` (the defaults when param_search is off).

    Only validation blocks score a point; the final model is then `BoostedTrees(kind, ...params).fit(development)`.
    """
    embargo = timedelta(minutes=research.embargo_minutes)
    points = PARAM_GRID if research.param_search == "grid" else [{}]
    results = []
    for point in points:
        def make(point=point) -> BoostedTrees:
            return BoostedTrees(kind, early_stopping_rounds=research.early_stopping_rounds, embargo=embargo, **point)

        cv = cross_validate(make, labelled_development, folds)
        results.append(({**DEFAULT_PARAMS, **point}, cv))
    scores = pd.DataFrame([{**params, **cv.summary} for params, cv in results])
    best = int(scores["logloss_mean"].to_numpy().argmin())  # ties go to the earlier grid point
    return ParamSearch(results[best][0], results[best][1], scores)


def feature_importances(estimator: Estimator) -> pd.DataFrame:
    """(feature, importance) by total gain, largest first, for boosted trees; empty for other estimators."""
    model = getattr(estimator, "model", None)
    if isinstance(model, XGBModel):
        kept = model.get_booster()[: estimator.best_iteration]  # the trees predictions use, not those after the best
        gain = kept.get_score(importance_type="total_gain")
        values = [gain.get(name, 0.0) for name in FEATURE_COLUMNS]
    elif isinstance(model, lightgbm.LGBMModel):
        values = model.booster_.feature_importance(importance_type="gain").tolist()
    else:
        return pd.DataFrame({"feature": pd.Series(dtype=str), "importance": pd.Series(dtype="float64")})
    frame = pd.DataFrame({"feature": FEATURE_COLUMNS, "importance": np.asarray(values, dtype="float64")})
    return frame.sort_values("importance", ascending=False, kind="mergesort").reset_index(drop=True)


def plot_calibration(y: np.ndarray, p: np.ndarray, path: Path, title: str, bins: int = 10) -> Path:
    """PNG reliability curve: observed up-rate against mean P(up) per probability bin, with each bin's row count."""
    y, p = np.asarray(y, dtype="float64"), np.asarray(p, dtype="float64")
    which = np.clip((p * bins).astype(int), 0, bins - 1)
    by_bin = pd.DataFrame({"bin": which, "y": y, "p": p}).groupby("bin")
    table = by_bin.agg(p=("p", "mean"), y=("y", "mean"), n=("y", "size"))
    fig = Figure(figsize=(7, 7), layout="constrained")
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=[3, 1])
    top.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1, label="perfectly calibrated")
    top.plot(table["p"], table["y"], marker="o", color="tab:blue", label="observed")
    for _, row in table.iterrows():
        top.annotate(f"{int(row['n'])}", (row["p"], row["y"]), textcoords="offset points", xytext=(4, 4), fontsize=8)
    top.set_ylabel("Observed up-rate", fontsize=11)
    top.set_title(f"{title}\n{len(y)} rows · Brier {np.mean((p - y) ** 2):.4f}", fontsize=12)
    top.legend(loc="upper left")
    bottom.bar((table.index + 0.5) / bins, table["n"], width=0.9 / bins, color="tab:grey")
    bottom.set_ylabel("Rows", fontsize=11)
    bottom.set_xlabel("Predicted P(up)", fontsize=11)
    for ax in (top, bottom):
        ax.set_xlim(0, 1)
        ax.grid(alpha=0.3)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    return path
