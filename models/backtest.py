"""Replay model probabilities through the same `TradingEngine` the trader runs, on paper fills.

Because sizing, risk and costs are the trader's own code, a backtest's result is what the strategy would
have done, not what a separate re-implementation thinks it would have done.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from models.engine import Decision, Fill, MarketInfo, PaperExchange, TradingEngine
from sentitrade.settings import Settings

COLUMNS = ("market", "ts", "p_up", "n_tweets_1h", "price")
FRESHNESS = ("last_tweet_at", "last_price_at")  # optional columns
_YEAR = pd.Timedelta(days=365)  # prediction markets trade around the clock


@dataclass(frozen=True)
class BacktestResult:
    equity: pd.Series
    fills: pd.DataFrame
    decisions: pd.DataFrame
    metrics: dict[str, float]
    starting_cash: float


def run_backtest(frame: pd.DataFrame, markets: dict[str, MarketInfo], settings: Settings) -> BacktestResult:
    """Decide every row in time order, mark equity after each timestamp, close everything at the end.

    `frame` has one row per (market, ts): the model's `p_up`, the tweet count `n_tweets_1h` and the YES
    mid `price`, and optionally `last_tweet_at` / `last_price_at` (the newest tweet and price behind the
    row, for the stale-data guard; missing or NaT: not checked). Rows without a price cannot trade and
    are dropped.
    """
    missing = set(COLUMNS) - set(frame.columns)
    if missing:
        raise ValueError(f"backtest frame lacks columns {sorted(missing)}")
    rows = frame.dropna(subset=["price"]).sort_values(["ts", "market"], kind="stable")
    rows = rows.assign(n_tweets_1h=rows["n_tweets_1h"].fillna(0))
    if unknown := set(rows["market"]) - set(markets):
        raise ValueError(f"no MarketInfo for markets {sorted(unknown)}")
    engine = TradingEngine(markets, settings, PaperExchange(markets, settings.costs))
    decisions: list[Decision] = []
    fills: list[Fill] = []
    for ts, group in rows.groupby("ts", sort=True):
        for row in group.to_dict("records"):
            when = {c: None if pd.isna(row[c]) else row[c] for c in FRESHNESS if c in row}
            step = engine.on_decision(ts, row["market"], float(row["p_up"]), int(row["n_tweets_1h"]),
                                      float(row["price"]), **when)
            decisions.append(step.decision)
            fills.extend(step.fills)
        engine.mark(ts, {})
    if engine.equity_curve:
        last_ts = engine.equity_curve[-1][0]
        fills.extend(engine.close_all(last_ts, "end of backtest")[1])
        engine.mark(last_ts, {})  # replaces the last point: the dict below keeps the latest value per ts
    equity = pd.Series(dict(engine.equity_curve), name="equity", dtype=float)
    equity.index.name = "ts"
    fills_df = _frame(fills, Fill)
    start = settings.risk.starting_cash
    metrics = compute_metrics(equity, start, fills_df)
    return BacktestResult(equity, fills_df, _frame(decisions, Decision), metrics, start)


def drawdown(equity: pd.Series, starting_cash: float) -> pd.Series:
    """Fall below the running peak as a positive fraction, the starting cash being the first peak."""
    return 1 - equity / equity.cummax().clip(lower=starting_cash)


def compute_metrics(equity: pd.Series, starting_cash: float, fills: pd.DataFrame) -> dict[str, float]:
    """Return, annualized Sharpe of per-step returns, max drawdown, fill count and fees, from the curve."""
    curve = np.r_[starting_cash, equity.to_numpy(dtype=float)]
    returns = np.diff(curve) / curve[:-1]
    sharpe = 0.0
    if len(equity) > 1 and returns.std(ddof=1) > 0:
        step = pd.Series(equity.index).diff().median()
        sharpe = float(returns.mean() / returns.std(ddof=1) * np.sqrt(_YEAR / step))
    return {
        "total_return": float(curve[-1] / starting_cash - 1),
        "sharpe": sharpe,
        "max_drawdown": float(drawdown(equity, starting_cash).max()) if len(equity) else 0.0,
        "n_fills": len(fills),
        "fees_paid": float(fills["fee"].sum()) if len(fills) else 0.0,
        "final_equity": float(curve[-1]),
    }


def plot_equity(result: BacktestResult, path: Path, title: str) -> Path:
    """PNG of the equity curve over its drawdown, with the headline metrics in the title."""
    equity = result.equity
    below_peak = -100 * drawdown(equity, result.starting_cash)
    fig = Figure(figsize=(11, 6.5), layout="constrained")
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=[3, 1])
    top.plot(equity.index, equity.to_numpy(), color="tab:blue", linewidth=1.6)
    top.set_ylabel("Equity (USDC)", fontsize=11)
    m = result.metrics
    top.set_title(f"{title}\nreturn {m['total_return']:+.1%} · Sharpe {m['sharpe']:.2f} · max drawdown "
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
