"""Labels net of costs: profit for YES is 1, profit for NO is 0, anything the round trip eats is no trade."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from models.costs import round_trip_cost
from models.labels import labelled, net_label
from sentitrade.settings import CostSettings

COST = round_trip_cost(CostSettings(half_spread=0.005, slippage=0.002), 0.0)  # 0.014: spread and slippage, both ways


def _moves(*moves: float) -> pd.DataFrame:
    return pd.DataFrame({"fwd_move": moves}, index=[10 + i for i in range(len(moves))])


def test_round_trip_cost_is_both_legs_of_spread_and_slippage():
    assert COST == pytest.approx(0.014)
    assert round_trip_cost(CostSettings(half_spread=0.005, slippage=0.002), 0.001) == pytest.approx(0.016)


def test_only_moves_beyond_the_round_trip_are_labelled():
    label = net_label(_moves(0.02, 0.0141, 0.014, 0.005, 0.0, -0.005, -0.014, -0.0141, -0.3), COST, 0.0)
    expected = [1.0, 1.0, np.nan, np.nan, np.nan, np.nan, np.nan, 0.0, 0.0]
    np.testing.assert_array_equal(label.to_numpy(), expected)
    assert label.dtype == "float64" and list(label.index) == list(range(10, 19))  # aligned with the frame


def test_the_dead_zone_widens_the_no_trade_band_on_both_sides():
    moves = _moves(0.024, 0.0241, -0.024, -0.0241)
    np.testing.assert_array_equal(net_label(moves, COST, 0.0).to_numpy(), [1.0, 1.0, 0.0, 0.0])
    np.testing.assert_array_equal(net_label(moves, COST, 0.01).to_numpy(), [np.nan, 1.0, np.nan, 0.0])


def test_free_trading_labels_every_nonzero_move():
    label = net_label(_moves(1e-9, 0.0, -1e-9), 0.0, 0.0)
    assert label.iloc[0] == 1.0 and math.isnan(label.iloc[1]) and label.iloc[2] == 0.0


def test_labelled_drops_no_trade_rows_and_keeps_the_rest_intact():
    frame = _moves(0.05, 0.001, -0.05).assign(market=["a", "b", "c"])
    out = labelled(frame, COST, 0.0)
    assert list(out.index) == [10, 12] and list(out["market"]) == ["a", "c"]
    assert out["label"].tolist() == [1, 0] and out["label"].dtype.kind == "i"
    assert "label" not in frame  # the input is not modified


def test_negative_costs_are_refused():
    with pytest.raises(ValueError, match="must be >= 0"):
        net_label(_moves(0.1), -0.01, 0.0)
    with pytest.raises(ValueError, match="must be >= 0"):
        net_label(_moves(0.1), COST, -0.01)
