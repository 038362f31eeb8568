"""The research loop as plain functions: label, fold, fit, validate out of fold, test once, backtest both spans.

Dagster's model and backtest assets call these once per kind, learned or baseline, so every version is
evaluated exactly alike; tests call them directly. Three spans, each unseen by the one inside it (see
`models.train`): the untouched test span is only reported; the validation folds' out-of-fold predictions
are backtested through the trader's engine and are what promotion reads.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta

import numpy as np
import pandas as pd

from models.backtest import COST_SCALES, BacktestResult, run_backtest, sensitivity_table
from models.baselines import BASELINE_KINDS, BASELINES
from models.costs import round_trip_cost
from models.engine import MarketInfo
from models.features import dbt_vars
from models.labels import labelled
from models.train import (
    MODEL_KINDS,
    BoostedTrees,
    CrossValidation,
    Estimator,
    Fold,
    cross_validate,
    evaluate,
    in_span,
    out_of_fold,
    search_params,
    split_test,
    walk_forward_folds,
)
from sentitrade.settings import Settings

KINDS = (*MODEL_KINDS, *BASELINE_KINDS)
DECISION_COLUMNS = ["market", "ts", "p_up", "n_tweets_1h", "price"]


def label_horizon() -> timedelta:
    """How far ahead a label looks (dbt's `horizon_minutes`)."""
    return timedelta(minutes=dbt_vars()["horizon_minutes"])


@dataclass(frozen=True)
class ResearchData:
    """The labelled development rows, their walk-forward folds, and the labelled test span (for its report only)."""

    development: pd.DataFrame
    folds: list[Fold]
    test: pd.DataFrame
    test_start: pd.Timestamp
    test_end: pd.Timestamp

    @property
    def test_span(self) -> tuple[pd.Timestamp, pd.Timestamp]:
        return self.test_start, self.test_end


def prepare(training_set: pd.DataFrame, settings: Settings) -> ResearchData:
    """Split off the test span, label net of the round-trip cost the strategy pays, fold what is left."""
    research = settings.research
    embargo = timedelta(minutes=research.embargo_minutes)
    cost = round_trip_cost(settings.costs, 0.0)
    development, test_start, test_end = split_test(training_set, settings.holdout_days, embargo)
    development = labelled(development, cost, research.dead_zone)
    folds = walk_forward_folds(development, research.folds, research.validation_days, embargo)
    test = labelled(in_span(training_set, test_start, test_end), cost, research.dead_zone)
    return ResearchData(development, folds, test, test_start, test_end)


@dataclass(frozen=True)
class Trained:
    """One kind fit on the whole development span, with its validation folds and its one look at the test span."""

    kind: str
    estimator: Estimator
    cv: CrossValidation
    test_metrics: dict

    @property
    def is_baseline(self) -> bool:
        return self.kind in BASELINE_KINDS


def train(kind: str, data: ResearchData, settings: Settings) -> Trained:
    """Cross-validate `kind` on the folds (trees: choosing their grid point there), then refit on all development rows.

    A tree refit grows the median of the folds' early-stopped sizes on every development row. Early-stopping
    it on its own latest rows instead would let one day decide: on a day where the signal is weak it
    stopped at 3 to 5 trees, a model too timid to cross the strategy's thresholds at all.
    """
    if kind in MODEL_KINDS:
        research = settings.research
        search = search_params(kind, data.development, data.folds, research)
        cv = search.cv
        rounds = max(1, int(np.median(cv.metrics["best_iteration"])))

        def make() -> Estimator:
            return BoostedTrees(kind, early_stopping_rounds=research.early_stopping_rounds,
                                embargo=timedelta(minutes=research.embargo_minutes), rounds=rounds, **search.params)

    elif kind in BASELINES:
        make = BASELINES[kind]
        cv = cross_validate(make, data.development, data.folds)
    else:
        raise ValueError(f"unknown model kind {kind!r}; expected one of {KINDS}")
    estimator = make().fit(data.development)
    return Trained(kind, estimator, cv, evaluate(estimator, data.test))


def decisions(features: pd.DataFrame, p_up: np.ndarray | pd.Series) -> pd.DataFrame:
    """What the backtest decides on: each feature row's tweet count and price, with the model's P(up)."""
    return features.assign(p_up=np.asarray(p_up, dtype="float64"))[DECISION_COLUMNS].reset_index(drop=True)


def validation_decisions(trained: Trained, features: pd.DataFrame) -> pd.DataFrame:
    """Every feature row inside a validation block, scored by the fold model that never saw that block."""
    p_up = out_of_fold(trained.cv, features)
    keep = p_up.notna()
    return decisions(features[keep], p_up[keep])


def test_decisions(predict_proba: Callable[[pd.DataFrame], np.ndarray], features: pd.DataFrame,
                   test_span: tuple[pd.Timestamp, pd.Timestamp]) -> pd.DataFrame:
    """The test span's feature rows scored by the registered version itself (what the trader would load)."""
    rows = in_span(features, *test_span)
    return decisions(rows, predict_proba(rows) if len(rows) else np.empty(0))


@dataclass(frozen=True)
class Backtests:
    """A version's two backtests through the trader's engine (metrics from `models.performance`) and the test span's cost table."""

    validation: BacktestResult
    test: BacktestResult
    cost_sensitivity: pd.DataFrame

    def metrics(self) -> dict[str, float]:
        """Flat `validation_*` / `test_*` figures for MLflow (None-valued ones, like a too-short Sharpe, left out)."""
        return span_metrics(self.validation, "validation") | span_metrics(self.test, "test")


def backtest_test_span(test: pd.DataFrame, markets: Mapping[str, MarketInfo], prices: pd.DataFrame, settings: Settings,
                       resolutions: pd.DataFrame | None = None) -> tuple[BacktestResult, pd.DataFrame]:
    """The test span's backtest and its cost-sensitivity table: runs at costs x0, x1 and x2, the x1 run the backtest itself."""
    at_scale = {scale: run_backtest(test, markets, settings, prices=prices, resolutions=resolutions, cost_scale=scale)
                for scale in COST_SCALES}
    return at_scale[1.0], sensitivity_table(at_scale)


def span_metrics(result: BacktestResult, span: str) -> dict[str, float]:
    """A backtest's numeric figures as MLflow metrics named `<span>_*`, its total return as `<span>_return`."""
    flat = {f"{span}_{name}": float(value) for name, value in result.metrics.items()
            if isinstance(value, int | float) and not isinstance(value, bool)}
    flat[f"{span}_return"] = flat.pop(f"{span}_total_return")
    return flat


def observed_until(prices: pd.DataFrame, decisions: pd.DataFrame) -> pd.DataFrame:
    """The prices a backtest of `decisions` may see: none after its last decision. The engine settles what
    resolved within the data it is given, so the validation folds' backtest must not be handed the test
    span's prices, or a position open at the folds' end would be paid by a resolution inside the test span."""
    return prices if decisions.empty else prices[prices["ts"] <= decisions["ts"].max()]


def backtest(validation: pd.DataFrame, test: pd.DataFrame, markets: Mapping[str, MarketInfo], prices: pd.DataFrame,
             settings: Settings, resolutions: pd.DataFrame | None = None) -> Backtests:
    """Backtest the out-of-fold validation decisions and the test span alike: same engine, prices and costs."""
    tested, costs = backtest_test_span(test, markets, prices, settings, resolutions)
    validated = run_backtest(validation, markets, settings, prices=observed_until(prices, validation), resolutions=resolutions)
    return Backtests(validated, tested, costs)
