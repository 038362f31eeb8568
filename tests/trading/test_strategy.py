import math

import pytest

from models.strategy import Signal, decide, evaluate
from sentitrade.settings import StrategySettings

RULE = StrategySettings(buy_above=0.65, sell_below=0.35, min_tweets=10)


@pytest.mark.parametrize(
    ("p_up", "n_tweets", "signal"),
    [
        (0.66, 10, Signal.BUY),
        (0.65, 10, Signal.HOLD),  # thresholds are strict
        (0.34, 10, Signal.SELL),
        (0.35, 10, Signal.HOLD),
        (0.50, 500, Signal.HOLD),
        (0.99, 9, Signal.HOLD),  # too few tweets: no trade however confident
        (0.01, 9, Signal.HOLD),
        (math.nan, 50, Signal.HOLD),
    ],
)
def test_decide(p_up, n_tweets, signal):
    assert decide(p_up, n_tweets, RULE) is signal


def test_reason_names_the_tweet_floor():
    assert evaluate(0.9, 3, RULE) == (Signal.HOLD, "3 tweets < min 10")


def test_signal_maps_to_held_token():
    assert (Signal.BUY.token, Signal.SELL.token, Signal.HOLD.token) == ("YES", "NO", None)
