"""The validation folds' backtest never sees the test span: a market that resolves inside the test span does
not pay a position the validation backtest held at its end (that would be the test span's outcome leaking
into what promotion reads); the test span's own backtest is paid."""

import pandas as pd

from models import research
from models.engine import MarketInfo


def test_a_resolution_inside_the_test_span_pays_only_the_test_backtest(make_settings):
    settings = make_settings()
    hours = pd.date_range("2026-10-01", periods=48, freq="1h")
    prices = pd.DataFrame({"market": "m", "ts": hours, "price": 0.40})
    decisions = prices.assign(p_up=0.9, n_tweets_1h=50)[research.DECISION_COLUMNS]
    validation, test = decisions[decisions["ts"] < hours[24]], decisions[decisions["ts"] >= hours[24]]
    resolutions = pd.DataFrame({"market": ["m"], "resolved_at": [hours[40]], "outcome": ["YES"]})
    markets = {"m": MarketInfo("m", "m-yes", "m-no")}
    runs = research.backtest(validation, test, markets, prices, settings, resolutions)

    def paid(result) -> bool:
        return bool(((result.fills["price"] == 1.0) & (result.fills["side"] == "SELL")).any())

    assert len(runs.validation.fills) and not paid(runs.validation)
    assert runs.validation.fills["ts"].max() <= validation["ts"].max()
    assert paid(runs.test) and runs.test.metrics["total_return"] > 0
