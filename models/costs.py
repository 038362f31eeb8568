"""What a fill really costs on Polymarket: the price crossed and the taker fee.

Backtest, paper and live trading all price fills here, so a backtest's costs are the ones the trader pays.
"""

from __future__ import annotations

import math
from typing import Literal

from sentitrade.settings import CostSettings

Side = Literal["BUY", "SELL"]

_EPS = 1e-9  # absorbs float noise so a price already on the tick is not pushed one tick further


def fee_per_share(price: float, rate: float, exponent: float = 1.0) -> float:
    """Unrounded taker fee of one share, feeRate × (p × (1 − p))^exponent; sizing uses it to stay within cash."""
    return rate * (price * (1.0 - price)) ** exponent


def taker_fee(shares: float, price: float, rate: float, exponent: float = 1.0) -> float:
    """Polymarket's taker fee in USDC: fee = C × feeRate × (p × (1 − p))^exponent, to 5 decimals.

    C is the number of shares and p the fill price (docs.polymarket.com/trading/fees). The fee peaks at
    p = 0.5 and vanishes near 0 and 1; makers pay none, and it applies only on markets with fees enabled.
    """
    return round(shares * fee_per_share(price, rate, exponent), 5)


def fill_price(mid: float, side: Side, tick: float, costs: CostSettings) -> float:
    """The price a marketable order gets: the mid moved against us by half the spread plus slippage.

    The result is snapped to the market's tick in the adverse direction (a BUY rounds up, a SELL down),
    since the book only quotes on ticks, and kept inside [tick, 1 − tick], the range Polymarket accepts.
    """
    cost = costs.half_spread + costs.slippage
    if side == "BUY":
        ticks = math.ceil((mid + cost) / tick - _EPS)
    elif side == "SELL":
        ticks = math.floor((mid - cost) / tick + _EPS)
    else:
        raise ValueError(f"side must be BUY or SELL, not {side!r}")
    return round(min(max(ticks * tick, tick), 1.0 - tick), 10)  # 7 × 0.1 is 0.7000000000000001


def round_trip_cost(costs: CostSettings, fee_per_share: float) -> float:
    """Price units a share loses buying and later selling it: half spread, slippage and taker fee, each way.

    Sizing needs it before the exit price is known, so the exit's fee is taken at the entry's.
    """
    return 2 * (costs.half_spread + costs.slippage + fee_per_share)
