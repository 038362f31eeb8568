"""Promotion: which registered version the trader runs, decided on validation evidence, moved by aliases.

The `champion` alias is the only record of who trades; `previous` keeps the one it replaced, so a bad
promotion is undone by `rollback`. Each version's tags say whether its own evidence makes it
promotable, never whether it is champion (that would go stale when the alias moves).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd
from mlflow import MlflowClient

from models.registry import CHAMPION, TEST_SPAN, aliases, current_test_span, parse_span, span_text

PREVIOUS = "previous"
METRICS = ("validation_return", "validation_sharpe_daily")
VERDICT = "verdict"  # version tag: "promotable", "baseline" or "rejected: <why>"
BASELINE_MARGIN = "baseline_margin"  # version tag: its promotion metric minus the best baseline's


class PromotionError(ValueError):
    """A promotion or rollback that cannot be done; the message says why and what to do."""


@dataclass(frozen=True)
class Candidate:
    """One registered version with its recorded evidence (NaN where a metric was never logged).

    `validation_auc` is the mean over the walk-forward validation folds; `validation_return` and
    `validation_sharpe_daily` come from the out-of-fold backtest across those folds. `test_return` is
    the untouched test span's backtest: reported, never used to decide.
    """

    version: str
    kind: str
    is_baseline: bool
    validation_auc: float
    validation_return: float
    validation_sharpe_daily: float
    test_return: float
    test_span: tuple[pd.Timestamp, pd.Timestamp] | None

    def metric(self, name: str) -> float:
        return getattr(self, name)


@dataclass(frozen=True)
class Choice:
    """The version to promote (None: keep the champion), and for every version why or why not."""

    champion: str | None
    reasons: dict[str, str]
    margins: dict[str, float]  # learned versions: metric minus the best baseline's (NaN without a baseline)


def stale_evidence(candidate: Candidate, test_span: tuple[pd.Timestamp, pd.Timestamp] | None) -> str | None:
    """Why `candidate` has no backtest on the current test span (None: it has one)."""
    if test_span is None:
        return "no research run has logged an evaluation yet: materialize the training and backtest assets first"
    if candidate.test_span != test_span:
        tested = span_text(candidate.test_span) if candidate.test_span else "no span"
        return (f"tested on {tested}, not the current test span {span_text(test_span)}: its evidence is not comparable; "
                "retrain it on the current data (materialize the training and backtest assets)")
    if math.isnan(candidate.test_return) or math.isnan(candidate.validation_return):
        return "no backtest on the current test span was logged for it: run its backtest (the backtest assets) first"
    return None


def choose(candidates: list[Candidate], metric: str, min_auc: float,
           test_span: tuple[pd.Timestamp, pd.Timestamp] | None) -> Choice:
    """Pick the learned version that earns most on the validation folds, if it earns more than every baseline.

    The metric (`validation_return` by default, or `validation_sharpe_daily`) is the out-of-fold
    walk-forward backtest across the validation folds: what the strategy would have earned on days the
    model never trained on, through the same engine, costs and risk rules as the trader. AUC only gates
    (mean validation AUC >= `min_auc`): ranking better than chance is necessary, not what pays. A
    learned version qualifies only if it also beats every baseline strictly on the metric, and not
    trading at all: a metric at or below 0 is refused however the baselines did (on noise the least bad
    of several losers must not trade). The best qualifier wins, ties to the newer version. Baselines set the bar and are never promoted here. The
    test span never decides, but versions (baselines included) without a backtest on the current
    `test_span` are left out, and no learned version qualifies when no baseline was evaluated on it.
    """
    if metric not in METRICS:
        raise ValueError(f"unknown promotion metric {metric!r}; expected one of {METRICS}")
    reasons, margins = {}, {}
    current = {}
    for c in candidates:
        stale = stale_evidence(c, test_span)
        if stale:
            reasons[c.version] = f"rejected: {stale}"
        else:
            current[c.version] = c
    baselines = [c for c in current.values() if c.is_baseline and not math.isnan(c.metric(metric))]
    bar = max(baselines, key=lambda b: b.metric(metric), default=None)
    qualified = []
    for c in current.values():
        value = c.metric(metric)
        if c.is_baseline:
            reasons[c.version] = "baseline: sets the bar, never promoted automatically"
            continue
        margins[c.version] = value - bar.metric(metric) if bar is not None else math.nan
        if not c.validation_auc >= min_auc:
            reasons[c.version] = f"rejected: mean validation AUC {c.validation_auc:.3f} below the floor {min_auc:g}"
        elif math.isnan(value):
            reasons[c.version] = f"rejected: no {metric} recorded (no validation backtest, or too few days or trades for it)"
        elif bar is None:
            reasons[c.version] = f"rejected: no baseline with a {metric} to beat: register and backtest the baselines first"
        elif not value > 0:
            reasons[c.version] = f"rejected: {metric} {value:.4g} is not above 0, what not trading earns"
        elif not value > bar.metric(metric):
            reasons[c.version] = (f"rejected: {metric} {value:.4g} does not beat baseline {bar.kind} "
                                  f"v{bar.version} ({bar.metric(metric):.4g})")
        else:
            qualified.append(c)
    best = max(qualified, key=lambda c: (c.metric(metric), int(c.version)), default=None)
    for c in qualified:
        reasons[c.version] = "promotable" if c is best else f"promotable, but v{best.version} has the higher {metric}"
    in_order = {c.version: reasons[c.version] for c in candidates}
    return Choice(champion=best.version if best else None, reasons=in_order, margins=margins)


def candidates(model_name: str) -> list[Candidate]:
    """Every registered version of `model_name` with the evidence its run recorded, oldest first."""
    client = MlflowClient()
    found = []
    for v in sorted(client.search_model_versions(f"name = '{model_name}'"), key=lambda v: int(v.version)):
        metrics = client.get_run(v.run_id).data.metrics

        def recorded(name: str, metrics: dict = metrics) -> float:
            return float(metrics.get(name, math.nan))

        found.append(Candidate(
            version=str(v.version),
            kind=v.tags.get("kind", "unknown"),
            is_baseline=v.tags.get("baseline") == "true",
            validation_auc=recorded("validation_auc_mean"),
            validation_return=recorded("validation_return"),
            validation_sharpe_daily=recorded("validation_sharpe_daily"),
            test_return=recorded("test_return"),
            test_span=parse_span(v.tags.get(TEST_SPAN)),
        ))
    return found


def promote(model_name: str, version: str) -> str | None:
    """Point `champion` at `version` and `previous` at the one it replaces; return that one.

    None when there was no champion or it already was `version` (then nothing moves).

    Any version may be promoted by hand (a baseline too: a deliberate choice), but only with a
    backtest on the current test span, so what it is promoted on is evidence comparable to the rest.
    """
    version = str(version)
    candidate = next((c for c in candidates(model_name) if c.version == version), None)
    if candidate is None:
        raise PromotionError(f"registered model {model_name!r} has no version {version}: see `sentitrade promote --list`")
    stale = stale_evidence(candidate, current_test_span(model_name))
    if stale:
        raise PromotionError(f"v{version} refused: {stale}")
    former = aliases(model_name).get(CHAMPION)
    if former == version:
        return None
    client = MlflowClient()
    client.set_registered_model_alias(model_name, CHAMPION, version)
    if former is not None:
        client.set_registered_model_alias(model_name, PREVIOUS, former)
    return former


def rollback(model_name: str) -> str:
    """Swap `champion` and `previous` (so a second rollback undoes the first); return the new champion."""
    found = aliases(model_name)
    if PREVIOUS not in found or CHAMPION not in found:
        raise PromotionError(f"registered model {model_name!r} has no {PREVIOUS!r} version to roll back to: "
                             "only a promotion that replaced a champion leaves one")
    client = MlflowClient()
    client.set_registered_model_alias(model_name, CHAMPION, found[PREVIOUS])
    client.set_registered_model_alias(model_name, PREVIOUS, found[CHAMPION])
    return found[PREVIOUS]


def promote_best(model_name: str, metric: str, min_auc: float) -> Choice:
    """Run `choose` on the recorded evidence, tag every version with its verdict, promote the winner.

    With no qualifier the champion stays: a stale model that passed beats no model. The tags say only
    what each version's evidence supports; the `champion` alias says who trades.
    """
    found = candidates(model_name)
    if not found:
        raise PromotionError(f"registered model {model_name!r} has no versions: train and register some first")
    choice = choose(found, metric, min_auc, current_test_span(model_name))
    client = MlflowClient()
    for c in found:
        client.set_model_version_tag(model_name, c.version, VERDICT, choice.reasons[c.version])
        if c.version in choice.margins:
            client.set_model_version_tag(model_name, c.version, BASELINE_MARGIN, f"{choice.margins[c.version]:.6g}")
        else:  # a margin against baselines no longer current would mislead (deleting a missing tag is a no-op)
            client.delete_model_version_tag(model_name, c.version, BASELINE_MARGIN)
    if choice.champion is not None:
        promote(model_name, choice.champion)
    return choice
