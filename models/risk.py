"""Position sizing and the risk limits, free of any exchange so each rule is easy to test on its own.

Every rule either sizes a new position, blocks new positions, or forces an exit. Only the halt and the
stop-loss / take-profit force exits: a rule that merely blocks entries must never close what is held.
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime

from models import rules
from sentitrade.settings import RiskSettings


def kelly(q: float, price: float, cost: float, move: float) -> tuple[float, float]:
    """Expected net return per dollar staked, and its full Kelly fraction (0 when that return is <= 0).

    A token bought at `price` is modelled as moving `move` (price units) our way with probability q and
    against us otherwise, and a round trip loses `cost` per share (spread, slippage, fees). Per dollar:

        win   b = (move − cost) / price        with probability q
        loss  a = (move + cost) / price        with probability 1 − q
        net   μ = q·b − (1 − q)·a = ((2q − 1)·move − cost) / price
        Kelly f* = q / a − (1 − q) / b         (maximizes q·log(1 + f·b) + (1 − q)·log(1 − f·a))

    f* > 0 exactly when μ > 0 (which needs move > cost). f* may exceed 1, since small likely moves call
    for leverage; the caps in `RiskManager.stake` never give it.
    """
    return rules.kelly(q, price, cost, move)


def _utc_date(ts: datetime) -> date:
    """The UTC day of `ts`; naive timestamps are UTC already (the lake's convention)."""
    return ts.astimezone(UTC).date() if ts.tzinfo else ts.date()


class RiskManager:
    """Fractional Kelly stakes capped per market and in total, a daily loss stop, a drawdown that first
    reduces stakes and then halts for good, stop-loss / take-profit exits, and a stale-data guard."""

    def __init__(self, risk: RiskSettings) -> None:
        self.risk = risk
        self.peak: float | None = None
        self.equity: float | None = None
        self.halted = False
        self.day: date | None = None
        self.day_start: float | None = None
        self.day_stopped = False

    def observe(self, ts: datetime, equity: float) -> bool:
        """Track the peak and the day's loss; latch `halted` once equity is below peak × (1 − max_drawdown).

        A UTC day starts from the equity last seen before it (the previous close, or the first equity ever
        seen), so a loss that shows up at the day's first look counts for that day. Past the daily limit
        the day is stopped until its end. The halt never clears by itself: a strategy that lost that much
        needs a human to look at it.
        """
        day = _utc_date(ts)
        last = math.nan if self.equity is None else self.equity
        peak = math.nan if self.peak is None else self.peak
        self.peak, self.day_start, self.day_stopped, self.halted = rules.observe(
            day != self.day, equity, last, peak, self.day_start, self.day_stopped, self.halted,
            self.risk.daily_loss_limit, self.risk.max_drawdown)
        self.day, self.equity = day, equity
        return self.halted

    @property
    def drawdown(self) -> float:
        """Fall of the last observed equity below its peak, as a fraction (0 before any observation)."""
        return rules.drawdown(math.nan if self.equity is None else self.equity, math.nan if self.peak is None else self.peak)

    def entry_blocks(self, ts: datetime, last_tweet_at: datetime | None, last_price_at: datetime | None) -> list[str]:
        """Why no new position may open at `ts` (empty: nothing blocks): the day's loss, or stale inputs.

        A None time is unknown and not checked. Stale tweets or prices mean the model is deciding on a
        picture of the market that may no longer hold.
        """
        r = self.risk
        blocks = []
        if self.day_stopped:
            blocks.append(f"day's loss past {r.daily_loss_limit:.0%} of its start {self.day_start:.2f}")
        ages = (("tweet", last_tweet_at, r.max_tweet_age_s), ("price", last_price_at, r.max_price_age_s))
        for what, at, bound in ages:
            if at is not None and rules.stale(age := (ts - at).total_seconds(), bound):
                blocks.append(f"newest {what} {age:g}s old > {bound:g}s")
        return blocks

    def exit_reason(self, avg_cost: float, mid: float) -> tuple[str, str] | None:
        """("stop-loss" or "take-profit", why) when a position bought at `avg_cost` must go at its token's `mid`."""
        stop, take = self.risk.stop_loss, self.risk.take_profit
        kind = rules.exit_kind(avg_cost, mid, stop, take)
        if kind == 1:
            return "stop-loss", f"stop-loss: mid {mid:g} <= avg cost {avg_cost:.4g} × (1 − {stop:g})"
        if kind == 2:
            return "take-profit", f"take-profit: mid {mid:g} >= avg cost {avg_cost:.4g} × (1 + {take:g})"
        return None

    def stake(self, q: float, price: float, cost: float, equity: float, exposure: float) -> tuple[float, list[str]]:
        """USDC for a new position won with probability `q` at `price`, and a note for every rule applied.

        `kelly_fraction` of the full Kelly fraction of the net return (see `kelly`), capped at
        `max_position_fraction` of equity, times `drawdown_reduce_factor` while the drawdown is at least
        `drawdown_reduce_at` × `max_drawdown`, then shrunk so that every position together (`exposure`,
        the others marked at their bid, this one at its cost) stays within `max_total_exposure` of equity.
        """
        r = self.risk
        amount, net, full, fraction, flags = rules.stake(
            q, price, cost, equity, exposure, self.drawdown, r.kelly_fraction, r.expected_move, r.max_position_fraction,
            r.drawdown_reduce_at, r.drawdown_reduce_factor, r.max_drawdown, r.max_total_exposure)
        if full <= 0:
            return 0.0, [f"net return {net:+.2%}/$ after costs {cost:.3g}/share: no stake"]
        notes = [f"kelly {r.kelly_fraction * full:.3g} of equity on net return {net:+.2%}/$"]
        if flags & rules.CAPPED:
            notes.append(f"capped at {r.max_position_fraction:.0%} per market")
        if flags & rules.REDUCED:
            notes.append(f"drawdown {self.drawdown:.1%} >= {r.drawdown_reduce_at * r.max_drawdown:.1%}: "
                         f"stake × {r.drawdown_reduce_factor:g}")
        if flags & rules.EXPOSURE_CAPPED:
            equity = max(equity, 0.0)
            notes.append(f"total exposure {exposure:.2f} of cap {r.max_total_exposure:.0%} × {equity:.2f}: "
                         f"stake {fraction * equity:.2f} -> {amount:.2f}")
        return amount, notes

    def state(self) -> dict:
        """Everything the rules remember, JSON-serializable (see `TradingEngine.snapshot`)."""
        return {"peak": self.peak, "equity": self.equity, "halted": self.halted,
                "day": self.day.isoformat() if self.day else None, "day_start": self.day_start,
                "day_stopped": self.day_stopped}

    def load(self, state: dict) -> None:
        """Take up `state` from `state()` as if every observation behind it had been made here."""
        self.peak, self.equity, self.halted = state["peak"], state["equity"], state["halted"]
        self.day = date.fromisoformat(state["day"]) if state["day"] else None
        self.day_start, self.day_stopped = state["day_start"], state["day_stopped"]
