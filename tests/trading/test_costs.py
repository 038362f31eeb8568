import pytest

from models.costs import fill_price, round_trip_cost, taker_fee
from sentitrade.settings import CostSettings

COSTS = CostSettings(half_spread=0.005, slippage=0.002)
FREE = CostSettings(half_spread=0.0, slippage=0.0)


@pytest.mark.parametrize(
    ("shares", "price", "rate", "exponent", "fee"),
    [
        (100, 0.5, 0.04, 1.0, 1.0),  # 100 × 0.04 × 0.25
        (100, 0.5, 0.25, 2.0, 1.5625),  # 100 × 0.25 × 0.25² (the official SDK's test value)
        (100, 0.3, 0.02, 1.0, 0.42),  # 100 × 0.02 × 0.21
        (1, 0.37, 0.0123, 1.0, 0.00287),  # 0.0123 × 0.2331 = 0.002867… rounded to 5 decimals
        (1000, 0.99, 0.04, 1.0, 0.396),  # cheap near the edges: 1000 × 0.04 × 0.0099
        (100, 0.5, 0.0, 1.0, 0.0),
    ],
)
def test_taker_fee(shares, price, rate, exponent, fee):
    assert taker_fee(shares, price, rate, exponent) == pytest.approx(fee, abs=1e-12)


def test_fee_is_symmetric_in_price():
    assert taker_fee(250, 0.2, 0.03) == taker_fee(250, 0.8, 0.03) == 1.2


@pytest.mark.parametrize(
    ("mid", "side", "tick", "expected"),
    [
        (0.50, "BUY", 0.01, 0.51),  # 0.507 snaps up
        (0.50, "SELL", 0.01, 0.49),  # 0.493 snaps down
        (0.50, "BUY", 0.001, 0.507),
        (0.50, "SELL", 0.001, 0.493),
        (0.493, "BUY", 0.01, 0.50),  # lands exactly on a tick: not pushed one further
        (0.507, "SELL", 0.01, 0.50),
        (0.995, "BUY", 0.01, 0.99),  # clamped to 1 − tick
        (0.004, "SELL", 0.01, 0.01),  # clamped to tick
    ],
)
def test_fill_price_crosses_costs_and_snaps_adversely(mid, side, tick, expected):
    assert fill_price(mid, side, tick, COSTS) == expected


def test_fill_price_snaps_without_costs():
    assert fill_price(0.503, "BUY", 0.01, FREE) == 0.51
    assert fill_price(0.503, "SELL", 0.01, FREE) == 0.50
    assert fill_price(0.50, "BUY", 0.01, FREE) == 0.50


def test_fill_price_rejects_unknown_side():
    with pytest.raises(ValueError, match="BUY or SELL"):
        fill_price(0.5, "SHORT", 0.01, COSTS)


def test_round_trip_cost_counts_spread_slippage_and_fee_each_way():
    assert round_trip_cost(COSTS, 0.0) == pytest.approx(0.014)  # 2 × (0.005 + 0.002)
    assert round_trip_cost(COSTS, 0.04 * 0.51 * 0.49) == pytest.approx(0.014 + 2 * 0.009996)
    assert round_trip_cost(FREE, 0.0) == 0.0
