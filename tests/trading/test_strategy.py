import math

import pytest

from models.strategy import Signal, Verdict, evaluate
from sentitrade.settings import StrategySettings

RULE = StrategySettings(buy_above=0.65, sell_below=0.35, exit_at=0.5, min_tweets=10, min_price=0.05, max_price=0.95)


@pytest.mark.parametrize(
    ("p_up", "signal"),
    [(0.66, Signal.BUY), (0.65, Signal.HOLD), (0.34, Signal.SELL), (0.35, Signal.HOLD), (0.50, Signal.HOLD)],
)
def test_thresholds_are_strict(p_up, signal):
    verdict = evaluate(p_up, 10, 0.5, RULE)
    assert verdict.signal is signal and verdict.entry_blocks == ()


def test_reasons_name_the_threshold_crossed():
    assert evaluate(0.9, 50, 0.5, RULE) == Verdict(Signal.BUY, "p_up 0.900 > 0.65", ())
    assert evaluate(0.2, 50, 0.5, RULE) == Verdict(Signal.SELL, "p_up 0.200 < 0.35", ())
    assert evaluate(0.5, 50, 0.5, RULE) == Verdict(Signal.HOLD, "p_up 0.500 within [0.35, 0.65]", ())


def test_too_few_tweets_blocks_entries_but_keeps_the_models_signal():
    assert evaluate(0.9, 3, 0.5, RULE) == Verdict(Signal.BUY, "p_up 0.900 > 0.65", ("3 tweets < min 10",))
    assert evaluate(0.01, 9, 0.5, RULE).entry_blocks == ("9 tweets < min 10",)


@pytest.mark.parametrize(("mid_yes", "blocked"), [(0.04, True), (0.05, False), (0.95, False), (0.96, True)])
def test_price_band_blocks_entries_near_the_edges(mid_yes, blocked):
    verdict = evaluate(0.9, 50, mid_yes, RULE)
    assert verdict.signal is Signal.BUY
    assert verdict.entry_blocks == ((f"price {mid_yes:g} outside [0.05, 0.95]",) if blocked else ())


def test_every_block_that_applies_is_listed():
    assert evaluate(0.9, 0, 0.99, RULE).entry_blocks == ("0 tweets < min 10", "price 0.99 outside [0.05, 0.95]")


def test_no_prediction_keeps_what_is_held():
    assert evaluate(math.nan, 50, 0.5, RULE, held="YES") == Verdict(Signal.BUY, "no prediction", ())
    assert evaluate(math.nan, 50, 0.5, RULE, held="NO").signal is Signal.SELL
    assert evaluate(math.nan, 3, 0.5, RULE) == Verdict(Signal.HOLD, "no prediction", ("3 tweets < min 10",))


def test_signal_maps_to_held_token_and_back():
    assert (Signal.BUY.token, Signal.SELL.token, Signal.HOLD.token) == ("YES", "NO", None)
    assert [Signal.holding(t) for t in ("YES", "NO", None)] == [Signal.BUY, Signal.SELL, Signal.HOLD]


def test_held_position_is_kept_until_p_up_crosses_the_exit_level():
    assert evaluate(0.60, 50, 0.5, RULE, held="YES").signal is Signal.BUY  # inside the entry band, above exit 0.5
    assert evaluate(0.60, 50, 0.5, RULE).signal is Signal.HOLD  # the same p_up opens nothing
    assert evaluate(0.45, 50, 0.5, RULE, held="YES").signal is Signal.HOLD
    assert evaluate(0.45, 50, 0.5, RULE, held="NO").signal is Signal.SELL
    assert evaluate(0.55, 50, 0.5, RULE, held="NO").signal is Signal.HOLD
    assert evaluate(0.60, 50, 0.5, RULE, held="YES").reason == "p_up 0.600 still above exit 0.5"
