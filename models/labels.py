"""The one definition of the label: would trading this row have paid after costs?

dbt stores only facts (price_now, price_fwd, its timestamp price_fwd_ts, fwd_move = price_fwd - price_now);
the label is computed here so that costs and the dead zone come from settings, not from SQL. A move that
does not clear the round trip (spread, slippage, fees both ways) is no trade for either side and is
labelled 0.5: the models fit it as a soft target, so their P(up) is 0.5 + (P(YES pays) - P(NO pays)) / 2.
That is what the strategy reads: p_up > 0.65 means buying YES pays 30 points more often than buying NO,
and Kelly's 2q - 1 is that same edge. Dropping the no-trade rows instead (P(up) given a move big enough)
made models confident exactly where costs eat nearly every move, such as tokens priced near 0 or 1; and
a "5-minute uptick" label taught moves no trade could profit from.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


NO_TRADE = 0.5


def net_label(frame: pd.DataFrame, round_trip_cost: float, dead_zone: float) -> pd.Series:
    """1.0 where buying YES now and selling at the horizon nets a profit, 0.0 where NO does, 0.5 in between.

    The band is exclusive at its edges: a move of exactly cost + dead_zone pays nothing and is no trade.
    `round_trip_cost` comes from `models.costs.round_trip_cost(settings.costs, fee)`, in price units.
    """
    if round_trip_cost < 0 or dead_zone < 0:
        raise ValueError(f"round_trip_cost and dead_zone must be >= 0, got {round_trip_cost} and {dead_zone}")
    move = frame["fwd_move"].to_numpy(dtype="float64")
    edge = round_trip_cost + dead_zone
    label = np.select([move > edge, move < -edge], [1.0, 0.0], default=NO_TRADE)
    return pd.Series(label, index=frame.index, name="label", dtype="float64")


def labelled(frame: pd.DataFrame, round_trip_cost: float, dead_zone: float) -> pd.DataFrame:
    """`frame` with its `label` (1, 0 or 0.5 for no trade): what estimators fit on and are scored on."""
    return frame.assign(label=net_label(frame, round_trip_cost, dead_zone))
