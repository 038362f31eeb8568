"""The one trading code path: decisions in, orders and fills out, for backtest, paper and live alike.

`TradingEngine` owns strategy, sizing, risk and bookkeeping; it talks to the market only through an
`Exchange`. The backtest and the paper trader pass `PaperExchange`; live trading passes a Polymarket one.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from models.costs import Side, fee_per_share, fill_price, taker_fee
from models.risk import RiskManager
from models.strategy import Signal, Token, evaluate
from sentitrade.settings import CostSettings, Settings

_DUST = 1e-9


@dataclass(frozen=True)
class MarketInfo:
    """What the engine must know of a binary market to trade it (from Polymarket's market metadata)."""

    market: str
    yes_token_id: str
    no_token_id: str
    tick_size: float = 0.01
    min_order_size: float = 5.0
    fees_enabled: bool = False
    fee_rate: float = 0.0
    fee_exponent: float = 1.0

    @classmethod
    def from_row(cls, row: Mapping) -> "MarketInfo":
        """From a row of the lake's `markets` table (extra columns ignored)."""
        return cls(**{name: row[name] for name in cls.__dataclass_fields__})

    def token_id(self, token: Token) -> str:
        return self.yes_token_id if token == "YES" else self.no_token_id

    def fee(self, shares: float, price: float) -> float:
        """Taker fee for a fill here: zero unless the market has fees enabled."""
        return taker_fee(shares, price, self.fee_rate, self.fee_exponent) if self.fees_enabled else 0.0

    def fee_per_share(self, price: float) -> float:
        return fee_per_share(price, self.fee_rate, self.fee_exponent) if self.fees_enabled else 0.0


def token_mid(token: Token, mid_yes: float) -> float:
    """YES and NO pay out 1 together, so the NO mid is 1 − the YES mid."""
    return mid_yes if token == "YES" else 1.0 - mid_yes


@dataclass(frozen=True)
class Order:
    ts: datetime
    market: str
    token: Token
    token_id: str
    side: Side
    shares: float
    limit_price: float
    reason: str


@dataclass(frozen=True)
class Fill:
    ts: datetime
    market: str
    token: Token
    token_id: str
    side: Side
    shares: float
    price: float
    fee: float


@dataclass(frozen=True)
class Decision:
    ts: datetime
    market: str
    p_up: float
    n_tweets: int
    mid_yes: float
    signal: Signal
    target_token: Token | None
    reason: str


@dataclass(frozen=True)
class StepResult:
    decision: Decision
    orders: list[Order]
    fills: list[Fill]


class Exchange(Protocol):
    def execute(self, order: Order, mid_yes: float) -> Fill | None:
        """Fill `order` (wholly) or return None when it does not fill."""


class PaperExchange:
    """Simulated taker fills: the token's mid crossed by the cost model, plus the market's taker fee."""

    def __init__(self, markets: Mapping[str, MarketInfo], costs: CostSettings) -> None:
        self.markets = markets
        self.costs = costs

    def execute(self, order: Order, mid_yes: float) -> Fill | None:
        info = self.markets[order.market]
        price = fill_price(token_mid(order.token, mid_yes), order.side, info.tick_size, self.costs)
        worse = price - order.limit_price if order.side == "BUY" else order.limit_price - price
        if worse > _DUST:  # not marketable at its limit
            return None
        return Fill(order.ts, order.market, order.token, order.token_id, order.side, order.shares, price,
                    info.fee(order.shares, price))


@dataclass
class Position:
    token: Token
    shares: float
    avg_cost: float


class Portfolio:
    """Cash and at most one token position per market; fees are paid in USDC."""

    def __init__(self, cash: float) -> None:
        self.cash = cash
        self.positions: dict[str, Position] = {}
        self.fees_paid = 0.0

    def apply(self, fill: Fill) -> None:
        held = self.positions.get(fill.market)
        if fill.side == "BUY":
            if held and held.token != fill.token:
                raise ValueError(f"{fill.market}: close {held.token} before buying {fill.token}")
            old = held.shares if held else 0.0
            cost = old * (held.avg_cost if held else 0.0) + fill.shares * fill.price
            self.positions[fill.market] = Position(fill.token, old + fill.shares, cost / (old + fill.shares))
            self.cash -= fill.shares * fill.price + fill.fee
        else:
            if not held or held.token != fill.token or fill.shares > held.shares + _DUST:
                raise ValueError(f"{fill.market}: cannot sell {fill.shares} {fill.token}, no shorting")
            held.shares -= fill.shares
            if held.shares <= _DUST:
                del self.positions[fill.market]
            self.cash += fill.shares * fill.price - fill.fee
        self.fees_paid += fill.fee

    def equity(self, mids_yes: Mapping[str, float]) -> float:
        """Cash plus every position marked at its token's mid."""
        return self.cash + sum(p.shares * token_mid(p.token, mids_yes[m]) for m, p in self.positions.items())


class TradingEngine:
    """Turns each (market, p_up) decision into orders: open sized, hold, close on HOLD, flip on reversal."""

    def __init__(self, markets: Mapping[str, MarketInfo], settings: Settings, exchange: Exchange) -> None:
        self.markets = markets
        self.exchange = exchange
        self.strategy = settings.strategy
        self.costs = settings.costs
        self.risk = RiskManager(settings.risk)
        self.portfolio = Portfolio(settings.risk.starting_cash)
        self.mids: dict[str, float] = {}
        self.equity_curve: list[tuple[datetime, float]] = []

    def mark(self, ts: datetime, mids_yes: Mapping[str, float]) -> float:
        """Mark to market at the latest mids (last known for markets not given), record and risk-check it."""
        self.mids.update(mids_yes)
        equity = self.portfolio.equity(self.mids)
        self.equity_curve.append((ts, equity))
        self.risk.observe(equity)
        return equity

    def on_decision(self, ts: datetime, market: str, p_up: float, n_tweets: int, mid_yes: float) -> StepResult:
        """Act on one model output: hold, close (HOLD), flip (opposite signal) or open a sized position."""
        self.mids[market] = mid_yes
        held = self.portfolio.positions.get(market)
        signal, why = evaluate(p_up, n_tweets, mid_yes, self.strategy, held.token if held else None)
        if self.risk.observe(self.portfolio.equity(self.mids)):
            orders, fills = self.close_all(ts, "halt")
            target = None
            notes = [f"halted: drawdown {self.risk.drawdown:.1%} past {self.risk.risk.max_drawdown:.0%}, "
                     f"{len(fills)} positions closed, none opened"]
        else:
            orders, fills = [], []
            target = signal.token
            notes = self._follow(ts, market, signal, p_up, orders, fills)
        decision = Decision(ts, market, p_up, n_tweets, mid_yes, signal, target, "; ".join([why, *notes]))
        return StepResult(decision, orders, fills)

    def close_all(self, ts: datetime, reason: str) -> tuple[list[Order], list[Fill]]:
        """Sell every position at the last known mids (drawdown halt, end of a backtest, shutdown)."""
        orders: list[Order] = []
        fills: list[Fill] = []
        for market, held in list(self.portfolio.positions.items()):
            self._send(self._order(ts, market, held.token, "SELL", held.shares, reason), orders, fills)
        return orders, fills

    def _follow(self, ts: datetime, market: str, signal: Signal, p_up: float, orders: list[Order],
                fills: list[Fill]) -> list[str]:
        """Make the market's position match the signal; returns notes for the decision's reason."""
        target = signal.token
        held = self.portfolio.positions.get(market)
        if held and held.token == target:
            return [f"hold {held.shares:g} {target}"]
        notes = []
        if held:
            close = self._order(ts, market, held.token, "SELL", held.shares, "flip" if target else "close")
            notes.append(self._send(close, orders, fills))
        if target and market not in self.portfolio.positions:  # a close that failed blocks the flip
            shares = self._size(market, signal, p_up, self._limit(market, target, "BUY"))
            notes.append(self._send(self._order(ts, market, target, "BUY", shares, "open"), orders, fills))
        return notes or ["flat"]

    def _size(self, market: str, signal: Signal, p_up: float, price: float) -> float:
        """Shares for the Kelly stake at the entry price, never more than cash covers with the fee."""
        stake = self.risk.stake(signal, p_up, self.portfolio.equity(self.mids))
        per_share = price + self.markets[market].fee_per_share(price)
        shares = min(stake / price, max(self.portfolio.cash, 0.0) / per_share)
        return math.floor(shares * 100 + _DUST) / 100  # Polymarket sizes are in hundredths of a share

    def _order(self, ts: datetime, market: str, token: Token, side: Side, shares: float, reason: str) -> Order:
        """A marketable limit order priced where the cost model says it will fill."""
        limit = self._limit(market, token, side)
        return Order(ts, market, token, self.markets[market].token_id(token), side, shares, limit, reason)

    def _limit(self, market: str, token: Token, side: Side) -> float:
        return fill_price(token_mid(token, self.mids[market]), side, self.markets[market].tick_size, self.costs)

    def _send(self, order: Order, orders: list[Order], fills: list[Fill]) -> str:
        """Submit unless below the market's minimum size; apply any fill. Returns a note for the decision."""
        what = f"{order.reason} {order.side} {order.shares:g} {order.token}"
        minimum = self.markets[order.market].min_order_size
        if order.shares < minimum:
            return f"{what} not sent: below min order size {minimum:g}"
        orders.append(order)
        fill = self.exchange.execute(order, self.mids[order.market])
        if fill is None:
            return f"{what} not filled at {order.limit_price:g}"
        self.portfolio.apply(fill)
        fills.append(fill)
        return f"{what} @ {fill.price:g}"
