"""Baselines every learned model must beat, each an Estimator registrable as an MLflow pyfunc version.

A gradient-boosted model that cannot out-earn a one-line rule, holding YES throughout, or a logistic
fit on one feature has learned nothing worth its complexity. Each baseline is fit only on the training
rows it is given (validation rows never move its parameters) and answers P(up) like any model, so the
same strategy, engine and costs decide its trades.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from mlflow.pyfunc import PythonModel
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from models.labels import NO_TRADE

SENTIMENT = "sent_mean_1h"
TWEETS = "n_tweets_1h"


def _sentiment(frame: pd.DataFrame) -> np.ndarray:
    return frame[SENTIMENT].to_numpy(dtype="float64")


class SentimentRule:
    """The seed's hand-written rule: YES after an hour of clearly positive tweets, NO after clearly negative.

    With at least `min_tweets` tweets in the hour, P(up) is `confident` when the mean sentiment is above
    +threshold, 1 - `confident` below -threshold, and 0.5 (flat) otherwise or without sentiment. The
    threshold is the quantile of |sentiment| (over the training rows with enough tweets) whose rows beyond
    it are right more often than wrong by the most rows: each traded row wins or loses about one move,
    so that count is the rule's training PnL in moves. Accuracy alone would pick the most extreme
    quantile and trade a handful of rows: a strawman, not the rule a person would write.
    """

    kind = "sentiment_rule"

    def __init__(self, min_tweets: int = 10, quantiles: tuple[float, ...] = (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9),
                 confident: float = 0.9):
        self.min_tweets, self.quantiles, self.confident = min_tweets, quantiles, confident
        self.threshold = float("nan")

    def fit(self, train: pd.DataFrame, validation: pd.DataFrame | None = None) -> SentimentRule:
        sentiment, labels = _sentiment(train), train["label"].to_numpy(dtype="float64")
        eligible = (train[TWEETS].fillna(0).to_numpy() >= self.min_tweets) & ~np.isnan(sentiment)
        if not eligible.any():
            raise ValueError(f"no training row has {self.min_tweets}+ tweets and a sentiment: the rule cannot be fit")
        strength, s, y = np.abs(sentiment[eligible]), sentiment[eligible], labels[eligible]

        def net_right(threshold: float) -> int:
            beyond = (strength > threshold) & (y != NO_TRADE)  # a no-trade row is neither right nor wrong
            right = (s[beyond] > 0) == (y[beyond] == 1)
            return int(right.sum() - (~right).sum())

        candidates = np.quantile(strength, self.quantiles)
        self.threshold = float(max(candidates, key=net_right))
        return self

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        sentiment = _sentiment(frame)
        enough = frame[TWEETS].fillna(0).to_numpy() >= self.min_tweets
        p_up = np.full(len(frame), 0.5)
        p_up[enough & (sentiment > self.threshold)] = self.confident
        p_up[enough & (sentiment < -self.threshold)] = 1 - self.confident
        return p_up

    def params(self) -> dict:
        return {"threshold": self.threshold, "min_tweets": self.min_tweets, "confident": self.confident}


class BuyAndHold:
    """P(up) = 1 on every row: the strategy buys YES and holds it, the market's own drift net of costs."""

    kind = "buy_and_hold"

    def fit(self, train: pd.DataFrame, validation: pd.DataFrame | None = None) -> BuyAndHold:
        return self

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        return np.ones(len(frame))

    def params(self) -> dict:
        return {}


class OneFeatureLogistic:
    """A logistic regression on the standardized 1-hour mean sentiment alone; no sentiment, no view (0.5).

    What a model gains over it is what the other features and the trees' non-linearity add.
    """

    kind = "one_feature_logistic"

    def __init__(self, regularization: float = 1.0):
        self.regularization = regularization
        self.model = make_pipeline(StandardScaler(), LogisticRegression(C=regularization))

    def fit(self, train: pd.DataFrame, validation: pd.DataFrame | None = None) -> OneFeatureLogistic:
        """A no-trade row (label 0.5) enters once as up and once as down at half weight: the same soft target
        the trees fit, in the form a logistic regression takes."""
        rows = train.loc[train[SENTIMENT].notna(), [SENTIMENT, "label"]]
        y = rows["label"].to_numpy(dtype="float64")
        x = np.r_[rows[SENTIMENT].to_numpy(dtype="float64"), rows[SENTIMENT].to_numpy(dtype="float64")]
        targets, weights = np.r_[np.ones(len(y)), np.zeros(len(y))], np.r_[y, 1 - y]
        keep = weights > 0
        self.model.fit(x[keep, None], targets[keep], logisticregression__sample_weight=weights[keep])
        return self

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        p_up = np.full(len(frame), 0.5)
        known = frame[SENTIMENT].notna().to_numpy()
        if known.any():
            p_up[known] = self.model.predict_proba(frame.loc[known, [SENTIMENT]].to_numpy(dtype="float64"))[:, 1]
        return p_up

    def params(self) -> dict:
        return {"C": self.regularization}


BASELINES = {baseline.kind: baseline for baseline in (SentimentRule, BuyAndHold, OneFeatureLogistic)}  # kind -> class
BASELINE_KINDS = tuple(BASELINES)


class ProbabilityModel(PythonModel):
    """An Estimator as an MLflow pyfunc: `predict` returns P(up) as the float64 column `p_up`.

    pyfunc's own contract is `predict`; without this wrapper a baseline would have no loadable form,
    and the trader and the backtest score every version through one call.
    """

    def __init__(self, estimator):
        self.estimator = estimator

    def predict(self, context, model_input: pd.DataFrame, params: dict | None = None) -> pd.DataFrame:
        return pd.DataFrame({"p_up": self.estimator.predict_proba(model_input)}, dtype="float64")
