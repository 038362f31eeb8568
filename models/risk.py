"""Position sizing and the drawdown kill switch, free of any exchange or clock so it is easy to test."""

from __future__ import annotations

from models.strategy import Signal
from sentitrade.settings import RiskSettings


class RiskManager:
    """Fractional Kelly stakes, capped per market, and a halt that latches on a deep drawdown."""

    def __init__(self, risk: RiskSettings) -> None:
        self.risk = risk
        self.peak: float | None = None
        self.equity: float | None = None
        self.halted = False

    def stake_fraction(self, signal: Signal, p_up: float) -> float:
        """Share of equity to stake, treating the horizon's move as an even-money bet.

        Full Kelly for an even-money bet won with probability q is 2q − 1: q = p_up for BUY (YES) and
        1 − p_up for SELL (NO). We bet `kelly_fraction` of it, never below 0 nor above the per-market cap.
        """
        edge = {Signal.BUY: 2 * p_up - 1, Signal.SELL: 1 - 2 * p_up}.get(signal, 0.0)
        return min(max(self.risk.kelly_fraction * edge, 0.0), self.risk.max_position_fraction)

    def stake(self, signal: Signal, p_up: float, equity: float) -> float:
        """USDC to put into a new position given the current equity."""
        return self.stake_fraction(signal, p_up) * max(equity, 0.0)

    def observe(self, equity: float) -> bool:
        """Track the equity peak; latch `halted` once equity falls below peak × (1 − max_drawdown).

        The halt never clears by itself: a strategy that lost that much needs a human to look at it.
        """
        self.equity = equity
        self.peak = equity if self.peak is None else max(self.peak, equity)
        if equity < self.peak * (1 - self.risk.max_drawdown):
            self.halted = True
        return self.halted

    @property
    def drawdown(self) -> float:
        """Fall of the last observed equity below its peak, as a fraction (0 before any observation)."""
        return 1.0 - self.equity / self.peak if self.peak and self.equity is not None else 0.0
