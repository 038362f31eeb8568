"""The baselines fit on training rows only and answer P(up) the strategy can trade (YES / NO / flat)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from models.baselines import BuyAndHold, OneFeatureLogistic, ProbabilityModel, SentimentRule
from models.features import FEATURE_COLUMNS


def rows(seed: int, n: int = 4000) -> pd.DataFrame:
    """Sentiment says the move's direction only where it is strong but not extreme (1 < |s| < 1.5); weaker
    sentiment misleads (wrong 60% of the time), stronger is a coin flip; rows with fewer than 10 tweets
    have the label reversed, so a rule that learned from them would show."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(rng.normal(size=(n, len(FEATURE_COLUMNS))), columns=FEATURE_COLUMNS)
    frame["n_tweets_1h"] = rng.integers(0, 40, n).astype(float)
    s = frame["sent_mean_1h"]
    informative = s.abs().between(1.0, 1.5)
    misleading = (s > 0) != (rng.random(n) < 0.6)
    frame["label"] = np.where(informative, s > 0, np.where(s.abs() < 1.0, misleading, rng.random(n) < 0.5)).astype(int)
    frame.loc[frame["n_tweets_1h"] < 10, "label"] = (s < 0).astype(int)
    frame.loc[rng.random(n) < 0.05, "sent_mean_1h"] = np.nan
    return frame.assign(market="m", ts=pd.date_range("2024-03-01", periods=n, freq="5min"))


def test_the_rule_picks_the_threshold_where_sentiment_nets_the_most_right_calls():
    train = rows(1)
    rule = SentimentRule().fit(train)
    eligible = train[(train["n_tweets_1h"] >= 10) & train["sent_mean_1h"].notna()]
    # The planted band starts at |s| = 1: of the grid, the 70th percentile of |s| (about 1.04) is the closest above it.
    assert rule.threshold == pytest.approx(np.quantile(eligible["sent_mean_1h"].abs(), 0.7))
    assert rule.params() == {"threshold": rule.threshold, "min_tweets": 10, "confident": 0.9}


def test_the_rule_depends_on_training_rows_only():
    train = rows(1)
    one, other = SentimentRule().fit(train, rows(2)), SentimentRule().fit(train, rows(3).assign(label=0))
    assert one.threshold == other.threshold
    test = rows(4)
    np.testing.assert_array_equal(one.predict_proba(test), other.predict_proba(test))
    assert SentimentRule().fit(rows(5).assign(label=lambda f: 1 - f["label"])).threshold != one.threshold


def test_the_rule_buys_above_sells_below_and_stays_flat_otherwise():
    rule = SentimentRule().fit(rows(1))
    t = rule.threshold
    frame = pd.DataFrame({
        "sent_mean_1h": [t + 0.01, -t - 0.01, t / 2, t + 0.01, np.nan, -t - 0.01],
        "n_tweets_1h": [10, 25, 30, 9, 30, np.nan],
    })
    np.testing.assert_allclose(rule.predict_proba(frame), [0.9, 0.1, 0.5, 0.5, 0.5, 0.5])


def test_the_rule_needs_rows_with_enough_tweets():
    with pytest.raises(ValueError, match="10\\+ tweets"):
        SentimentRule().fit(rows(1).assign(n_tweets_1h=3.0))


def test_buy_and_hold_always_wants_yes():
    np.testing.assert_array_equal(BuyAndHold().fit(rows(1)).predict_proba(rows(2, n=7)), np.ones(7))


def test_the_logistic_reads_sentiment_alone_and_has_no_view_without_it():
    train = rows(1).assign(label=lambda f: (f["sent_mean_1h"].fillna(0) + np.random.default_rng(0).normal(size=len(f)) > 0).astype(int))
    model = OneFeatureLogistic().fit(train)
    test = rows(2)
    p_up = model.predict_proba(test)
    known = test["sent_mean_1h"].notna().to_numpy()
    assert np.all(p_up[~known] == 0.5)
    assert roc_auc_score(test["sent_mean_1h"][known] > 0, p_up[known]) == 1.0  # monotone in sentiment
    scrambled = test.assign(**{c: np.random.default_rng(9).normal(size=len(test)) for c in FEATURE_COLUMNS if c != "sent_mean_1h"})
    np.testing.assert_array_equal(model.predict_proba(scrambled), p_up)


@pytest.mark.parametrize("estimator", [SentimentRule(), BuyAndHold(), OneFeatureLogistic()], ids=lambda e: e.kind)
def test_the_pyfunc_wrapper_answers_p_up_as_float64(estimator):
    estimator.fit(rows(1))
    test = rows(2, n=50)
    out = ProbabilityModel(estimator).predict(None, test[FEATURE_COLUMNS])
    assert list(out.columns) == ["p_up"] and out["p_up"].dtype == np.float64
    np.testing.assert_array_equal(out["p_up"].to_numpy(), estimator.predict_proba(test))
