"""Performance metrics a quant can trust: daily Sharpe with a bootstrap interval, and per-trade statistics.

A Sharpe ratio annualised from 5-minute steps is meaningless: the steps of a held position are strongly
autocorrelated, so sqrt(steps per year) inflates it by orders of magnitude. The only Sharpe here is of
daily returns, and only once there are enough days for it to say something; below that it is None and a
note says why. Trades (round trips) are counted from the fills, because the hit rate and the t-statistic
of the mean trade PnL are what tell an edge from luck on a short run.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from models.engine import SHARE_STEP

_DAYS_PER_YEAR = 365  # prediction markets trade every day, weekends included
_CI = (2.5, 97.5)


def drawdown(equity: pd.Series, starting_cash: float) -> pd.Series:
    """Fall below the running peak as a positive fraction, the starting cash being the first peak."""
    return 1 - equity / equity.cummax().clip(lower=starting_cash)


def daily_equity(equity: pd.Series, starting_cash: float) -> pd.Series:
    """Equity at each UTC day end (the last mark of the day, carried over a day without marks), after
    the starting cash as the value before the first day. Naive timestamps are taken as UTC."""
    index = pd.DatetimeIndex(equity.index)
    index = index.tz_convert("UTC").tz_localize(None) if index.tz is not None else index
    days = pd.Series(equity.to_numpy(dtype=float), index=index).sort_index().resample("1D").last().ffill()
    if days.empty:
        return days
    return pd.concat([pd.Series([float(starting_cash)], index=[days.index[0] - pd.Timedelta(days=1)]), days])


def stationary_bootstrap_sharpe(returns: np.ndarray, n_boot: int, seed: int) -> np.ndarray:
    """Annualised Sharpe of `n_boot` stationary-bootstrap resamples (Politis & Romano 1994).

    Daily returns of a strategy that holds positions for hours are still serially dependent (a position
    opened late one day is marked on the next); resampling single days would break that dependence and
    understate the spread. Blocks of random length (geometric, mean n^(1/3) days, the usual rate) keep
    it, and random lengths keep the resample stationary. Resamples with no variance are dropped.
    """
    n = len(returns)
    rng = np.random.default_rng(seed)
    new_block = rng.random((n_boot, n)) < 1 / max(1.0, n ** (1 / 3))
    new_block[:, 0] = True
    steps = np.arange(n)
    block_at = np.maximum.accumulate(np.where(new_block, steps, 0), axis=1)  # where each position's block began
    starts = rng.integers(0, n, (n_boot, n))
    picks = (np.take_along_axis(starts, block_at, axis=1) + steps - block_at) % n
    sample = returns[picks]
    std = sample.std(axis=1, ddof=1)
    sharpe = sample.mean(axis=1) / np.where(std > 0, std, np.nan) * math.sqrt(_DAYS_PER_YEAR)
    return sharpe[np.isfinite(sharpe)]


def round_trips(fills: pd.DataFrame) -> pd.DataFrame:
    """One row per closed trade: a BUY that opens a position in a market's token up to the SELL(s) that
    bring it back to zero (a settlement is such a SELL, at 1.0 or 0.0 with no fee).

    PnL = sale proceeds - purchase cost - every fee of the trade. A position still open at the end is
    not a trade: its PnL is not known. A sale leaving less than one share step closes the trade.
    Columns: market, token, opened, closed, pnl, holding_hours.
    """
    trades, book = [], {}
    for fill in fills.sort_values("ts", kind="stable").itertuples(index=False):
        key = (fill.market, fill.token)
        notional = fill.shares * fill.price
        if fill.side == "BUY":
            trade = book.setdefault(key, {"opened": fill.ts, "shares": 0.0, "pnl": 0.0})
            trade["shares"] += fill.shares
            trade["pnl"] -= notional + fill.fee
        elif key in book:  # a sale of a position opened before the fills begin is no full trade
            trade = book[key]
            trade["shares"] -= fill.shares
            trade["pnl"] += notional - fill.fee
            if trade["shares"] < SHARE_STEP - 1e-9:
                del book[key]
                held = pd.Timestamp(fill.ts) - pd.Timestamp(trade["opened"])
                trades.append((*key, trade["opened"], fill.ts, trade["pnl"], held / pd.Timedelta(hours=1)))
    return pd.DataFrame(trades, columns=["market", "token", "opened", "closed", "pnl", "holding_hours"])


def performance(equity: pd.Series, fills: pd.DataFrame, starting_cash: float, exposure: pd.Series | None = None,
                *, min_days: int = 30, n_boot: int = 2000, seed: int = 0) -> dict:
    """Headline metrics of a run from its equity curve and fills (`models.engine.Fill` columns).

    `exposure` is the gross USDC at stake at each mark, aligned with `equity` by timestamp; without it
    the exposure metrics are None. The Sharpe ratio is of daily returns only: days are the shortest span
    whose returns are roughly independent for positions held for hours, and annualising by sqrt(365)
    needs no guess of the step (markets trade every day). Below `min_days` daily returns the sample
    standard deviation and the bootstrap (too few blocks to resample) are noise, so Sharpe and its 95%
    interval are None and `sharpe_note` says why. Turnover is traded notional (every fill, settlements
    included) over mean equity, for the whole run.
    """
    curve = equity.astype(float)
    final = float(curve.iloc[-1]) if len(curve) else float(starting_cash)
    notional = float((fills["shares"] * fills["price"]).sum()) if len(fills) else 0.0
    mean_equity = float(curve.mean()) if len(curve) else float(starting_cash)
    returns = daily_equity(curve, starting_cash).pct_change().dropna().to_numpy() if len(curve) else np.array([])
    share = (exposure.astype(float) / curve).dropna() if exposure is not None else pd.Series(dtype=float)
    return {
        "total_return": final / starting_cash - 1,
        "final_equity": final,
        "max_drawdown": float(drawdown(curve, starting_cash).max()) if len(curve) else 0.0,
        "fees_paid": float(fills["fee"].sum()) if len(fills) else 0.0,
        "n_fills": len(fills),
        "n_days": len(returns),
        **_sharpe(returns, min_days, n_boot, seed),
        **_trade_stats(round_trips(fills)),
        "turnover": notional / mean_equity if mean_equity > 0 else None,
        "mean_exposure": float(share.mean()) if len(share) else None,
        "max_exposure": float(share.max()) if len(share) else None,
    }


def _sharpe(returns: np.ndarray, min_days: int, n_boot: int, seed: int) -> dict:
    empty = {"sharpe_daily": None, "sharpe_ci_low": None, "sharpe_ci_high": None}
    if len(returns) < min_days:
        return {**empty, "sharpe_note": f"too short: {len(returns)} days < {min_days}"}
    std = returns.std(ddof=1)
    if std == 0:
        return {**empty, "sharpe_note": "flat: daily returns do not vary"}
    low, high = np.percentile(stationary_bootstrap_sharpe(returns, n_boot, seed), _CI)
    return {"sharpe_daily": float(returns.mean() / std * math.sqrt(_DAYS_PER_YEAR)), "sharpe_ci_low": float(low),
            "sharpe_ci_high": float(high), "sharpe_note": None}


def _trade_stats(trades: pd.DataFrame) -> dict:
    """Hit rate, mean PnL and its t-statistic (None below two trades or with no spread), median holding."""
    pnl = trades["pnl"].to_numpy(dtype=float)
    n = len(pnl)
    std = pnl.std(ddof=1) if n >= 2 else 0.0
    return {
        "n_trades": n,
        "hit_rate": float((pnl > 0).mean()) if n else None,
        "mean_trade_pnl": float(pnl.mean()) if n else None,
        "trade_pnl_t": float(pnl.mean() / (std / math.sqrt(n))) if std > 0 else None,
        "median_holding_hours": float(trades["holding_hours"].median()) if n else None,
    }


def format_performance(metrics: dict) -> list[tuple[str, str]]:
    """(label, value) rows for a report table; a Sharpe not computed shows its note ("too short: ...")."""

    def show(key: str, fmt: str) -> str:
        value = metrics.get(key)
        return "n/a" if value is None else format(value, fmt)

    note = metrics.get("sharpe_note")
    rows = [
        ("Total return", show("total_return", "+.2%")),
        ("Final equity (USDC)", show("final_equity", ",.2f")),
        ("Max drawdown", show("max_drawdown", ".2%")),
        ("Fills", show("n_fills", "d")),
        ("Fees paid (USDC)", show("fees_paid", ",.2f")),
        ("Days", show("n_days", "d")),
        ("Sharpe (daily, annualised)", note or show("sharpe_daily", ".2f")),
        ("Sharpe 95% CI", note or f"[{show('sharpe_ci_low', '.2f')}, {show('sharpe_ci_high', '.2f')}]"),
        ("Trades", show("n_trades", "d")),
        ("Hit rate", show("hit_rate", ".1%")),
        ("Mean trade PnL (USDC)", show("mean_trade_pnl", "+.2f")),
        ("Trade PnL t-stat", show("trade_pnl_t", ".2f")),
        ("Median holding (h)", show("median_holding_hours", ".2f")),
        ("Turnover (x mean equity)", show("turnover", ".2f")),
    ]
    if metrics.get("mean_exposure") is not None:
        rows += [("Mean exposure", show("mean_exposure", ".1%")), ("Max exposure", show("max_exposure", ".1%"))]
    return rows
