"""The one definition of the label: would trading this row have paid after costs?

dbt stores only facts (price_now, price_fwd, its timestamp price_fwd_ts, fwd_move = price_fwd - price_now);
the label is computed here so that costs and the dead zone come from settings, not from SQL. A move that
does not clear the round trip (spread, slippage, fees both ways) is no trade for either side, so it is
neither learned from nor scored: teaching a model to call moves it could never profit from is how a
"5-minute uptick" label looked skilful and lost money.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def net_label(frame: pd.DataFrame, round_trip_cost: float, dead_zone: float) -> pd.Series:
    """1.0 where buying YES now and selling at the horizon nets a profit, 0.0 where NO does, NaN in between.

    The band is exclusive at its edges: a move of exactly cost + dead_zone pays nothing and is no trade.
    `round_trip_cost` comes from `models.costs.round_trip_cost(settings.costs, fee)`, in price units.
    """
    if round_trip_cost < 0 or dead_zone < 0:
        raise ValueError(f"round_trip_cost and dead_zone must be >= 0, got {round_trip_cost} and {dead_zone}")
    move = frame["fwd_move"].to_numpy(dtype="float64")
    edge = round_trip_cost + dead_zone
    label = np.select([move > edge, move < -edge], [1.0, 0.0], default=np.nan)
    return pd.Series(label, index=frame.index, name="label", dtype="float64")


def labelled(frame: pd.DataFrame, round_trip_cost: float, dead_zone: float) -> pd.DataFrame:
    """`frame` with its 0/1 `label` (int), the no-trade rows dropped: what estimators fit on and are scored on."""
    label = net_label(frame, round_trip_cost, dead_zone)
    keep = label.notna()
    return frame.loc[keep].assign(label=label[keep].astype(int))
