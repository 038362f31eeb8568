import math

import pytest

from models.strategy import Signal, decide, evaluate
from sentitrade.settings import StrategySettings

RULE = StrategySettings(buy_above=0.65, sell_below=0.35, exit_at=0.5, min_tweets=10, min_price=0.05, max_price=0.95)


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
    assert decide(p_up, n_tweets, 0.5, RULE) is signal


def test_reason_names_the_tweet_floor():
    assert evaluate(0.9, 3, 0.5, RULE) == (Signal.HOLD, "3 tweets < min 10")


@pytest.mark.parametrize(("mid_yes", "signal"), [(0.04, Signal.HOLD), (0.05, Signal.BUY), (0.95, Signal.BUY), (0.96, Signal.HOLD)])
def test_no_new_trade_near_the_edges(mid_yes, signal):
    assert decide(0.9, 50, mid_yes, RULE) is signal
    if signal is Signal.HOLD:
        assert evaluate(0.9, 50, mid_yes, RULE)[1] == f"price {mid_yes:g} outside [0.05, 0.95]"


def test_signal_maps_to_held_token():
    assert (Signal.BUY.token, Signal.SELL.token, Signal.HOLD.token) == ("YES", "NO", None)


def test_held_position_is_kept_until_p_up_crosses_the_exit_level():
    assert decide(0.60, 50, 0.5, RULE, held="YES") is Signal.BUY  # inside the entry band, above exit 0.5
    assert decide(0.60, 50, 0.5, RULE) is Signal.HOLD  # the same p_up opens nothing
    assert decide(0.45, 50, 0.5, RULE, held="YES") is Signal.HOLD
    assert decide(0.45, 50, 0.5, RULE, held="NO") is Signal.SELL
    assert decide(0.55, 50, 0.5, RULE, held="NO") is Signal.HOLD
