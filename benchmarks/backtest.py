"""The backtest's speed: the compiled engine (`models.compiled`), the Python engine (`run_backtest`) and
vectorbt's `Portfolio.from_signals` on the same bars, in one run; and the nested walk-forward's time.

It generates 1M bars across 20 markets (a seeded random walk of YES prices in (0.02, 0.98), a p_up that
leans the way the next bars move), with every path-dependent rule on: Kelly on current equity, the per-
market and total caps, the drawdown reduction and halt, the daily loss stop, stop-loss / take-profit,
latency fills at the next bar, fees on half the markets, settlement of the markets that resolve. The
compiled engine runs all 1M bars on inputs prepared once (`models.compiled.prepare`, as a sweep does;
vectorbt's wide frames are likewise built before its timer; the preparation and the metrics are timed
apart, and compile time too); the Python engine a slice of them (its rows/s hardly depends on the
length); vectorbt the compiled engine's own entries and exits (YES long, NO short), sizes, fees and
slippage, without any of its rules. Warm runs report the fastest of five on each side. A check on a
slice prints the largest difference between the compiled and the Python equity curves. Then the nested
walk-forward (`models.train.search_params` over the default folds and the final fit, xgboost) on 1M
synthetic training rows. Targets: compiled >= vectorbt and >= 1M bars/s. Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

MARKETS = 20
HORIZON, SIGNAL = 60, 100.0  # p_up leans on the next hour's move: a weak edge that costs can eat
REPEATS = 5  # each side's fastest of five warm runs


def bars(n_bars: int, seed: int = 7) -> tuple[pd.DataFrame, dict, pd.DataFrame]:
    """(decision frame, markets, resolutions): 1-minute bars, `n_bars` in all across the markets, in time order."""
    from models.engine import MarketInfo

    rng = np.random.default_rng(seed)
    per_market = n_bars // MARKETS
    ts = pd.date_range("2026-10-01", periods=per_market, freq="1min", tz="UTC")
    frames = []
    for k in range(MARKETS):
        logit = np.log(1 / rng.uniform(0.2, 0.8) - 1) + np.cumsum(rng.normal(0, 0.03, per_market))
        price = np.clip(1 / (1 + np.exp(logit)), 0.02, 0.98).round(4)
        ahead = pd.Series(price).shift(-HORIZON).ffill().to_numpy() - price  # what the next hour does
        noise = pd.Series(rng.normal(0, 3.0, per_market)).ewm(alpha=0.1).mean().to_numpy()  # views persist a while
        p_up = 1 / (1 + np.exp(-(SIGNAL * ahead + noise)))
        frames.append(pd.DataFrame({"market": f"m{k:02d}", "ts": ts, "price": price, "p_up": p_up,
                                    "n_tweets_1h": rng.poisson(20, per_market)}))
    frame = pd.concat(frames, ignore_index=True).sort_values(["ts", "market"], kind="stable", ignore_index=True)
    frame["market"] = frame["market"].astype("category")  # as a bar feed arrives: in time order, markets coded
    markets = {f"m{k:02d}": MarketInfo(f"m{k:02d}", f"m{k:02d}-yes", f"m{k:02d}-no", fees_enabled=k % 2 == 0, tick_size=0.001,
                                       fee_rate=0.02) for k in range(MARKETS)}
    last = frame.groupby("market").tail(1)  # half the markets resolve a minute after their last bar
    resolved = last[last["market"].astype(str).str[-2:].astype(int) % 2 == 1]
    resolutions = pd.DataFrame({"market": resolved["market"].astype(str), "resolved_at": resolved["ts"] + pd.Timedelta(minutes=1),
                                "outcome": np.where(resolved["price"] > 0.5, "YES", "NO")})
    return frame, markets, resolutions


def settings_with_every_rule():
    from sentitrade.settings import CostSettings, RiskSettings, Settings, StrategySettings

    settings = Settings()
    settings.strategy = StrategySettings(buy_above=0.65, sell_below=0.35, exit_at=0.5, min_tweets=10)
    settings.costs = CostSettings(half_spread=0.005, slippage=0.002, latency_s=1.0, depth_shares=500)
    settings.risk = RiskSettings(starting_cash=1000.0, kelly_fraction=0.25, expected_move=0.05,
                                 max_position_fraction=0.1, max_total_exposure=0.5, max_drawdown=0.5,
                                 drawdown_reduce_at=0.3, drawdown_reduce_factor=0.5, daily_loss_limit=0.05,
                                 stop_loss=0.2, take_profit=0.3, max_tweet_age_s=0, max_price_age_s=0)
    return settings


def slice_of(frame: pd.DataFrame, resolutions: pd.DataFrame, n_bars: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The first n_bars across the markets (whole timestamps) and the resolutions due inside them."""
    ts = np.sort(frame["ts"].unique())[: n_bars // MARKETS]
    part = frame[frame["ts"].isin(ts)]
    return part, resolutions[resolutions["resolved_at"] <= part["ts"].max()]


def timed(call, repeats: int = 1):
    """The call's result and its fastest time of `repeats` (the machine is shared: the best is the least noisy)."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        result = call()
        best = min(best, time.perf_counter() - start)
    return result, best


def vectorbt_run(frame: pd.DataFrame, fills: pd.DataFrame, markets: dict, settings) -> tuple[float, int]:
    """Portfolio.from_signals on the compiled engine's entries and exits (at the bars they filled), its
    share counts, the markets' fees at the entry price and the modelled spread + slippage; seconds, orders."""
    import vectorbt as vbt

    close = frame.pivot(index="ts", columns="market", values="price")
    on_bars = fills[fills["ts"].isin(close.index)]
    at = close.index.get_indexer(on_bars["ts"]), close.columns.get_indexer(on_bars["market"])

    def grid(chosen: pd.Series, values, fill) -> pd.DataFrame:
        cells = np.full(close.shape, fill, dtype=np.asarray(values).dtype)
        cells[at[0][chosen], at[1][chosen]] = np.asarray(values)[chosen] if np.ndim(values) else values
        return pd.DataFrame(cells, index=close.index, columns=close.columns)

    token, side = on_bars["token"].to_numpy(), on_bars["side"].to_numpy()
    signals = {name: grid((token == t) & (side == s), True, False) for t, s, name in (
        ("YES", "BUY", "entries"), ("YES", "SELL", "exits"), ("NO", "BUY", "short_entries"), ("NO", "SELL", "short_exits"))}
    size = grid(side == "BUY", on_bars["shares"].to_numpy(), np.nan)
    fee_rate = np.array([markets[m].fee_rate * markets[m].fees_enabled for m in close.columns])
    costs = settings.costs
    kwargs = dict(close=close, **signals, size=size.ffill().fillna(0.0), size_type="amount",
                  fees=fee_rate * (1 - close), slippage=(costs.half_spread + costs.slippage) / close,
                  init_cash=settings.risk.starting_cash, cash_sharing=True, group_by=True, freq="1min")
    vbt.Portfolio.from_signals(**kwargs)  # compiles vectorbt's own functions
    portfolio, seconds = timed(lambda: vbt.Portfolio.from_signals(**kwargs), REPEATS)
    return seconds, int(portfolio.orders.count().sum())


def walk_forward(n_rows: int, seed: int = 11) -> tuple[float, int, int, int]:
    """Seconds of search_params (param_search off: the default parameters over the default folds, early
    stopping in each) plus the final fit, xgboost, on `n_rows` synthetic training rows; rows, labelled rows, folds."""
    from models.features import FEATURE_COLUMNS
    from models.labels import labelled
    from models.train import BoostedTrees, search_params, split_test, walk_forward_folds
    from sentitrade.settings import ResearchSettings, Settings

    settings, research = Settings(), ResearchSettings(param_search="off")
    rng = np.random.default_rng(seed)
    days = settings.holdout_days + research.folds * research.validation_days + 3
    ts = pd.date_range("2026-10-01", periods=n_rows // MARKETS, freq=pd.Timedelta(days=days) / (n_rows // MARKETS))
    rows = pd.DataFrame(rng.normal(size=(n_rows, len(FEATURE_COLUMNS))), columns=FEATURE_COLUMNS)
    rows["price"] = rng.uniform(0.05, 0.95, n_rows)
    rows = rows.assign(market=np.repeat([f"m{k:02d}" for k in range(MARKETS)], n_rows // MARKETS),
                       ts=np.tile(ts, MARKETS), fwd_move=0.01 * rows["sent_mean_1h"] + rng.normal(0, 0.03, n_rows))
    rows["price_fwd_ts"] = rows["ts"] + timedelta(minutes=30)
    embargo = timedelta(minutes=research.embargo_minutes)
    start = time.perf_counter()
    development = labelled(split_test(rows, settings.holdout_days, embargo)[0], 0.014, research.dead_zone)
    folds = walk_forward_folds(development, research.folds, research.validation_days, embargo)
    search = search_params("xgboost", development, folds, research)
    BoostedTrees("xgboost", early_stopping_rounds=research.early_stopping_rounds, embargo=embargo,
                 **search.params).fit(development)
    return time.perf_counter() - start, n_rows, len(development), len(folds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bars", type=int, default=1_000_000, help="Across the 20 markets.")
    parser.add_argument("--python-bars", type=int, default=50_000, help="The slice the Python engine runs.")
    parser.add_argument("--check-bars", type=int, default=20_000, help="The slice both engines run to compare.")
    parser.add_argument("--training-rows", type=int, default=1_000_000, help="For the walk-forward (0: skip it).")
    args = parser.parse_args()
    for name in [n for n in os.environ if n.startswith("SENTITRADE_")]:
        os.environ.pop(name)  # the figures must not depend on a local .env or environment

    from models.backtest import run_backtest
    from models.compiled import compiled_backtest, prepare, run_prepared

    settings = settings_with_every_rule()
    frame, markets, resolutions = bars(args.bars)
    check, check_res = slice_of(frame, resolutions, args.check_bars)
    _, compile_s = timed(lambda: compiled_backtest(check, markets, settings, resolutions=check_res))
    inputs, prepare_s = timed(lambda: prepare(frame, markets, resolutions=resolutions))
    compiled, compiled_s = timed(lambda: run_prepared(inputs, settings), REPEATS)
    _, metrics_s = timed(lambda: compiled.metrics)
    python_slice, python_res = slice_of(frame, resolutions, args.python_bars)
    _, python_s = timed(lambda: run_backtest(python_slice, markets, settings, resolutions=python_res))
    expected = run_backtest(check, markets, settings, resolutions=check_res)
    got = compiled_backtest(check, markets, settings, resolutions=check_res)
    equity_diff = float(np.abs(expected.equity.to_numpy() - got.equity.to_numpy()).max())
    fills_equal = len(expected.fills) == len(got.fills)
    vectorbt_s, vectorbt_orders = vectorbt_run(frame, compiled.fills, markets, settings)
    skipped = (float("nan"), 0, 0, 0)
    walk_s, walk_rows, walk_labelled, walk_folds = walk_forward(args.training_rows) if args.training_rows else skipped

    m = compiled.metrics
    figures = {
        "bars": len(frame), "markets": MARKETS,
        "compiled_s": compiled_s, "compiled_bars_per_s": len(frame) / compiled_s, "compiled_compile_s": compile_s,
        "compiled_prepare_s": prepare_s, "compiled_metrics_s": metrics_s,
        "compiled_end_to_end_bars_per_s": len(frame) / (prepare_s + compiled_s + metrics_s),
        "compiled_fills": len(compiled.fills), "compiled_total_return": m["total_return"],
        "python_bars": len(python_slice), "python_s": python_s, "python_bars_per_s": len(python_slice) / python_s,
        "vectorbt_s": vectorbt_s, "vectorbt_bars_per_s": len(frame) / vectorbt_s, "vectorbt_orders": vectorbt_orders,
        "check_bars": len(check), "check_max_equity_diff_usdc": equity_diff, "check_same_fill_count": fills_equal,
        "walk_forward_s": walk_s, "walk_forward_rows": walk_rows, "walk_forward_labelled_rows": walk_labelled,
        "walk_forward_folds": walk_folds,
    }
    figures["compiled_vs_vectorbt_ratio"] = figures["compiled_bars_per_s"] / figures["vectorbt_bars_per_s"]
    figures["compiled_vs_python_ratio"] = figures["compiled_bars_per_s"] / figures["python_bars_per_s"]

    print(f"Backtest speed: {len(frame):,} bars across {MARKETS} markets, every rule on")
    print(f"  {'engine':<34}{'bars':>11}{'seconds':>10}{'bars/s':>13}")
    print(f"  {'compiled (numba), warm':<34}{len(frame):>11,}{compiled_s:>10.3f}{figures['compiled_bars_per_s']:>13,.0f}")
    end_to_end = prepare_s + compiled_s + metrics_s
    print(f"  {'  + prepare inputs + metrics':<34}{len(frame):>11,}{end_to_end:>10.3f}"
          f"{figures['compiled_end_to_end_bars_per_s']:>13,.0f}")
    print(f"  {'python run_backtest (a slice)':<34}{len(python_slice):>11,}{python_s:>10.2f}{figures['python_bars_per_s']:>13,.0f}")
    print(f"  {'vectorbt from_signals, warm':<34}{len(frame):>11,}{vectorbt_s:>10.3f}{figures['vectorbt_bars_per_s']:>13,.0f}")
    print(f"  warm runs: the fastest of {REPEATS} each; inputs prepared once ({prepare_s:.3f} s: a sweep reuses them, "
          f"as vectorbt's wide frames are built before its timer), metrics {metrics_s:.3f} s")
    print(f"  compiled: first call {compile_s:.1f} s (numba compiling), {len(compiled.fills):,} fills, "
          f"return {m['total_return']:+.2%}; vectorbt placed {vectorbt_orders:,} orders on its signals, no rules")
    print(f"  compiled / vectorbt {figures['compiled_vs_vectorbt_ratio']:.2f}x, compiled / python "
          f"{figures['compiled_vs_python_ratio']:,.0f}x (targets: >= 1x vectorbt, >= 1,000,000 bars/s)")
    print(f"  check on {len(check):,} bars: max |compiled - python| equity {equity_diff:.2e} USDC, "
          f"same fill count: {fills_equal}")
    print(f"Nested walk-forward (xgboost, param_search off, {walk_folds} folds + final fit): "
          f"{walk_rows:,} rows ({walk_labelled:,} labelled for training) in {walk_s:.1f} s")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
