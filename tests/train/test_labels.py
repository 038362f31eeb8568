"""Labels net of costs: profit for YES is 1, profit for NO is 0, anything the round trip eats is no trade (0.5)."""

from __future__ import annotations

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
    expected = [1.0, 1.0, 0.5, 0.5, 0.5, 0.5, 0.5, 0.0, 0.0]
    np.testing.assert_array_equal(label.to_numpy(), expected)
    assert label.dtype == "float64" and list(label.index) == list(range(10, 19))  # aligned with the frame


def test_the_dead_zone_widens_the_no_trade_band_on_both_sides():
    moves = _moves(0.024, 0.0241, -0.024, -0.0241)
    np.testing.assert_array_equal(net_label(moves, COST, 0.0).to_numpy(), [1.0, 1.0, 0.0, 0.0])
    np.testing.assert_array_equal(net_label(moves, COST, 0.01).to_numpy(), [0.5, 1.0, 0.5, 0.0])


def test_free_trading_labels_every_nonzero_move():
    label = net_label(_moves(1e-9, 0.0, -1e-9), 0.0, 0.0)
    assert label.tolist() == [1.0, 0.5, 0.0]


def test_labelled_keeps_every_row_and_marks_no_trade_as_half():
    frame = _moves(0.05, 0.001, -0.05).assign(market=["a", "b", "c"])
    out = labelled(frame, COST, 0.0)
    assert list(out.index) == [10, 11, 12] and list(out["market"]) == ["a", "b", "c"]
    assert out["label"].tolist() == [1.0, 0.5, 0.0]
    assert "label" not in frame  # the input is not modified


def test_a_soft_target_makes_p_up_the_edge_the_strategy_reads():
    """Fit to 1/0/0.5, the best constant P(up) is 0.5 + (P(YES pays) - P(NO pays)) / 2."""
    label = net_label(_moves(*[0.05] * 5, *[-0.05] * 2, *[0.0] * 3), COST, 0.0)
    grid = np.linspace(0.01, 0.99, 981)
    loss = [-(label * np.log(p) + (1 - label) * np.log(1 - p)).mean() for p in grid]
    assert grid[int(np.argmin(loss))] == pytest.approx(0.5 + (0.5 - 0.2) / 2)


def test_negative_costs_are_refused():
    with pytest.raises(ValueError, match="must be >= 0"):
        net_label(_moves(0.1), -0.01, 0.0)
    with pytest.raises(ValueError, match="must be >= 0"):
        net_label(_moves(0.1), COST, -0.01)
