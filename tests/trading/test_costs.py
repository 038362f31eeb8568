import itertools
import json
import math
from pathlib import Path

import pytest

from models.costs import Book, affordable, model_levels, round_trip_cost, taker_fee, touch, walk
from sentitrade.settings import CostSettings

RECORDED_BOOK = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "polymarket-fixtures" / "clob-book" / (
    "nautilus-py__book.json")

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
        (0.995, "BUY", 0.01, None),  # 1.002 is no ask: never clamped down to 0.99
        (0.004, "SELL", 0.01, None),  # -0.003 is no bid: never clamped up to the tick, handing out cash
        (0.012, "SELL", 0.01, None),  # 0.005 snaps down to 0: no bid either
        (0.018, "SELL", 0.01, 0.01),
    ],
)
def test_touch_crosses_costs_snaps_adversely_and_never_clamps(mid, side, tick, expected):
    assert touch(mid, side, tick, COSTS) == expected


def test_touch_snaps_without_costs_and_scales_them():
    assert touch(0.503, "BUY", 0.01, FREE) == 0.51
    assert touch(0.503, "SELL", 0.01, FREE) == 0.50
    assert touch(0.50, "BUY", 0.01, FREE) == 0.50
    assert touch(0.50, "BUY", 0.001, COSTS, scale=0) == 0.50
    assert touch(0.50, "BUY", 0.001, COSTS, scale=2) == 0.514


def test_touch_rejects_unknown_side():
    with pytest.raises(ValueError, match="BUY or SELL"):
        touch(0.5, "SHORT", 0.01, COSTS)


def test_model_levels_offer_depth_at_every_tick_outward_inside_the_price_range():
    deep = CostSettings(half_spread=0.005, slippage=0.002, depth_shares=100)
    assert list(itertools.islice(model_levels(0.50, "BUY", 0.01, deep), 3)) == [(0.51, 100), (0.52, 100), (0.53, 100)]
    assert list(model_levels(0.03, "SELL", 0.01, deep)) == [(0.02, 100), (0.01, 100)]
    assert list(model_levels(0.97, "BUY", 0.01, deep)) == [(0.98, 100), (0.99, 100)]
    assert list(itertools.islice(model_levels(0.50, "BUY", 0.01, deep, scale=2), 2)) == [(0.52, 50), (0.53, 50)]
    assert next(model_levels(0.50, "BUY", 0.01, deep, scale=0)) == (0.50, math.inf)


def no_fee(shares: float, price: float) -> float:
    return 0.0


def test_walk_takes_levels_best_first_up_to_the_limit_and_fills_the_rest_in_part():
    levels = [(0.14, 705.0), (0.20, 70.0), (0.38, 192.3)]
    taken = walk(levels, "BUY", 800.0, 0.38, lambda s, p: taker_fee(s, p, 0.04))
    assert taken.shares == 800.0
    assert taken.price == pytest.approx((705 * 0.14 + 70 * 0.20 + 25 * 0.38) / 800, abs=1e-12)
    # the fee is charged per level, at each level's price
    assert taken.fee == pytest.approx(taker_fee(705, 0.14, 0.04) + taker_fee(70, 0.20, 0.04) + taker_fee(25, 0.38, 0.04))
    partial = walk(levels, "BUY", 800.0, 0.20, no_fee)
    assert (partial.shares, partial.price) == (775.0, pytest.approx((705 * 0.14 + 70 * 0.20) / 775))
    assert walk(levels, "BUY", 10.0, 0.13, no_fee) is None
    assert walk([(0.10, 125.0), (0.09, 294.0)], "SELL", 200.0, 0.09, no_fee).price == pytest.approx(
        (125 * 0.10 + 75 * 0.09) / 200)


def test_affordable_spends_the_stake_walking_levels_within_cash():
    levels = [(0.50, 100.0), (0.60, 100.0), (0.70, 100.0)]
    assert affordable(levels, 110.0, 1000.0, lambda p: 0.0) == (200.0, 0.60)  # 50 + 60
    assert affordable(levels, 80.0, 1000.0, lambda p: 0.0) == (150.0, 0.60)  # 50 + 30 / 0.6
    assert affordable(levels, 1000.0, 55.0, lambda p: 0.01) == (106.55, 0.60)  # 100 × 0.51, then 4 / 0.61 more
    assert affordable([], 100.0, 100.0, lambda p: 0.0) == (0.0, None)


def test_a_recorded_clob_book_parses_best_first_and_mirrors_to_the_other_token():
    book = Book.from_clob(json.loads(RECORDED_BOOK.read_text()))
    assert book.asks[:3] == ((0.14, 705.0), (0.2, 70.0), (0.38, 192.3)) and book.asks[-1] == (0.98, 5000.0)
    assert book.bids[:2] == ((0.1, 125.0), (0.09, 294.0)) and book.bids[-1] == (0.01, 1000.0)
    no = book.complement()
    assert no.asks[0] == (0.9, 125.0) and no.bids[0] == (0.86, 705.0)
    assert book.scaled(0).asks[0][0] == book.scaled(0).bids[0][0] == pytest.approx(0.12)
    assert book.scaled(2).asks[0][0] == pytest.approx(0.16) and book.scaled(1) is book


def test_a_200_usdc_buy_walks_the_recorded_book_from_014_to_an_average_near_020():
    asks = Book.from_clob(json.loads(RECORDED_BOOK.read_text())).asks
    shares, limit = affordable(asks, 200.0, 1000.0, lambda p: 0.0)
    taken = walk(asks, "BUY", shares, limit, no_fee)
    # 705 at 0.14, 70 at 0.20, 192.3 at 0.38, 10 at 0.46, then 20.48 of the 50 at 0.47
    assert limit == 0.47 and taken.shares == shares == 997.78
    assert taken.price == pytest.approx(0.2004, abs=1e-4) and taken.shares * taken.price == pytest.approx(200.0, abs=0.01)


def test_round_trip_cost_counts_spread_slippage_and_fee_each_way():
    assert round_trip_cost(COSTS, 0.0) == pytest.approx(0.014)  # 2 × (0.005 + 0.002)
    assert round_trip_cost(COSTS, 0.04 * 0.51 * 0.49) == pytest.approx(0.014 + 2 * 0.009996)
    assert round_trip_cost(FREE, 0.0) == 0.0
    assert round_trip_cost(COSTS, 0.0, scale=2) == pytest.approx(0.028)
