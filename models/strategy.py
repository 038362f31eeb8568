"""The decision rule: turn the model's probability of an up-move into a target position.

Polymarket has no shorting, so a bearish view is expressed by holding the NO token instead of selling YES.
"""

from __future__ import annotations

import math
from enum import StrEnum
from typing import Literal, NamedTuple

from sentitrade.settings import StrategySettings

Token = Literal["YES", "NO"]


class Signal(StrEnum):
    """BUY: hold the YES token. SELL: hold the NO token. HOLD: be flat."""

    BUY = "BUY"
    SELL = "SELL"
    HOLD = "HOLD"

    @property
    def token(self) -> Token | None:
        """The outcome token this signal wants held, None for flat."""
        return {"BUY": "YES", "SELL": "NO"}.get(self.value)

    @classmethod
    def holding(cls, token: Token | None) -> "Signal":
        """The signal that keeps `token` held (HOLD when flat)."""
        return {"YES": cls.BUY, "NO": cls.SELL}.get(token, cls.HOLD)


class Verdict(NamedTuple):
    """The position the model wants, why, and the rules that forbid opening one now."""

    signal: Signal
    reason: str
    entry_blocks: tuple[str, ...]


def evaluate(p_up: float, n_tweets: int, mid_yes: float, rule: StrategySettings, held: Token | None = None) -> Verdict:
    """The model's signal, a short reason for it, and what blocks a new entry, so each decision can be explained.

    Too few tweets are thin evidence for a new bet, and near 0 or 1 a spread and slippage fixed in price
    units cost a large share of the price while the moves left are tiny: both only block NEW positions. A
    position already held is kept until p_up crosses back over `exit_at` (hysteresis: a flicker just inside
    the entry band must not pay a round trip of fees and spread). Without a prediction the held position
    is kept as it is.
    """
    blocks = []
    if n_tweets < rule.min_tweets:
        blocks.append(f"{n_tweets} tweets < min {rule.min_tweets}")
    if not rule.min_price <= mid_yes <= rule.max_price:
        blocks.append(f"price {mid_yes:g} outside [{rule.min_price:g}, {rule.max_price:g}]")
    if math.isnan(p_up):
        return Verdict(Signal.holding(held), "no prediction", tuple(blocks))
    return Verdict(*_signal(p_up, rule, held), tuple(blocks))


def _signal(p_up: float, rule: StrategySettings, held: Token | None) -> tuple[Signal, str]:
    if p_up > rule.buy_above:
        return Signal.BUY, f"p_up {p_up:.3f} > {rule.buy_above:g}"
    if p_up < rule.sell_below:
        return Signal.SELL, f"p_up {p_up:.3f} < {rule.sell_below:g}"
    if held == "YES" and p_up > rule.exit_at:
        return Signal.BUY, f"p_up {p_up:.3f} still above exit {rule.exit_at:g}"
    if held == "NO" and p_up < rule.exit_at:
        return Signal.SELL, f"p_up {p_up:.3f} still below exit {rule.exit_at:g}"
    return Signal.HOLD, f"p_up {p_up:.3f} within [{rule.sell_below:g}, {rule.buy_above:g}]"
