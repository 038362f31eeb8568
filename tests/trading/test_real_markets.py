"""The engine's books against an independent count on real resolved Polymarket markets (Pancake daily bars).

Holding YES from the first bar to the resolution, what a backtest makes must be exactly the payoff, 1 or 0
a share held, less what the shares cost and their fees: settlement pays the winners in full, nothing is
sold at a last bar's bid, and nothing fills at a decision's own price.
"""

from pathlib import Path

import pandas as pd
import pytest

from connectors.pancake import load_daily_bars
from models.backtest import run_backtest
from models.costs import taker_fee
from models.engine import MarketInfo
from sentitrade.settings import CostSettings, RiskSettings
from tests.trading.conftest import CORE_RISK

PANCAKE = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "polymarket" / "pancake-polymarket-history"
FEE_RATE = 0.02  # these 2024 markets charged no taker fee: one is charged here so that fees are counted too
N_MARKETS = 24


@pytest.fixture(scope="module")
def bars():
    if not PANCAKE.exists():
        pytest.skip(f"no Pancake daily bars at {PANCAKE}")
    return load_daily_bars(PANCAKE)


def resolved_markets(bars) -> pd.DataFrame:
    """Markets resolved before the data ends, with at least three bars before the resolution and a first
    price inside [0.1, 0.9] (so each stake is a few hundred shares, inside one level of modelled depth);
    the first N_MARKETS by id, winners and losers alike."""
    first = bars.prices.groupby("market").agg(first_ts=("ts", "min"), first_price=("price", "first"))
    res = bars.resolutions.set_index("market").join(first, how="inner")
    before = bars.prices.merge(res["resolved_at"].reset_index(), on="market").query("ts < resolved_at")
    res = res.join(before.groupby("market").size().rename("n_before"), how="inner")
    keep = (res["resolved_at"] <= bars.prices["ts"].max()) & (res["n_before"] >= 3) & res["first_price"].between(0.1, 0.9)
    return res[keep].sort_index().head(N_MARKETS)


def test_loader_reads_yes_closes_resolutions_and_token_ids(bars):
    assert bars.prices["market"].nunique() == len(bars.markets) > 1000
    assert bars.prices["price"].between(0, 1).all() and str(bars.prices["ts"].dt.tz) == "UTC"
    assert set(bars.resolutions["outcome"]) == {"YES", "NO"} and bars.resolutions["market"].is_unique
    info = MarketInfo.by_name(bars.markets)
    assert all(m.yes_token_id.isdigit() and m.no_token_id.isdigit() and m.yes_token_id != m.no_token_id
               for m in info.values())


def test_holding_yes_to_resolution_makes_exactly_the_payoff_less_cost_and_fees(bars, make_settings):
    chosen = resolved_markets(bars)
    assert len(chosen) == N_MARKETS and 0 < (chosen["outcome"] == "YES").sum() < N_MARKETS
    prices = bars.prices  # every market's: the data runs on after the chosen ones' last bars
    rows = prices.merge(chosen["resolved_at"].reset_index(), on="market").query("ts < resolved_at")
    frame = rows[["market", "ts", "price"]].assign(p_up=0.99, n_tweets_1h=0)  # buy YES at the first bar, hold
    markets = {m.market: MarketInfo(m.market, m.yes_token_id, m.no_token_id, fees_enabled=True, fee_rate=FEE_RATE)
               for m in MarketInfo.by_name(bars.markets).values() if m.market in chosen.index}
    settings = make_settings(strategy={"min_tweets": 0, "min_price": 0.0, "max_price": 1.0})
    settings.costs = CostSettings(half_spread=0.005, slippage=0.002, latency_s=1.0, depth_shares=500)
    settings.risk = RiskSettings(**{**CORE_RISK, "kelly_fraction": 1.0, "max_position_fraction": 1 / (N_MARKETS + 6),
                                    "max_drawdown": 0.99})  # wide caps, no halt, stale guards off (daily bars)
    resolutions = chosen[["resolved_at", "outcome"]].reset_index()
    result = run_backtest(frame, markets, settings, prices=prices, resolutions=resolutions)

    fills = result.fills
    buys, sells = fills[fills["side"] == "BUY"], fills[fills["side"] == "SELL"]
    assert set(buys["market"]) == set(chosen.index)  # every market got a stake
    first_bar = frame.groupby("market")["ts"].min()
    assert (buys["ts"].to_numpy() > first_bar.loc[buys["market"]].to_numpy()).all()  # never at the decision's bar
    # every sale is the settlement: all the shares held, at 1 for a YES win and 0 for a loss, no fee
    held = buys.groupby("market")["shares"].sum()
    assert sells["market"].is_unique and set(sells["market"]) == set(chosen.index)
    settled = sells.set_index("market")
    assert settled["shares"].to_dict() == pytest.approx(held.to_dict(), abs=1e-9)
    assert (settled["price"] == (chosen.loc[settled.index, "outcome"] == "YES").astype(float)).all()
    assert (settled["fee"] == 0).all() and (settled["ts"] >= chosen.loc[settled.index, "resolved_at"]).all()

    # each buy took one level of the modelled depth: on the tick, its fee the exchange's formula at that price
    assert (buys["price"] * 100 - (buys["price"] * 100).round()).abs().max() < 1e-9
    fees = [taker_fee(s, p, FEE_RATE) for s, p in zip(buys["shares"], buys["price"], strict=True)]
    assert buys["fee"].to_numpy() == pytest.approx(fees, abs=1e-12) and sum(fees) > 0
    payoff = sum(held[m] * (chosen.loc[m, "outcome"] == "YES") for m in held.index)
    cost = float((buys["shares"] * buys["price"]).sum())
    assert result.metrics["final_equity"] - 1000.0 == pytest.approx(payoff - cost - sum(fees), abs=1e-9)
    assert result.exposure.iloc[-1] == 0.0  # nothing left to sell at a last bar's bid
