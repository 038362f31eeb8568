"""The promotion rule on its own (choose) and as users run it against a real MLflow registry."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from mlflow import MlflowClient

from models.baselines import BuyAndHold, SentimentRule
from models.promote import PREVIOUS, Candidate, PromotionError, choose, promote, promote_best, rollback
from models.registry import CHAMPION, aliases, log_evaluation, register_version
from models.train import BoostedTrees
from tests.train.conftest import HORIZON, TEST_SPAN, feature_rows

NAME = "promote-test"
OLD_SPAN = (pd.Timestamp("2024-03-03"), pd.Timestamp("2024-03-04"))
NAN = math.nan


def candidate(version: str, *, baseline: bool = False, auc: float = 0.6, ret: float = 0.0, sharpe: float = 0.0,
              test_return: float = 0.0, span=TEST_SPAN) -> Candidate:
    kind = "sentiment_rule" if baseline else "xgboost"
    return Candidate(version, kind, baseline, auc, ret, sharpe, test_return, span)


BASELINES = [candidate("1", baseline=True, ret=0.02, sharpe=0.8), candidate("2", baseline=True, ret=-0.01, sharpe=1.5)]


def test_a_model_below_a_baseline_is_not_promoted():
    choice = choose([*BASELINES, candidate("3", ret=0.015)], "validation_return", 0.52, TEST_SPAN)
    assert choice.champion is None
    assert "does not beat baseline sentiment_rule v1" in choice.reasons["3"]
    assert choice.margins["3"] == pytest.approx(-0.005)


def test_a_model_above_every_baseline_and_the_floor_is_promoted_and_baselines_never_are():
    choice = choose([*BASELINES, candidate("3", ret=0.03)], "validation_return", 0.52, TEST_SPAN)
    assert choice.champion == "3" and choice.reasons["3"] == "promotable"
    assert choice.margins["3"] == pytest.approx(0.01)
    assert all(choice.reasons[v].startswith("baseline") for v in ("1", "2"))
    assert choose(BASELINES, "validation_return", 0.52, TEST_SPAN).champion is None


def test_beating_losing_baselines_is_not_enough_the_metric_must_beat_not_trading():
    losers = [candidate("1", baseline=True, ret=-0.05), candidate("2", baseline=True, ret=-0.02)]
    choice = choose([*losers, candidate("3", ret=-0.008), candidate("4", ret=0.0)], "validation_return", 0.52, TEST_SPAN)
    assert choice.champion is None and choice.margins["3"] == pytest.approx(0.012)
    assert all("not above 0, what not trading earns" in choice.reasons[v] for v in ("3", "4"))
    assert choose([*losers, candidate("3", ret=0.001)], "validation_return", 0.52, TEST_SPAN).champion == "3"


def test_the_metric_decides_and_every_baseline_must_be_beaten_on_it():
    model = candidate("3", ret=0.03, sharpe=1.0)  # beats both on return, loses to v2 on Sharpe
    assert choose([*BASELINES, model], "validation_return", 0.52, TEST_SPAN).champion == "3"
    choice = choose([*BASELINES, model], "validation_sharpe_daily", 0.52, TEST_SPAN)
    assert choice.champion is None and "baseline sentiment_rule v2" in choice.reasons["3"]


def test_auc_is_a_gate_equal_is_not_better_and_ties_go_to_the_newer_version():
    gated = choose([*BASELINES, candidate("3", auc=0.51, ret=0.5)], "validation_return", 0.52, TEST_SPAN)
    assert gated.champion is None and "AUC 0.510 below the floor 0.52" in gated.reasons["3"]
    assert choose([*BASELINES, candidate("3", ret=0.02)], "validation_return", 0.52, TEST_SPAN).champion is None
    tied = choose([*BASELINES, candidate("3", ret=0.04), candidate("4", ret=0.04), candidate("5", ret=0.03)],
                  "validation_return", 0.52, TEST_SPAN)
    assert tied.champion == "4" and "v4 has the higher" in tied.reasons["3"]


def test_the_test_span_never_decides_and_stale_or_missing_evidence_is_left_out():
    better_on_test = candidate("3", ret=0.03, test_return=0.9)
    assert choose([*BASELINES, better_on_test, candidate("4", ret=0.05, test_return=-0.2)],
                  "validation_return", 0.52, TEST_SPAN).champion == "4"
    stale = candidate("4", ret=0.5, span=OLD_SPAN)
    missing = candidate("5", ret=NAN, test_return=NAN)
    choice = choose([*BASELINES, candidate("3", ret=0.03), stale, missing], "validation_return", 0.52, TEST_SPAN)
    assert choice.champion == "3"
    assert "not the current test span" in choice.reasons["4"] and "no backtest" in choice.reasons["5"]


def test_without_a_baseline_on_the_current_span_nothing_qualifies():
    stale_baselines = [candidate("1", baseline=True, ret=-0.5, span=OLD_SPAN)]
    choice = choose([*stale_baselines, candidate("2", ret=0.03)], "validation_return", 0.52, TEST_SPAN)
    assert choice.champion is None and "no baseline" in choice.reasons["2"] and math.isnan(choice.margins["2"])


@pytest.fixture(scope="module")
def versions(store):
    """v1 xgboost (best validation return), v2 lightgbm (best Sharpe, loses to the rule on return),
    v3 the rule, v4 buy-and-hold, v5 xgboost never backtested, v6 xgboost tested on an older span."""
    frame = feature_rows(11, 3)
    train = frame[frame["ts"] < OLD_SPAN[0]]
    evidence = [
        (BoostedTrees("xgboost"), TEST_SPAN, 0.60, {"validation_return": 0.05, "validation_sharpe_daily": 1.0, "test_return": 0.01}),
        (BoostedTrees("lightgbm"), TEST_SPAN, 0.62, {"validation_return": 0.01, "validation_sharpe_daily": 2.0, "test_return": 0.02}),
        (SentimentRule(), TEST_SPAN, 0.55, {"validation_return": 0.02, "validation_sharpe_daily": 0.5, "test_return": 0.0}),
        (BuyAndHold(), TEST_SPAN, 0.50, {"validation_return": -0.01, "validation_sharpe_daily": -0.3, "test_return": -0.02}),
        (BoostedTrees("xgboost"), TEST_SPAN, 0.60, None),
        (BoostedTrees("xgboost"), OLD_SPAN, 0.70, {"validation_return": 0.50, "validation_sharpe_daily": 5.0, "test_return": 0.3}),
    ]
    for estimator, span, auc, backtest in evidence:
        ref = register_version(estimator.fit(train), model_name=NAME, train=train, test_span=span, horizon=HORIZON,
                               scorer_version="vader", metrics={"validation_auc_mean": auc, "validation_auc_std": 0.01})
        if backtest is not None:
            log_evaluation(ref.run_id, backtest)


@pytest.fixture
def no_aliases(versions):
    client = MlflowClient()
    for alias in aliases(NAME):
        client.delete_registered_model_alias(NAME, alias)


def test_promote_best_promotes_the_qualifier_and_tags_every_verdict(no_aliases):
    choice = promote_best(NAME, "validation_return", 0.52)
    assert choice.champion == "1" and aliases(NAME) == {CHAMPION: "1"}
    tags = {str(v.version): v.tags for v in MlflowClient().search_model_versions(f"name = '{NAME}'")}
    assert tags["1"]["verdict"] == "promotable" and float(tags["1"]["baseline_margin"]) == pytest.approx(0.03)
    assert "does not beat baseline sentiment_rule v3" in tags["2"]["verdict"]
    assert tags["3"]["verdict"].startswith("baseline") and "baseline_margin" not in tags["3"]
    assert "no backtest" in tags["5"]["verdict"] and "not the current test span" in tags["6"]["verdict"]
    assert all("champion" not in t["verdict"] for t in tags.values())  # the alias says who is champion

    assert promote_best(NAME, "validation_sharpe_daily", 0.52).champion == "2"
    assert aliases(NAME) == {CHAMPION: "2", PREVIOUS: "1"}
    assert "promotable" == MlflowClient().get_model_version(NAME, "2").tags["verdict"]


def test_promotion_keeps_the_previous_champion_and_rollback_swaps_them_back(no_aliases):
    assert promote(NAME, "1") is None
    assert promote(NAME, "3") == "1"  # a baseline may be promoted by hand
    assert aliases(NAME) == {CHAMPION: "3", PREVIOUS: "1"}
    assert promote(NAME, "3") is None and aliases(NAME) == {CHAMPION: "3", PREVIOUS: "1"}
    assert rollback(NAME) == "1" and aliases(NAME) == {CHAMPION: "1", PREVIOUS: "3"}
    assert rollback(NAME) == "3" and aliases(NAME) == {CHAMPION: "3", PREVIOUS: "1"}


def test_rollback_without_a_previous_version_refuses(no_aliases):
    with pytest.raises(PromotionError, match="no 'previous' version to roll back to"):
        rollback(NAME)
    promote(NAME, "1")
    with pytest.raises(PromotionError, match="no 'previous'"):
        rollback(NAME)
    assert aliases(NAME) == {CHAMPION: "1"}


def test_a_version_without_a_backtest_on_the_current_test_span_is_refused(no_aliases):
    with pytest.raises(PromotionError, match="v5 refused: no backtest on the current test span was logged"):
        promote(NAME, "5")
    with pytest.raises(PromotionError, match="v6 refused: tested on 2024-03-03.*not the current test span.*retrain"):
        promote(NAME, "6")
    with pytest.raises(PromotionError, match="no version 99"):
        promote(NAME, "99")
    assert aliases(NAME) == {}


def test_before_any_evaluation_nothing_is_promotable():
    choice = choose([*BASELINES, candidate("3", ret=0.5)], "validation_return", 0.52, None)
    assert choice.champion is None and all("no research run has logged an evaluation" in r for r in choice.reasons.values())
