"""Honest metrics: a daily Sharpe only with enough days (with a seeded bootstrap interval), round trips from fills."""

from __future__ import annotations

import math
import statistics

import numpy as np
import pandas as pd
import pytest

from models.backtest import run_backtest
from models.engine import Fill
from models.performance import daily_equity, format_performance, performance, round_trips

T0 = pd.Timestamp("2026-11-01 00:00")
COLUMNS = list(Fill.__dataclass_fields__)


def fills(*rows: tuple) -> pd.DataFrame:
    """Fills from (hours after T0, market, token, side, shares, price, fee)."""
    return pd.DataFrame([(T0 + pd.Timedelta(hours=h), m, tok, f"{m}-{tok}", side, sh, px, fee)
                         for h, m, tok, side, sh, px, fee in rows], columns=COLUMNS)


NO_FILLS = fills()
# Three closed trades (pnl 11.0, -30.0 and 9.9; held 4 h, 2 h and 6 h) and one position left open.
BOOK = fills(
    (0, "a", "YES", "BUY", 100, 0.40, 0.5),
    (1, "b", "NO", "BUY", 50, 0.60, 0.0),
    (2, "a", "YES", "SELL", 60, 0.50, 0.3),
    (3, "b", "NO", "SELL", 50, 0.0, 0.0),  # settled against us
    (4, "a", "YES", "SELL", 40, 0.55, 0.2),
    (5, "a", "NO", "BUY", 20, 0.50, 0.1),
    (6, "c", "YES", "BUY", 10, 0.30, 0.0),  # never closed
    (11, "a", "NO", "SELL", 20, 1.0, 0.0),  # settled in our favour
)
CURVE = pd.Series([990.0, 1010.0, 909.0, 1000.0], index=T0 + pd.to_timedelta([0, 4, 8, 12], unit="h"))


def iid_curve(seed: int, days: int = 60, mean: float = 0.002, std: float = 0.01) -> pd.Series:
    """One mark a day, just before midnight, compounding iid normal daily returns from 1000."""
    returns = np.random.default_rng(seed).normal(mean, std, days)
    return pd.Series(1000 * np.cumprod(1 + returns), index=pd.date_range(T0 + pd.Timedelta("23h55min"),
                                                                          periods=days, freq="D"))


def test_round_trips_from_a_hand_built_book():
    trades = round_trips(BOOK)
    assert list(zip(trades["market"], trades["token"])) == [("b", "NO"), ("a", "YES"), ("a", "NO")]
    assert trades["pnl"].tolist() == pytest.approx([-30.0, 11.0, 9.9])
    assert trades["holding_hours"].tolist() == pytest.approx([2.0, 4.0, 6.0])
    assert trades["closed"].tolist() == [T0 + pd.Timedelta(hours=h) for h in (3, 4, 11)]


def test_trade_statistics_turnover_and_exposure_have_the_hand_computed_values():
    exposure = pd.Series([40.0, 505.0, 0.0, 100.0], index=CURVE.index)
    m = performance(CURVE, BOOK, 1000.0, exposure)
    pnl = [11.0, -30.0, 9.9]
    assert m["n_trades"] == 3
    assert m["hit_rate"] == pytest.approx(2 / 3)
    assert m["mean_trade_pnl"] == pytest.approx(-9.1 / 3)
    assert m["trade_pnl_t"] == pytest.approx(statistics.mean(pnl) / (statistics.stdev(pnl) / math.sqrt(3)))
    assert m["trade_pnl_t"] == pytest.approx(-0.2249, abs=1e-4)
    assert m["median_holding_hours"] == pytest.approx(4.0)
    assert m["turnover"] == pytest.approx(155.0 / 977.25)  # notional 40+30+30+0+22+10+3+20 over mean equity
    assert m["mean_exposure"] == pytest.approx((40 / 990 + 505 / 1010 + 0 + 100 / 1000) / 4)
    assert m["max_exposure"] == pytest.approx(0.5)
    assert m["fees_paid"] == pytest.approx(1.1)
    assert m["n_fills"] == 8
    assert m["total_return"] == 0.0 and m["final_equity"] == 1000.0
    assert m["max_drawdown"] == pytest.approx(0.1)  # 1010 -> 909


def test_the_starting_cash_is_the_first_peak():
    below_start = pd.Series([990.0, 995.0], index=CURVE.index[:2])
    assert performance(below_start, NO_FILLS, 1000.0)["max_drawdown"] == pytest.approx(0.01)


def test_an_open_position_is_not_a_trade():
    only_open = fills((0, "a", "YES", "BUY", 100, 0.40, 0.5), (1, "a", "YES", "SELL", 60, 0.50, 0.3))
    m = performance(CURVE, only_open, 1000.0)
    assert m["n_trades"] == 0
    assert m["hit_rate"] is None and m["mean_trade_pnl"] is None and m["trade_pnl_t"] is None
    assert m["median_holding_hours"] is None
    assert m["n_fills"] == 2 and m["fees_paid"] == pytest.approx(0.8)


def test_a_sale_leaving_less_than_a_share_step_closes_the_trade_and_one_trade_has_no_t():
    book = fills((0, "a", "YES", "BUY", 100.004, 0.40, 0.0), (2, "a", "YES", "SELL", 100.0, 0.45, 0.0))
    m = performance(CURVE, book, 1000.0)
    assert (m["n_trades"], m["hit_rate"], m["trade_pnl_t"]) == (1, 1.0, None)
    assert m["mean_trade_pnl"] == pytest.approx(45.0 - 40.0016)


def test_daily_returns_are_day_end_equity_after_the_starting_cash():
    marks = pd.date_range(T0, T0 + pd.Timedelta(days=4) - pd.Timedelta(minutes=5), freq="5min", tz="UTC")
    ends = {0: 1010.0, 1: 1000.0, 2: 1000.0, 3: 1030.0}  # day 2 has no marks: day 1's close carries over
    curve = pd.Series(np.nan, index=marks)
    rng = np.random.default_rng(3)
    for day, close in ends.items():
        if day == 2:
            curve = curve[curve.index.day != T0.day + 2]
            continue
        in_day = curve.index.day == T0.day + day
        curve[in_day] = 1000 + rng.normal(0, 30, in_day.sum())  # intraday noise must not matter
        curve[curve.index[in_day][-1]] = close
    daily = daily_equity(curve, 1000.0)
    assert daily.tolist() == pytest.approx([1000.0, *ends.values()])
    assert daily.index[-1] == T0 + pd.Timedelta(days=3)
    m = performance(curve, NO_FILLS, 1000.0)
    assert m["n_days"] == 4
    assert m["sharpe_daily"] is None and m["sharpe_ci_low"] is None and m["sharpe_ci_high"] is None
    assert m["sharpe_note"] == "too short: 4 days < 30"
    rows = dict(format_performance(m))
    assert rows["Sharpe (daily, annualised)"] == rows["Sharpe 95% CI"] == "too short: 4 days < 30"


def test_sixty_iid_days_give_a_seeded_interval_around_the_true_sharpe():
    true_sharpe = 0.002 / 0.01 * math.sqrt(365)
    curve = iid_curve(seed=5)
    m = performance(curve, NO_FILLS, 1000.0, seed=1)
    returns = np.r_[1000.0, curve.to_numpy()]
    returns = returns[1:] / returns[:-1] - 1
    assert m["n_days"] == 60 and m["sharpe_note"] is None
    assert m["sharpe_daily"] == pytest.approx(returns.mean() / returns.std(ddof=1) * math.sqrt(365))
    assert m["sharpe_ci_low"] < m["sharpe_daily"] < m["sharpe_ci_high"]
    assert m["sharpe_ci_low"] < true_sharpe < m["sharpe_ci_high"]
    assert performance(curve, NO_FILLS, 1000.0, seed=1) == m
    assert performance(curve, NO_FILLS, 1000.0, seed=2)["sharpe_ci_low"] != m["sharpe_ci_low"]
    rows = dict(format_performance(m))
    assert rows["Sharpe 95% CI"] == f"[{m['sharpe_ci_low']:.2f}, {m['sharpe_ci_high']:.2f}]"


def test_the_interval_covers_the_true_sharpe_about_95_percent_of_the_time():
    true_sharpe = 0.002 / 0.01 * math.sqrt(365)
    runs = [performance(iid_curve(seed=100 + s), NO_FILLS, 1000.0, n_boot=1000, seed=s) for s in range(40)]
    covered = sum(m["sharpe_ci_low"] <= true_sharpe <= m["sharpe_ci_high"] for m in runs)
    assert 34 <= covered <= 40  # 95% of 40 is 38; a CI a third too narrow would cover about 31


def test_intraday_marks_do_not_change_the_sharpe():
    """Never a per-step Sharpe: the same day ends with 5-minute noise in between give the same figure."""
    daily = iid_curve(seed=8, days=35)
    marks = pd.date_range(daily.index[0] - pd.Timedelta("23h55min"), daily.index[-1], freq="5min")
    noisy = pd.Series(1000 + np.random.default_rng(9).normal(0, 50, len(marks)), index=marks)
    noisy[daily.index] = daily
    assert performance(noisy, NO_FILLS, 1000.0)["sharpe_daily"] == pytest.approx(
        performance(daily, NO_FILLS, 1000.0)["sharpe_daily"])


def test_a_flat_curve_has_no_sharpe_and_the_table_says_why():
    flat = pd.Series(1000.0, index=pd.date_range(T0, periods=40, freq="D"))
    m = performance(flat, NO_FILLS, 1000.0)
    assert m["sharpe_daily"] is None and m["sharpe_note"] == "flat: daily returns do not vary"
    assert m["mean_exposure"] is None and m["turnover"] == 0.0
    rows = dict(format_performance(m))
    assert rows["Hit rate"] == "n/a" and "Mean exposure" not in rows


def test_round_trips_of_a_real_backtest_add_up_to_its_pnl(settings, make_market):
    """The backtest closes everything at the end, so its trades' PnL, fees included, is the whole PnL."""
    hours = pd.date_range("2025-01-01", periods=48, freq="h", tz="UTC")
    mids = 0.5 + 0.05 * np.tile([0, 1, 2, 1, 0, -1, -2, -1], 6)
    following = np.r_[mids[1:], mids[-1]]
    p_up = np.select([following > mids, following < mids], [0.9, 0.1], 0.5)  # knows the next hour
    rows = pd.DataFrame({"market": "a", "ts": hours, "p_up": p_up, "n_tweets_1h": 50, "price": mids})
    result = run_backtest(rows, {"a": make_market("a", fees_enabled=True, fee_rate=0.04)}, settings)
    m = performance(result.equity, result.fills, result.starting_cash)
    trades = round_trips(result.fills)
    assert m["n_trades"] == len(trades) == (result.fills["side"] == "BUY").sum() > 5
    assert trades["pnl"].sum() == pytest.approx(m["final_equity"] - result.starting_cash)
    assert m["fees_paid"] > 0 and m["hit_rate"] > 0.5 and m["n_days"] == 2
