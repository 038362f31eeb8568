"""Replay model probabilities through the same `TradingEngine` the trader runs, on paper fills.

Because sizing, risk and costs are the trader's own code, a backtest's result is what the strategy would
have done, not what a separate re-implementation thinks it would have done. What only a backtest can do
is here: fill each order at the price observed after the latency, and settle markets at their resolution.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from models.costs import Book, affordable, walk
from models.engine import Decision, Fill, MarketInfo, Order, PaperExchange, TradingEngine
from models.performance import drawdown, performance
from sentitrade.settings import Settings

COLUMNS = ("market", "ts", "p_up", "n_tweets_1h", "price")
FRESHNESS = ("last_tweet_at", "last_price_at")  # optional columns


@dataclass(frozen=True)
class BacktestResult:
    equity: pd.Series
    fills: pd.DataFrame
    decisions: pd.DataFrame
    metrics: dict[str, float]
    starting_cash: float
    exposure: pd.Series  # gross exposure (positions at their bid) after each timestamp, aligned with `equity`


class NextPriceExchange:
    """Backtest fills: an order sent at t fills at the first price observed at or after t + latency, on the
    paper exchange's quotes at that price, never at t's own. No such price before the market resolves: no fill.

    The gap to the next observation is the data's bar, not the trader's latency, so the order arrives as a
    marketable order re-priced there: a SELL for its shares, a BUY for at most its shares and at most the
    USDC it was to spend (Polymarket's market BUY is an amount of USDC), each walking the quotes then.
    The engine books the fill when it sends the order (it is synchronous), stamped with the time it filled.
    """

    def __init__(self, paper: PaperExchange, prices: pd.DataFrame, latency_s: float,
                 resolved_at: Mapping[str, pd.Timestamp]) -> None:
        self.paper, self.latency, self.resolved_at = paper, pd.Timedelta(seconds=latency_s), resolved_at
        self.series = {market: (pd.DatetimeIndex(group["ts"]), group["price"].to_numpy(dtype=float))
                       for market, group in prices.sort_values("ts", kind="stable").groupby("market")}

    def execute(self, order: Order, mid_yes: float) -> Fill | None:
        times, values = self.series.get(order.market, (pd.DatetimeIndex([]), np.array([])))
        i = times.searchsorted(order.ts + self.latency, side="left")
        closed = self.resolved_at.get(order.market)
        if i == len(times) or (closed is not None and times[i] >= closed):
            return None
        q, now, shares = self.paper.quotes, float(values[i]), order.shares
        if order.side == "BUY":
            planned = walk(q.levels(order.market, order.token, "BUY", mid_yes), "BUY", shares, order.limit_price,
                           q.fee(order.market))
            if planned is None:
                return None
            spend = planned.shares * planned.price
            shares = min(shares, affordable(q.levels(order.market, order.token, "BUY", now), spend,
                                            spend + planned.fee, q.fee_per_share(order.market))[0])
        limit = q.limit(order.market, order.token, order.side, shares, now)
        if limit is None or shares <= 0:
            return None
        return self.paper.execute(dataclasses.replace(order, ts=times[i], shares=shares, limit_price=limit), now)


def run_backtest(frame: pd.DataFrame, markets: Mapping[str, MarketInfo], settings: Settings, *,
                 prices: pd.DataFrame | None = None, resolutions: pd.DataFrame | None = None,
                 books: Mapping[str, Book] | None = None, cost_scale: float = 1.0) -> BacktestResult:
    """Decide every row in time order, settle resolved markets, mark equity after each timestamp, and at
    the end settle what resolved within the data and sell the rest at the bid.

    `frame` has one row per (market, ts): the model's `p_up`, the tweet count `n_tweets_1h` and the YES
    mid `price`, and optionally `last_tweet_at` / `last_price_at` (the newest tweet and price behind the
    row, for the stale-data guard; missing or NaT: not checked; its bounds `max_*_age_s` are seconds, so
    daily bars need them off (0) or wider than a day). Rows without a price cannot trade and are dropped.
    Nothing assumes a bar length: daily rows work as 5-minute ones do.

    `prices` (market, ts, price) is every YES price observed, where orders fill after
    `settings.costs.latency_s` (default: the frame's own rows). `resolutions` (market, resolved_at,
    outcome "YES"/"NO"): at the first timestamp at or after `resolved_at` the market's shares pay 1 or 0.
    `books` (market -> its YES token's recorded book) replace the cost model for those markets.
    `cost_scale` multiplies every cost (see `cost_sensitivity`).
    """
    missing = set(COLUMNS) - set(frame.columns)
    if missing:
        raise ValueError(f"backtest frame lacks columns {sorted(missing)}")
    rows = frame.dropna(subset=["price"]).sort_values(["ts", "market"], kind="stable")
    rows = rows.assign(n_tweets_1h=rows["n_tweets_1h"].fillna(0))
    if unknown := set(rows["market"]) - set(markets):
        raise ValueError(f"no MarketInfo for markets {sorted(unknown)}")
    prices = (rows if prices is None else prices).dropna(subset=["price"])
    due = _resolutions(resolutions, markets)
    paper = PaperExchange(markets, settings.costs, books, cost_scale)
    latency = NextPriceExchange(paper, prices, settings.costs.latency_s, {m: at for m, (at, _) in due.items()})
    engine = TradingEngine(markets, settings, latency, quotes=paper.quotes)
    decisions: list[Decision] = []
    fills: list[Fill] = []
    for ts, group in rows.groupby("ts", sort=True):
        fills.extend(_settle(engine, due, ts, ts))
        for row in group.to_dict("records"):
            when = {c: None if pd.isna(row[c]) else row[c] for c in FRESHNESS if c in row}
            step = engine.on_decision(ts, row["market"], float(row["p_up"]), int(row["n_tweets_1h"]),
                                      float(row["price"]), **when)
            decisions.append(step.decision)
            fills.extend(step.fills)
        engine.mark(ts, {})
    if engine.equity_curve:
        last_ts = engine.equity_curve[-1][0]
        fills.extend(_settle(engine, due, max(last_ts, prices["ts"].max()), None))  # resolved after the last row
        engine.exchange = paper  # no later price to wait for: the rest sells at the bid now
        fills.extend(engine.close_all(last_ts, "end of backtest")[1])
        engine.mark(last_ts, {})  # replaces the last point: the dicts below keep the latest value per ts
    equity = _series(engine.equity_curve, "equity")
    fills_df = _frame(fills, Fill)
    start = settings.risk.starting_cash
    exposure = _series(engine.exposure_curve, "exposure")
    metrics = performance(equity, fills_df, start, exposure)
    return BacktestResult(equity, fills_df, _frame(decisions, Decision), metrics, start, exposure)


COST_SCALES = (0.0, 1.0, 2.0)


def cost_sensitivity(frame: pd.DataFrame, markets: Mapping[str, MarketInfo], settings: Settings, *,
                     prices: pd.DataFrame | None = None, resolutions: pd.DataFrame | None = None,
                     books: Mapping[str, Book] | None = None, scales: Iterable[float] = COST_SCALES) -> pd.DataFrame:
    """The backtest rerun with every cost (spread, slippage, depth walked, fees) times each scale: an edge
    that only exists at scale 0 is the costs' and not the model's."""
    return sensitivity_table({scale: run_backtest(frame, markets, settings, prices=prices, resolutions=resolutions,
                                                  books=books, cost_scale=scale) for scale in scales})


def sensitivity_table(at_scale: Mapping[float, BacktestResult]) -> pd.DataFrame:
    """One row per cost scale of the backtests run at those scales."""
    columns = ["total_return", "n_fills", "fees_paid", "final_equity"]
    rows = [{"scale": float(scale), **{k: result.metrics[k] for k in columns}} for scale, result in at_scale.items()]
    return pd.DataFrame(rows, columns=["scale", *columns])


def _resolutions(resolutions: pd.DataFrame | None, markets: Mapping[str, MarketInfo]) -> dict[str, tuple]:
    """market -> (resolved_at, outcome) for the markets traded here."""
    if resolutions is None:
        return {}
    if bad := set(resolutions["outcome"]) - {"YES", "NO"}:
        raise ValueError(f"resolution outcomes must be YES or NO, not {sorted(bad)}")
    return {r.market: (r.resolved_at, r.outcome) for r in resolutions.itertuples() if r.market in markets}


def _settle(engine: TradingEngine, due: dict[str, tuple], until: pd.Timestamp, ts: pd.Timestamp | None) -> list[Fill]:
    """Settle every market resolved by `until` and not yet settled, at `ts` (None: at its resolution)."""
    fills = []
    for market, (at, outcome) in due.items():
        if market not in engine.resolved and at <= until:
            fills.extend(engine.settle(at if ts is None else ts, market, outcome))
    return fills


def _series(curve: list[tuple], name: str) -> pd.Series:
    series = pd.Series(dict(curve), name=name, dtype=float)
    series.index.name = "ts"
    return series


def plot_equity(result: BacktestResult, path: Path, title: str) -> Path:
    """PNG of the equity curve over its drawdown, with the headline metrics in the title."""
    equity = result.equity
    below_peak = -100 * drawdown(equity, result.starting_cash)
    fig = Figure(figsize=(11, 6.5), layout="constrained")
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=[3, 1])
    top.plot(equity.index, equity.to_numpy(), color="tab:blue", linewidth=1.6)
    top.set_ylabel("Equity (USDC)", fontsize=11)
    m = result.metrics
    sharpe = m["sharpe_note"] or f"{m['sharpe_daily']:.2f}"
    top.set_title(f"{title}\nreturn {m['total_return']:+.1%} · daily Sharpe {sharpe} · max drawdown "
                  f"{m['max_drawdown']:.1%} · {m['n_fills']} fills · fees {m['fees_paid']:.2f} USDC", fontsize=12)
    bottom.fill_between(equity.index, below_peak.to_numpy(), 0.0, color="tab:red", alpha=0.4, step="post")
    bottom.set_ylabel("Drawdown (%)", fontsize=11)
    bottom.set_xlabel("Time", fontsize=11)
    for ax in (top, bottom):
        ax.grid(alpha=0.3)
    fig.autofmt_xdate()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    return path


def _frame(records: list, kind: type) -> pd.DataFrame:
    """Dataclass records as a DataFrame whose columns exist even when there are no records."""
    return pd.DataFrame([asdict(r) for r in records], columns=[f.name for f in fields(kind)])
