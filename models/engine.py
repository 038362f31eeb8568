"""The one trading code path: decisions in, orders and fills out, for backtest, paper and live alike.

`TradingEngine` owns strategy, sizing, risk and bookkeeping; it talks to the market only through an
`Exchange`. The backtest and the paper trader pass `PaperExchange`; dry-run and live trading pass the
trader's signed-order execution (`trader.live`). Limits, sizing and marks read `Quotes`: the recorded
book where one is given, the cost model where not (`models.costs`), so orders are priced as they fill.
A market lives until its resolution (`settle`): then every share pays 1 or 0 and the market trades no more.
Its whole state is one JSON-serializable `snapshot()`, so the trader can restart a run from its ledger.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Literal, Protocol

from models import rules
from models.costs import Book, Level, Side, affordable, model_levels, round_trip_cost, walk
from models.risk import RiskManager
from models.strategy import TOKEN_CODE, Signal, Token, evaluate
from sentitrade.settings import CostSettings, Settings

_DUST = rules.EPS
SHARE_STEP = 0.01  # Polymarket sizes are in hundredths of a share: a smaller remainder cannot be sold
Outcome = Literal["YES", "NO"]


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
    end: datetime | None = None  # no order is sent from then on; what is held waits for the resolution

    @classmethod
    def from_row(cls, row: Mapping) -> "MarketInfo":
        """From a row of the lake's `markets` table (extra columns ignored, optional ones may be absent)."""
        return cls(**{name: row[name] for name in cls.__dataclass_fields__ if name in row})

    @classmethod
    def by_name(cls, rows: Iterable[Mapping]) -> dict[str, "MarketInfo"]:
        """Markets keyed by name, from rows of the `markets` table (or parsed Gamma markets)."""
        return {row["market"]: cls.from_row(row) for row in rows}

    def token_id(self, token: Token) -> str:
        return self.yes_token_id if token == "YES" else self.no_token_id

    def fee(self, shares: float, price: float) -> float:
        """Taker fee for a fill here: zero unless the market has fees enabled."""
        return rules.market_fee(shares, price, self.fees_enabled, self.fee_rate, self.fee_exponent, 1.0)

    def fee_per_share(self, price: float) -> float:
        return rules.market_fee_per_share(price, self.fees_enabled, self.fee_rate, self.fee_exponent)


def token_mid(token: Token, mid_yes: float) -> float:
    """YES and NO pay out 1 together, so the NO mid is 1 − the YES mid."""
    return rules.token_mid(TOKEN_CODE[token], mid_yes)


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


class Quotes:
    """Where a token trades now: the recorded book of its market where one is given, else the cost model.

    `books` holds each market's YES-token book (the NO book is its complement). `cost_scale` multiplies
    every cost (spread, slippage, depth walked, fees) for the cost-sensitivity reruns; 1 is the real one.
    """

    def __init__(self, markets: Mapping[str, MarketInfo], costs: CostSettings,
                 books: Mapping[str, Book] | None = None, cost_scale: float = 1.0) -> None:
        self.markets, self.costs, self.books, self.cost_scale = markets, costs, books or {}, cost_scale

    def book(self, market: str, token: Token) -> Book | None:
        book = self.books.get(market)
        if book is None:
            return None
        return (book if token == "YES" else book.complement()).scaled(self.cost_scale)

    def levels(self, market: str, token: Token, side: Side, mid_yes: float) -> Iterable[Level]:
        """What a taker walks, best first: the book's asks (BUY) or bids (SELL), or the cost model's."""
        if book := self.book(market, token):
            return book.asks if side == "BUY" else book.bids
        return model_levels(token_mid(token, mid_yes), side, self.markets[market].tick_size, self.costs, self.cost_scale)

    def bid(self, market: str, token: Token, mid_yes: float) -> float:
        """What one share sells for now, the mark: the book's best bid, else the mid less half the modelled
        spread (our own slippage is the cost of selling, not the market's quote); 0 without any bid."""
        if book := self.book(market, token):
            return book.bids[0][0] if book.bids else 0.0
        return rules.bid_mark(token_mid(token, mid_yes), self.costs.half_spread, self.cost_scale)

    def limit(self, market: str, token: Token, side: Side, shares: float, mid_yes: float) -> float | None:
        """The worst price the levels need to fill `shares` (the last one if they cannot): a marketable
        order's limit. None: no quote at all."""
        worst, left = None, shares
        for price, size in self.levels(market, token, side, mid_yes):
            worst, left = price, left - size
            if left <= _DUST:
                break
        return worst

    def fee(self, market: str) -> Callable[[float, float], float]:
        """The taker fee of `shares` at `price` in `market`, as scaled."""
        i, scale = self.markets[market], self.cost_scale
        return lambda shares, price: rules.market_fee(shares, price, i.fees_enabled, i.fee_rate, i.fee_exponent, scale)

    def fee_per_share(self, market: str) -> Callable[[float], float]:
        info = self.markets[market]
        return lambda price: self.cost_scale * info.fee_per_share(price)


class Exchange(Protocol):
    def execute(self, order: Order, mid_yes: float) -> Fill | None:
        """What `order` filled now (possibly less than asked), or None. Fills found later (an unknown
        outcome resolved, a resting order traded) reach the engine as a rebuilt portfolio."""


class PaperExchange:
    """Simulated taker fills now: the `Quotes` walked for the order's size up to its limit, each level
    paying the market's taker fee. What they cannot supply inside the limit does not fill."""

    def __init__(self, markets: Mapping[str, MarketInfo], costs: CostSettings,
                 books: Mapping[str, Book] | None = None, cost_scale: float = 1.0) -> None:
        self.quotes = Quotes(markets, costs, books, cost_scale)

    def execute(self, order: Order, mid_yes: float) -> Fill | None:
        q = self.quotes
        taken = walk(q.levels(order.market, order.token, order.side, mid_yes), order.side, order.shares,
                     order.limit_price, q.fee(order.market))
        if taken is None:
            return None
        return Fill(order.ts, order.market, order.token, order.token_id, order.side, *taken)


@dataclass
class Position:
    token: Token
    shares: float
    avg_cost: float


def _at_mid(market: str, token: Token, mid_yes: float) -> float:
    return token_mid(token, mid_yes)


class Portfolio:
    """Cash and at most one token position per market; fees are paid in USDC.

    `mark(market, token, mid_yes)` values one share; the engine marks at the bid (`Quotes.bid`), a bare
    portfolio (the ledger's rebuild) at the mid.
    """

    def __init__(self, cash: float, mark: Callable[[str, Token, float], float] = _at_mid) -> None:
        self.cash = cash
        self.mark = mark
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
        """Gross exposure: every position at its `mark`, what is at stake in the market (the caps use it)."""
        return sum(p.shares * self.mark(m, p.token, mids_yes[m]) for m, p in self.positions.items())

    def equity(self, mids_yes: Mapping[str, float]) -> float:
        """Cash plus every position at its `mark`."""
        return self.cash + self.exposure(mids_yes)


class TradingEngine:
    """Turns each (market, p_up) decision into orders under the risk rules of `RiskManager`.

    Only these exit a position: the model's signal reversing or crossing back over `exit_at`, a
    stop-loss or take-profit, the drawdown halt, `close_all` and the market's resolution (`settle`).
    Every other rule (tweet floor, price band, stale data, daily loss, caps) only decides whether, and
    how big, a new position opens. Equity, exposure and the caps mark positions at their bid.
    """

    def __init__(self, markets: Mapping[str, MarketInfo], settings: Settings, exchange: Exchange,
                 quotes: Quotes | None = None) -> None:
        self.markets = markets  # the caller may update it (tick sizes): always read at order time
        self.exchange = exchange
        self.quotes = quotes or Quotes(markets, settings.costs)
        self.strategy = settings.strategy
        self.costs = settings.costs
        self.risk = RiskManager(settings.risk)
        self.portfolio = Portfolio(settings.risk.starting_cash, mark=self.quotes.bid)
        self.mids: dict[str, float] = {}
        self.resolved: dict[str, Outcome] = {}
        self.equity_curve: list[tuple[datetime, float]] = []
        self.exposure_curve: list[tuple[datetime, float]] = []

    def mark(self, ts: datetime, mids_yes: Mapping[str, float]) -> float:
        """Mark to market at the bids of the latest mids (last known for markets not given), record and
        risk-check it."""
        self.mids.update(mids_yes)
        equity = self.portfolio.equity(self.mids)
        self.equity_curve.append((ts, equity))
        self.exposure_curve.append((ts, self.portfolio.exposure(self.mids)))
        self.risk.observe(ts, equity)
        return equity

    def settle(self, ts: datetime, market: str, outcome: Outcome) -> list[Fill]:
        """The market resolved: what is held is paid 1 USDC a winning share and 0 a losing one, no fee,
        booked as a SELL fill at 1 or 0 so trade statistics see it. The market trades no more."""
        self.resolved[market] = outcome
        held = self.portfolio.positions.get(market)
        if held is None:
            return []
        fill = Fill(ts, market, held.token, self.markets[market].token_id(held.token), "SELL", held.shares,
                    1.0 if held.token == outcome else 0.0, 0.0)
        self.portfolio.apply(fill)
        return [fill]

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
        end = self.markets[market].end
        if market in self.resolved:
            notes = [f"market resolved {self.resolved[market]}: trades no more"]
        elif end is not None and ts >= end:
            notes = [f"market ended {end.isoformat()}: no orders, {held_token or 'nothing'} held until it resolves"]
            target = held_token
        elif self.risk.observe(ts, self.portfolio.equity(self.mids)):
            orders, fills = self.close_all(ts, "halt")
            notes = [f"halted: drawdown {self.risk.drawdown:.1%} past {self.risk.risk.max_drawdown:.0%}, "
                     f"{len(fills)} positions closed, none opened"]
        elif held and (forced := self.risk.exit_reason(held.avg_cost, token_mid(held.token, mid_yes))):
            kind, why = forced
            notes = [why, self._sell(ts, market, held.token, held.shares, kind, orders, fills)]
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
            self._sell(ts, market, held.token, held.shares, reason, orders, fills)
        return orders, fills

    def snapshot(self) -> dict:
        """Everything later decisions depend on, JSON-serializable, for restarting a run from the ledger.

        The equity curve is a record, not state, and stays out (the ledger has it).
        """
        book = self.portfolio
        return {"cash": book.cash, "fees_paid": book.fees_paid,
                "positions": {market: asdict(p) for market, p in book.positions.items()},
                "mids": dict(self.mids), "resolved": dict(self.resolved), "risk": self.risk.state()}

    def restore(self, snapshot: dict) -> None:
        """Continue from a `snapshot()` taken on the same markets and settings: the same decisions follow."""
        book = self.portfolio
        book.cash, book.fees_paid = snapshot["cash"], snapshot["fees_paid"]
        book.positions = {market: Position(**p) for market, p in snapshot["positions"].items()}
        self.mids = dict(snapshot["mids"])
        self.resolved = dict(snapshot.get("resolved", {}))  # ledgers written before resolutions were kept
        self.risk.load(snapshot["risk"])

    def _follow(self, ts: datetime, market: str, target: Token | None, p_up: float, orders: list[Order],
                fills: list[Fill]) -> list[str]:
        """Make the market's position hold `target`; returns notes for the decision's reason."""
        held = self.portfolio.positions.get(market)
        if held and held.token == target:
            return [f"hold {held.shares:g} {target}"]
        notes = []
        if held:
            notes.append(self._sell(ts, market, held.token, held.shares, "flip" if target else "close", orders, fills))
        if target and market not in self.portfolio.positions:  # a close that failed blocks the flip
            shares, limit, sizing = self._size(market, target, p_up)
            notes += sizing
            if shares > 0 and limit is not None:
                notes.append(self._send(self._order(ts, market, target, "BUY", shares, limit, "open"), orders, fills))
        return notes or ["flat"]

    def _size(self, market: str, token: Token, p_up: float) -> tuple[float, float | None, list[str]]:
        """Shares for the risk manager's stake walking the quotes from the touch, never more than cash covers
        with the fees, and the worst price that walk reaches (the order's limit)."""
        q, info, scale = self.quotes, self.markets[market], self.quotes.cost_scale
        best = next(iter(q.levels(market, token, "BUY", self.mids[market])), None)
        if best is None:
            return 0.0, None, [f"no {token} ask below 1"]
        fee = info.fee_per_share(best[0])
        p = p_up if token == "YES" else 1.0 - p_up
        stake, notes = self.risk.stake(p, best[0], round_trip_cost(self.costs, fee, scale),
                                       self.portfolio.equity(self.mids), self.portfolio.exposure(self.mids))
        cash = max(self.portfolio.cash, 0.0)
        if cash < stake * (1 + fee * scale / best[0]):
            notes.append(f"limited by cash {self.portfolio.cash:.2f}")
        levels = q.levels(market, token, "BUY", self.mids[market])
        shares, limit = affordable(levels, stake, cash, q.fee_per_share(market))
        return shares, limit, notes

    def _sell(self, ts: datetime, market: str, token: Token, shares: float, reason: str, orders: list[Order],
              fills: list[Fill]) -> str:
        """Sell `shares` limited at the worst bid the quotes need for them; without any bid (the model's at
        or below 0) nothing is sent and the position waits for the resolution."""
        worst = self.quotes.limit(market, token, "SELL", shares, self.mids[market])
        if worst is None:
            return f"{reason} SELL {shares:g} {token} not sent: no bid, held until the market resolves"
        return self._send(self._order(ts, market, token, "SELL", shares, worst, reason), orders, fills)

    def _order(self, ts: datetime, market: str, token: Token, side: Side, shares: float, limit: float,
               reason: str) -> Order:
        return Order(ts, market, token, self.markets[market].token_id(token), side, shares, limit, reason)

    def _send(self, order: Order, orders: list[Order], fills: list[Fill]) -> str:
        """Submit unless below the market's minimum size or the market is over; apply any fill. Returns a
        note for the decision."""
        what = f"{order.reason} {order.side} {order.shares:g} {order.token}"
        info = self.markets[order.market]
        minimum = info.min_order_size
        if order.shares < minimum:
            return f"{what} not sent: below min order size {minimum:g}"
        if order.market in self.resolved or (info.end is not None and order.ts >= info.end):
            return f"{what} not sent: market over"
        orders.append(order)
        fill = self.exchange.execute(order, self.mids[order.market])
        if fill is None:
            return f"{what} not filled at {order.limit_price:g}"
        self.portfolio.apply(fill, unsellable=self.markets[order.market].min_order_size)
        fills.append(fill)
        return f"{what} @ {fill.price:g}"
