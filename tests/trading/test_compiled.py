"""The compiled backtest is the Python engine's backtest: the same equity curve and the same fills, to 1e-9.

Frames are built so that every path-dependent rule fires (the Python run's decision reasons show it):
the halt and its close-all, stops, per-market and total caps, the drawdown reduction, daily stops, stale
inputs, the minimum order size, a market's end, settlement, fees and the latency fills; then real daily
bars of resolved Polymarket markets, and the cost scales of the sensitivity table.
"""

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from connectors.pancake import load_daily_bars
from models.backtest import run_backtest
from models import compiled, rules
from models.compiled import compiled_backtest
from models.engine import MarketInfo
from sentitrade.settings import CostSettings, RiskSettings
from tests.trading.conftest import CORE_RISK

PANCAKE = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "polymarket" / "pancake-polymarket-history"
EVERY_RULE = {"max_total_exposure": 0.5, "drawdown_reduce_at": 0.3, "drawdown_reduce_factor": 0.5,
              "daily_loss_limit": 0.03, "stop_loss": 0.08, "take_profit": 0.1, "max_tweet_age_s": 1200,
              "max_price_age_s": 600, "max_position_fraction": 0.15, "kelly_fraction": 0.5}


def random_inputs(seed: int, n_markets: int = 6, n_bars: int = 300):
    """Decisions every 5 minutes over a day and a half on jumpy random-walk prices, observed every minute
    (so latency fills land between decisions); some prices missing, some predictions NaN, stale inputs."""
    rng = np.random.default_rng(seed)
    minutes = pd.date_range("2026-11-01 12:00", periods=5 * n_bars, freq="1min", tz="UTC")
    observed, rows = [], []
    for k in range(n_markets):
        steps = rng.normal(0, 0.004, len(minutes)) + rng.normal(0, 0.06, len(minutes)) * (rng.random(len(minutes)) < 0.005)
        price = np.clip(rng.uniform(0.2, 0.8) + np.cumsum(steps), 0.02, 0.98)
        observed.append(pd.DataFrame({"market": f"m{k}", "ts": minutes, "price": price}))
        bars = slice(None, None, 5)
        drift = pd.Series(rng.normal(0, 1, n_bars)).ewm(alpha=0.3).mean().to_numpy()  # persistent views: holds, flips
        p_up = np.clip(0.5 + 0.45 * np.tanh(2 * drift), 0.0, 1.0)
        p_up[rng.random(n_bars) < 0.03] = np.nan
        ts = minutes[bars]
        rows.append(pd.DataFrame({
            "market": f"m{k}", "ts": ts, "price": np.where(rng.random(n_bars) < 0.02, np.nan, price[bars]),
            "p_up": p_up, "n_tweets_1h": rng.integers(0, 40, n_bars).astype(float),
            "last_tweet_at": ts - pd.to_timedelta(rng.exponential(400, n_bars).round(), unit="s"),
            "last_price_at": ts - pd.to_timedelta(rng.choice([0, 60, 900], n_bars, p=[0.8, 0.15, 0.05]), unit="s")}))
    frame = pd.concat(rows, ignore_index=True)
    frame.loc[frame.sample(frac=0.02, random_state=seed).index, "last_tweet_at"] = pd.NaT
    prices = pd.concat(observed, ignore_index=True)
    end = minutes[len(minutes) * 2 // 3]
    markets = {f"m{k}": MarketInfo(f"m{k}", f"m{k}-yes", f"m{k}-no", fees_enabled=k % 2 == 0, fee_rate=0.03,
                                   min_order_size=[5.0, 5.0, 5.0, 150.0, 5.0, 5.0][k % 6],
                                   end=end.to_pydatetime() if k == 4 else None) for k in range(n_markets)}
    resolutions = pd.DataFrame({"market": ["m1", "m2", "m5"], "resolved_at": [minutes[len(minutes) // 2], minutes[-1],
                                minutes[-1] + pd.Timedelta(hours=1)], "outcome": ["YES", "NO", "YES"]})
    return frame, prices, markets, resolutions


def assert_same(expected, got) -> None:
    """Equity, exposure and fills: same timestamps, markets, tokens, sides; shares, prices and fees to 1e-9."""
    for name in ("equity", "exposure"):
        want, have = getattr(expected, name), getattr(got, name)
        assert list(pd.DatetimeIndex(have.index).as_unit("ns")) == list(pd.DatetimeIndex(want.index).as_unit("ns"))
        np.testing.assert_allclose(have.to_numpy(), want.to_numpy(), rtol=0, atol=1e-9)
    want, have = expected.fills.reset_index(drop=True), got.fills.reset_index(drop=True)
    assert len(have) == len(want)
    assert list(pd.DatetimeIndex(have["ts"]).as_unit("ns")) == list(pd.DatetimeIndex(want["ts"]).as_unit("ns"))
    for column in ("market", "token", "token_id", "side"):
        assert have[column].tolist() == want[column].tolist(), column
    for column in ("shares", "price", "fee"):
        np.testing.assert_allclose(have[column].to_numpy(float), want[column].to_numpy(float), rtol=0, atol=1e-9)
    assert got.metrics == pytest.approx(expected.metrics, abs=1e-9, nan_ok=True)


def test_every_rule_firing_on_random_markets_gives_the_same_backtest(make_settings):
    reasons = []
    for seed, max_drawdown in [(1, 0.06), (2, 0.5), (3, 0.04), (4, 0.5)]:
        frame, prices, markets, resolutions = random_inputs(seed)
        settings = make_settings(**{**EVERY_RULE, "max_drawdown": max_drawdown})
        expected = run_backtest(frame, markets, settings, prices=prices, resolutions=resolutions)
        got = compiled_backtest(frame, markets, settings, prices=prices, resolutions=resolutions)
        assert_same(expected, got)
        assert len(expected.fills) >= 10
        reasons.append(" | ".join(expected.decisions["reason"]))
    everything = " | ".join(reasons)
    for rule in ("positions closed", "stop-loss SELL", "take-profit SELL", "capped at", "total exposure",
                 "stake × 0.5", "day's loss", "newest tweet", "newest price", "below min order size",
                 "market ended", "market resolved", "tweets < min", "no prediction", "flip SELL"):
        assert rule in everything, rule
    assert sum("halted" in r for r in reasons) == 2  # only the runs with a tight drawdown halt
    assert re.search(r"halted: drawdown [\d.]+% past \d+%, [1-9] positions closed", everything)


@pytest.mark.parametrize("cost_scale", [0.0, 2.0])
def test_cost_scales_give_the_same_backtest(make_settings, cost_scale):
    frame, prices, markets, resolutions = random_inputs(5)
    settings = make_settings(**{**EVERY_RULE, "max_drawdown": 0.5})
    expected = run_backtest(frame, markets, settings, prices=prices, resolutions=resolutions, cost_scale=cost_scale)
    got = compiled_backtest(frame, markets, settings, prices=prices, resolutions=resolutions, cost_scale=cost_scale)
    assert_same(expected, got)
    assert len(expected.fills) >= 10 and (expected.fills["fee"].sum() > 0) == (cost_scale > 0)


def test_default_prices_and_no_freshness_columns_give_the_same_backtest(make_settings):
    frame, _, markets, _ = random_inputs(6)
    frame = frame.drop(columns=["last_tweet_at", "last_price_at"])
    settings = make_settings(**{**EVERY_RULE, "max_drawdown": 0.5})
    assert_same(run_backtest(frame, markets, settings), compiled_backtest(frame, markets, settings))


def test_real_daily_bars_with_settlement_give_the_same_backtest(make_settings):
    if not PANCAKE.exists():
        pytest.skip(f"no Pancake daily bars at {PANCAKE}")
    bars = load_daily_bars(PANCAKE)
    first = bars.prices.groupby("market")["ts"].min()
    chosen = bars.resolutions[bars.resolutions["resolved_at"] <= bars.prices["ts"].max()]
    chosen = chosen[chosen["market"].isin(first.index)].sort_values("market").head(40)
    prices = bars.prices[bars.prices["market"].isin(chosen["market"])]
    rng = np.random.default_rng(0)
    frame = prices.assign(p_up=rng.uniform(0.2, 0.8, len(prices)), n_tweets_1h=20)
    markets = {m.market: MarketInfo(m.market, m.yes_token_id, m.no_token_id, fees_enabled=True, fee_rate=0.02)
               for m in MarketInfo.by_name(bars.markets).values() if m.market in set(chosen["market"])}
    settings = make_settings(strategy={"min_price": 0.05, "max_price": 0.95})
    settings.costs = CostSettings(half_spread=0.005, slippage=0.002, latency_s=1.0, depth_shares=500)
    settings.risk = RiskSettings(**{**CORE_RISK, "max_position_fraction": 0.05, "max_drawdown": 0.9,
                                    "stop_loss": 0.3, "max_total_exposure": 0.8})  # stale guards off: daily bars
    expected = run_backtest(frame, markets, settings, prices=bars.prices, resolutions=chosen)
    got = compiled_backtest(frame, markets, settings, prices=bars.prices, resolutions=chosen)
    assert_same(expected, got)
    settled = expected.fills[expected.fills["price"].isin([0.0, 1.0]) & (expected.fills["fee"] == 0)]
    assert settled["market"].nunique() > 5 and (settled["price"] == 1.0).any() and (settled["price"] == 0.0).any()


def test_a_sweep_over_prepared_inputs_gives_each_settings_own_backtest(make_settings):
    """`prepare` once, `run_prepared` per setting: no run changes the inputs the next one reads."""
    frame, prices, markets, resolutions = random_inputs(8)
    inputs = compiled.prepare(frame, markets, prices=prices, resolutions=resolutions)
    returns = []
    for buy_above, max_drawdown in [(0.6, 0.5), (0.7, 0.05), (0.6, 0.5)]:
        settings = make_settings(strategy={"buy_above": buy_above, "sell_below": 1 - buy_above},
                                 **{**EVERY_RULE, "max_drawdown": max_drawdown})
        got = compiled.run_prepared(inputs, settings)
        assert_same(run_backtest(frame, markets, settings, prices=prices, resolutions=resolutions), got)
        returns.append(got.metrics["total_return"])
    assert returns[0] == returns[2] != returns[1]


def test_recorded_books_are_refused(make_settings):
    frame, prices, markets, _ = random_inputs(7, n_markets=1, n_bars=10)
    with pytest.raises(ValueError, match="recorded books"):
        compiled_backtest(frame, markets, make_settings(), books={"m0": object()})


def test_rounding_is_pythons_also_when_compiled():
    """Fees land on near-ties (48.82 shares at 0.75, 2%: 0.183074999…), where numba's own round goes the
    other way; the rule's rounding must be Python's in both."""
    rng = np.random.default_rng(0)
    fees = (rng.integers(1, 100_000, 20_000) / 100) * (rng.integers(1, 100, 20_000) / 100) * 0.25 * 0.02
    values = [float(v) for v in (*fees, *rng.uniform(0, 10, 20_000), 0.125, 0.375, 2.5, 0.0)]  # not numpy's round
    compiled_round = compiled._R["decimal_round"]
    for digits in (0, 2, 5, 10):
        assert all(round(v, digits) == rules.decimal_round(v, digits) == compiled_round(v, digits) for v in values)
