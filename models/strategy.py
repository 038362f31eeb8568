"""The decision rule: turn the model's probability of an up-move into a target position.

Polymarket has no shorting, so a bearish view is expressed by holding the NO token instead of selling YES.
"""

from __future__ import annotations

import math
from enum import StrEnum
from typing import Literal

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


def evaluate(
    p_up: float, n_tweets: int, mid_yes: float, rule: StrategySettings, held: Token | None = None
) -> tuple[Signal, str]:
    """The signal and a short reason for it, so every decision can be explained afterwards.

    Near 0 or 1 a spread and slippage fixed in price units cost a large share of the price while
    the moves left are tiny, so outside [min_price, max_price] the rule stays flat. A position
    already `held` is kept until p_up crosses back over `exit_at` (hysteresis): a flicker just
    inside the entry band must not pay a round trip of fees and spread.
    """
    if n_tweets < rule.min_tweets:
        return Signal.HOLD, f"{n_tweets} tweets < min {rule.min_tweets}"
    if not rule.min_price <= mid_yes <= rule.max_price:
        return Signal.HOLD, f"price {mid_yes:g} outside [{rule.min_price:g}, {rule.max_price:g}]"
    if math.isnan(p_up):
        return Signal.HOLD, "no prediction"
    if p_up > rule.buy_above:
        return Signal.BUY, f"p_up {p_up:.3f} > {rule.buy_above:g}"
    if p_up < rule.sell_below:
        return Signal.SELL, f"p_up {p_up:.3f} < {rule.sell_below:g}"
    if held == "YES" and p_up > rule.exit_at:
        return Signal.BUY, f"p_up {p_up:.3f} still above exit {rule.exit_at:g}"
    if held == "NO" and p_up < rule.exit_at:
        return Signal.SELL, f"p_up {p_up:.3f} still below exit {rule.exit_at:g}"
    return Signal.HOLD, f"p_up {p_up:.3f} within [{rule.sell_below:g}, {rule.buy_above:g}]"


def decide(p_up: float, n_tweets: int, mid_yes: float, rule: StrategySettings, held: Token | None = None) -> Signal:
    """BUY above `buy_above`, SELL below `sell_below`, else HOLD; HOLD on too few tweets or an extreme price."""
    return evaluate(p_up, n_tweets, mid_yes, rule, held)[0]
