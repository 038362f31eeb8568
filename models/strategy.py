"""The decision rule: turn the model's probability of an up-move into a target position.

Polymarket has no shorting, so a bearish view is expressed by holding the NO token instead of selling YES.
"""

from __future__ import annotations

import math
from enum import StrEnum
from typing import Literal, NamedTuple

from models import rules
from sentitrade.settings import StrategySettings

Token = Literal["YES", "NO"]
TOKEN_CODE: dict[Token | None, int] = {None: rules.FLAT, "YES": rules.YES, "NO": rules.NO}
CODE_TOKEN: dict[int, Token | None] = {code: token for token, code in TOKEN_CODE.items()}


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
    if rules.too_few_tweets(n_tweets, rule.min_tweets):
        blocks.append(f"{n_tweets} tweets < min {rule.min_tweets}")
    if rules.outside_price_band(mid_yes, rule.min_price, rule.max_price):
        blocks.append(f"price {mid_yes:g} outside [{rule.min_price:g}, {rule.max_price:g}]")
    wanted = Signal.holding(CODE_TOKEN[rules.signal(p_up, TOKEN_CODE[held], rule.buy_above, rule.sell_below,
                                                        rule.exit_at)])
    return Verdict(wanted, _reason(p_up, wanted, rule), tuple(blocks))


def _reason(p_up: float, wanted: Signal, rule: StrategySettings) -> str:
    if math.isnan(p_up):
        return "no prediction"
    if p_up > rule.buy_above:
        return f"p_up {p_up:.3f} > {rule.buy_above:g}"
    if p_up < rule.sell_below:
        return f"p_up {p_up:.3f} < {rule.sell_below:g}"
    if wanted == Signal.BUY:
        return f"p_up {p_up:.3f} still above exit {rule.exit_at:g}"
    if wanted == Signal.SELL:
        return f"p_up {p_up:.3f} still below exit {rule.exit_at:g}"
    return f"p_up {p_up:.3f} within [{rule.sell_below:g}, {rule.buy_above:g}]"
