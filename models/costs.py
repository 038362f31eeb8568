"""What a fill really costs on Polymarket: the book walked for the order's size and the taker fee.

Backtest, paper and live trading all price fills here, so a backtest's costs are the ones the trader pays.
Where a recorded order book is known it is walked as it stands; where not, the cost model stands in for
one: the touch at mid ± (half_spread + slippage), then `depth_shares` at every tick outward.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Literal, NamedTuple

from models import rules
from sentitrade.settings import CostSettings

Side = Literal["BUY", "SELL"]
Level = tuple[float, float]  # (price, shares offered)

_EPS = rules.EPS


def fee_per_share(price: float, rate: float, exponent: float = 1.0) -> float:
    """Unrounded taker fee of one share, feeRate × (p × (1 − p))^exponent; sizing uses it to stay within cash."""
    return rules.fee_per_share(price, rate, exponent)


def taker_fee(shares: float, price: float, rate: float, exponent: float = 1.0) -> float:
    """Polymarket's taker fee in USDC: fee = C × feeRate × (p × (1 − p))^exponent, to 5 decimals.

    C is the number of shares and p the fill price (docs.polymarket.com/trading/fees). The fee peaks at
    p = 0.5 and vanishes near 0 and 1; makers pay none, and it applies only on markets with fees enabled.
    """
    return rules.taker_fee(shares, price, rate, exponent)


@dataclass(frozen=True)
class Book:
    """One token's order book: (price, size) levels, bids best (highest) first, asks best (lowest) first."""

    bids: tuple[Level, ...]
    asks: tuple[Level, ...]

    @classmethod
    def from_clob(cls, payload: Mapping) -> "Book":
        """From the CLOB `GET /book` JSON: prices and sizes are strings, and the levels come worst first."""
        def levels(side: str, best_first_high: bool) -> tuple[Level, ...]:
            parsed = [(float(level["price"]), float(level["size"])) for level in payload.get(side, [])]
            return tuple(sorted((lv for lv in parsed if lv[1] > 0), reverse=best_first_high))

        return cls(levels("bids", True), levels("asks", False))

    def complement(self) -> "Book":
        """The other outcome token's book: YES and NO pay 1 together, so a YES bid at p is a NO ask at 1 − p."""
        flip = lambda levels: tuple((round(1.0 - p, 10), size) for p, size in levels)  # noqa: E731
        return Book(bids=flip(self.asks), asks=flip(self.bids))

    def scaled(self, scale: float) -> "Book":
        """Every level's distance from the mid times `scale` (0: all at the mid): the cost-sensitivity rerun."""
        if scale == 1.0 or not (self.bids and self.asks):
            return self
        mid = (self.bids[0][0] + self.asks[0][0]) / 2
        move = lambda levels: tuple((mid + scale * (p - mid), size) for p, size in levels)  # noqa: E731
        return Book(move(self.bids), move(self.asks))


def touch(mid: float, side: Side, tick: float, costs: CostSettings, scale: float = 1.0) -> float | None:
    """The cost model's best price for a taker: the mid moved against us by half the spread plus slippage.

    Snapped to the tick in the adverse direction (a BUY rounds up, a SELL down), since the book only
    quotes on ticks. Outside [tick, 1 − tick] there is no such quote: None, never a clamp to a better price.
    The tick is the exchange's grid, not a cost, so `scale` (cost sensitivity) leaves it alone.
    """
    if side not in ("BUY", "SELL"):
        raise ValueError(f"side must be BUY or SELL, not {side!r}")
    price = rules.on_grid(rules.touch_ticks(mid, side == "BUY", tick, costs.half_spread, costs.slippage, scale), tick)
    return None if math.isnan(price) else price


def model_levels(mid: float, side: Side, tick: float, costs: CostSettings, scale: float = 1.0) -> Iterator[Level]:
    """The cost model's book side: the `touch`, then `depth_shares` at every tick outward, inside [tick, 1 − tick].

    Twice the costs (`scale` 2) halves the depth at each level, so walking it costs about twice as much.
    """
    buy, depth, level = side == "BUY", rules.model_depth(costs.depth_shares, scale), 0
    at = rules.touch_ticks(mid, buy, tick, costs.half_spread, costs.slippage, scale)
    while not math.isnan(price := rules.model_level(at, buy, tick, level)):
        yield price, depth
        level += 1


class Taken(NamedTuple):
    shares: float
    price: float  # size-weighted average, unrounded, so shares × price is exactly the cash that moved
    fee: float


def walk(levels: Iterable[Level], side: Side, shares: float, limit: float,
         fee: Callable[[float, float], float]) -> Taken | None:
    """Take liquidity level by level, best first, up to the order's size and limit; None if nothing fills.

    What the levels inside the limit cannot supply does not fill (a partial fill). The fee `fee(shares,
    price)` is charged per level at that level's price: each level is a separate match against a maker,
    and Polymarket applies the fee to each trade at match time (FACTS.md §2), not to the order's average.
    Shares are taken in hundredths, the exchange's size step.
    """
    left, taken, notional, fees = shares, 0.0, 0.0, 0.0
    for price, size in levels:
        if left < 0.01 - _EPS or not rules.inside_limit(price, limit, side == "BUY"):
            break
        take = rules.share_floor(min(left, size))
        taken, notional, fees, left = taken + take, notional + take * price, fees + fee(take, price), left - take
    if taken < 0.01 - _EPS:
        return None
    taken = rules.decimal_round(taken, 2)
    return Taken(taken, notional / taken, rules.decimal_round(fees, 5))


def affordable(levels: Iterable[Level], stake: float, cash: float,
               fee_per_share: Callable[[float], float]) -> tuple[float, float | None]:
    """Shares a BUY of `stake` USDC gets walking `levels` without spending more than `cash` with fees,
    and the worst price it reaches (its limit; None when nothing is affordable). In hundredths of a share."""
    shares, spent, paid, worst = 0.0, 0.0, 0.0, None
    for price, size in levels:
        take = rules.affordable_take(size, stake, spent, price, cash, paid, fee_per_share(price))
        if take <= 0:
            break
        shares, spent, worst = shares + take, spent + take * price, price
        paid += take * (price + fee_per_share(price))
        if take < size:
            break
    return rules.decimal_round(shares, 2), worst


def round_trip_cost(costs: CostSettings, fee_per_share: float, scale: float = 1.0) -> float:
    """Price units a share loses buying and later selling it: half spread, slippage and taker fee, each way.

    Sizing needs it before the exit price is known, so the exit's fee is taken at the entry's; the walk
    beyond the touch is not in it (sizing already buys only what the walk affords).
    """
    return rules.round_trip_cost(costs.half_spread, costs.slippage, fee_per_share, scale)
