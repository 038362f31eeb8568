"""The one trading code path: decisions in, orders and fills out, for backtest, paper and live alike.

`TradingEngine` owns strategy, sizing, risk and bookkeeping; it talks to the market only through an
`Exchange`. The backtest and the paper trader pass `PaperExchange`; dry-run and live trading pass the
trader's signed-order execution (`trader.live`).
Its whole state is one JSON-serializable `snapshot()`, so the trader can restart a run from its ledger.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Protocol

from models.costs import Side, fee_per_share, fill_price, round_trip_cost, taker_fee
from models.risk import RiskManager
from models.strategy import Signal, Token, evaluate
from sentitrade.settings import CostSettings, Settings

_DUST = 1e-9
SHARE_STEP = 0.01  # Polymarket sizes are in hundredths of a share: a smaller remainder cannot be sold


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

    @classmethod
    def by_name(cls, rows: Iterable[Mapping]) -> dict[str, "MarketInfo"]:
        """Markets keyed by name, from rows of the `markets` table (or parsed Gamma markets)."""
        return {row["market"]: cls.from_row(row) for row in rows}

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
        """What `order` filled now (possibly less than asked), or None. Fills found later (an unknown
        outcome resolved, a resting order traded) reach the engine as a rebuilt portfolio."""


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

    def apply(self, fill: Fill, unsellable: float = SHARE_STEP) -> None:
        """Book a fill. A sale that leaves fewer than `unsellable` shares (the market's minimum order size:
        no order can sell them, only redemption) closes the position; the exchange still holds them."""
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
            if held.shares < unsellable - _DUST:  # a market BUY's price improvement, a partial sale: left as dust
                del self.positions[fill.market]
            self.cash += fill.shares * fill.price - fill.fee
        self.fees_paid += fill.fee

    def exposure(self, mids_yes: Mapping[str, float]) -> float:
        """Every position marked at its token's mid: what is at stake in the market."""
        return sum(p.shares * token_mid(p.token, mids_yes[m]) for m, p in self.positions.items())

    def equity(self, mids_yes: Mapping[str, float]) -> float:
        """Cash plus every position marked at its token's mid."""
        return self.cash + self.exposure(mids_yes)


class TradingEngine:
    """Turns each (market, p_up) decision into orders under the risk rules of `RiskManager`.

    Only these exit a position: the model's signal reversing or crossing back over `exit_at`, a
    stop-loss or take-profit, the drawdown halt and `close_all`. Every other rule (tweet floor, price
    band, stale data, daily loss, caps) only decides whether, and how big, a new position opens.
    """

    def __init__(self, markets: Mapping[str, MarketInfo], settings: Settings, exchange: Exchange) -> None:
        self.markets = markets  # the caller may update it (tick sizes): always read at order time
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
        self.risk.observe(ts, equity)
        return equity

    def on_decision(self, ts: datetime, market: str, p_up: float, n_tweets: int, mid_yes: float, *,
                    last_tweet_at: datetime | None = None, last_price_at: datetime | None = None) -> StepResult:
        """Act on one model output: halt, forced exit, or make the market's position follow the signal.

        `last_tweet_at` / `last_price_at` are the newest tweet and price behind it (None: unknown, not
        checked). A stop-loss or take-profit exit opens nothing in the same decision: a re-entry, if the
        model still wants one, waits for the next.
        """
        self.mids[market] = mid_yes
        held = self.portfolio.positions.get(market)
        held_token = held.token if held else None
        verdict = evaluate(p_up, n_tweets, mid_yes, self.strategy, held_token)
        orders: list[Order] = []
        fills: list[Fill] = []
        target = None
        if self.risk.observe(ts, self.portfolio.equity(self.mids)):
            orders, fills = self.close_all(ts, "halt")
            notes = [f"halted: drawdown {self.risk.drawdown:.1%} past {self.risk.risk.max_drawdown:.0%}, "
                     f"{len(fills)} positions closed, none opened"]
        elif held and (forced := self.risk.exit_reason(held.avg_cost, token_mid(held.token, mid_yes))):
            kind, why = forced
            notes = [why, self._send(self._order(ts, market, held.token, "SELL", held.shares, kind), orders, fills)]
        else:
            blocks = [*verdict.entry_blocks, *self.risk.entry_blocks(ts, last_tweet_at, last_price_at)]
            # A blocked entry may keep what is held or go flat, never open or flip into a new position.
            target = verdict.signal.token if not blocks or verdict.signal.token == held_token else None
            notes = [f"no new position: {', '.join(blocks)}"] if blocks else []
            notes += self._follow(ts, market, target, p_up, orders, fills)
        decision = Decision(ts, market, p_up, n_tweets, mid_yes, verdict.signal, target,
                            "; ".join([verdict.reason, *notes]))
        return StepResult(decision, orders, fills)

    def close_all(self, ts: datetime, reason: str) -> tuple[list[Order], list[Fill]]:
        """Sell every position at the last known mids (drawdown halt, end of a backtest, shutdown)."""
        orders: list[Order] = []
        fills: list[Fill] = []
        for market, held in list(self.portfolio.positions.items()):
            self._send(self._order(ts, market, held.token, "SELL", held.shares, reason), orders, fills)
        return orders, fills

    def snapshot(self) -> dict:
        """Everything later decisions depend on, JSON-serializable, for restarting a run from the ledger.

        The equity curve is a record, not state, and stays out (the ledger has it).
        """
        book = self.portfolio
        return {"cash": book.cash, "fees_paid": book.fees_paid,
                "positions": {market: asdict(p) for market, p in book.positions.items()},
                "mids": dict(self.mids), "risk": self.risk.state()}

    def restore(self, snapshot: dict) -> None:
        """Continue from a `snapshot()` taken on the same markets and settings: the same decisions follow."""
        book = self.portfolio
        book.cash, book.fees_paid = snapshot["cash"], snapshot["fees_paid"]
        book.positions = {market: Position(**p) for market, p in snapshot["positions"].items()}
        self.mids = dict(snapshot["mids"])
        self.risk.load(snapshot["risk"])

    def _follow(self, ts: datetime, market: str, target: Token | None, p_up: float, orders: list[Order],
                fills: list[Fill]) -> list[str]:
        """Make the market's position hold `target`; returns notes for the decision's reason."""
        held = self.portfolio.positions.get(market)
        if held and held.token == target:
            return [f"hold {held.shares:g} {target}"]
        notes = []
        if held:
            close = self._order(ts, market, held.token, "SELL", held.shares, "flip" if target else "close")
            notes.append(self._send(close, orders, fills))
        if target and market not in self.portfolio.positions:  # a close that failed blocks the flip
            shares, sizing = self._size(market, target, p_up)
            notes += sizing
            if shares > 0:
                notes.append(self._send(self._order(ts, market, target, "BUY", shares, "open"), orders, fills))
        return notes or ["flat"]

    def _size(self, market: str, token: Token, p_up: float) -> tuple[float, list[str]]:
        """Shares for the risk manager's stake at the entry price, never more than cash covers with the fee."""
        price = self._limit(market, token, "BUY")
        fee = self.markets[market].fee_per_share(price)
        q = p_up if token == "YES" else 1.0 - p_up
        stake, notes = self.risk.stake(q, price, round_trip_cost(self.costs, fee),
                                       self.portfolio.equity(self.mids), self.portfolio.exposure(self.mids))
        affordable = max(self.portfolio.cash, 0.0) / (price + fee)
        if affordable < stake / price:
            notes.append(f"limited by cash {self.portfolio.cash:.2f}")
        shares = min(stake / price, affordable)
        return math.floor(shares * 100 + _DUST) / 100, notes  # in SHARE_STEPs

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
        self.portfolio.apply(fill, unsellable=self.markets[order.market].min_order_size)
        fills.append(fill)
        return f"{what} @ {fill.price:g}"
