"""A market's life in the one engine: fills after latency, the book walked, marks at the bid, no clamp to a
better price than the book, the end of trading, settlement at the resolution, and the cost sensitivity."""

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from models.backtest import cost_sensitivity, run_backtest
from models.costs import Book
from models.engine import Fill, Order, PaperExchange, TradingEngine
from tests.trading.conftest import engine_for

T0 = datetime(2025, 1, 1, tzinfo=UTC)
H = timedelta(hours=1)
RECORDED_BOOK = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "polymarket-fixtures" / "clob-book" / (
    "nautilus-py__book.json")


@pytest.fixture
def book() -> Book:
    return Book.from_clob(json.loads(RECORDED_BOOK.read_text()))


def rows(*items: tuple) -> pd.DataFrame:
    """Backtest rows (market, ts, p_up, price)."""
    return pd.DataFrame([{"market": m, "ts": ts, "p_up": p, "n_tweets_1h": 50, "price": price}
                         for m, ts, p, price in items])


# --- settlement and the end of trading ------------------------------------------------------------------------------

def test_settlement_pays_one_a_winning_share_and_zero_a_losing_one_then_the_market_trades_no_more(settings, make_market):
    engine = engine_for(settings, make_market("won"), make_market("lost"))
    engine.on_decision(T0, "won", 0.9, 50, 0.50)  # 392.15 YES at 0.51
    engine.on_decision(T0, "lost", 0.1, 50, 0.50)  # NO
    cash, lost_shares = engine.portfolio.cash, engine.portfolio.positions["lost"].shares
    assert engine.settle(T0 + H, "won", "YES") == [Fill(T0 + H, "won", "YES", "won-yes", "SELL", 392.15, 1.0, 0.0)]
    assert engine.settle(T0 + H, "lost", "YES") == [Fill(T0 + H, "lost", "NO", "lost-no", "SELL", lost_shares, 0.0, 0.0)]
    assert engine.portfolio.positions == {} and engine.portfolio.cash == pytest.approx(cash + 392.15)
    later = engine.on_decision(T0 + 2 * H, "won", 0.9, 50, 0.50)
    assert later.orders == [] and "market resolved YES: trades no more" in later.decision.reason
    restored = engine_for(settings, make_market("won"), make_market("lost"))
    restored.restore(json.loads(json.dumps(engine.snapshot())))
    assert restored.on_decision(T0 + 2 * H, "won", 0.9, 50, 0.50).orders == []  # the resolution survives a restart


def test_backtest_settles_at_the_first_step_after_the_resolution_and_at_the_end_of_the_data(settings, make_market):
    frame = rows(("a", T0, 0.9, 0.50), ("b", T0, 0.9, 0.50), ("a", T0 + H, 0.9, 0.70), ("b", T0 + H, 0.9, 0.30),
                 ("a", T0 + 2 * H, 0.9, 0.99), ("b", T0 + 2 * H, 0.9, 0.01))
    later = pd.DataFrame({"market": ["b"], "ts": [T0 + 5 * H], "price": [0.01]})  # the data runs on past b's rows
    resolutions = pd.DataFrame({"market": ["a", "b"], "resolved_at": [T0 + 1.5 * H, T0 + 4 * H],
                                "outcome": ["YES", "NO"]})
    result = run_backtest(frame, {"a": make_market("a"), "b": make_market("b")}, settings,
                          prices=pd.concat([frame[["market", "ts", "price"]], later]), resolutions=resolutions)
    sells = result.fills[result.fills["side"] == "SELL"]
    buys = result.fills[result.fills["side"] == "BUY"]
    assert list(zip(sells["market"], sells["ts"], sells["price"], sells["fee"], strict=True)) == [
        ("a", T0 + 2 * H, 1.0, 0.0), ("b", T0 + 4 * H, 0.0, 0.0)]
    assert sells["shares"].tolist() == buys["shares"].tolist()  # bought at the next hour, all paid out
    assert "market resolved YES" in result.decisions["reason"].iloc[4]
    expected = 1000 - (buys["shares"] * buys["price"]).sum() + sells["shares"].iloc[0]
    assert result.metrics["final_equity"] == pytest.approx(expected)


def test_a_market_past_its_end_sends_no_order_and_its_position_waits_for_the_resolution(settings, make_market):
    engine = engine_for(settings, make_market(end=T0 + H))
    engine.on_decision(T0, "m", 0.9, 50, 0.50)
    after = engine.on_decision(T0 + H, "m", 0.1, 50, 0.50)  # the model reverses, but the market is over
    assert after.orders == [] and "market ended" in after.decision.reason
    assert engine.close_all(T0 + H, "halt") == ([], []) and engine.portfolio.positions["m"].shares == 392.15
    assert [f.price for f in engine.settle(T0 + 2 * H, "m", "YES")] == [1.0]


# --- fills at the next observed price after the latency -------------------------------------------------------------

def test_backtest_fills_at_the_first_price_observed_a_latency_later_and_not_without_one(settings, make_market):
    frame = rows(("m", T0, 0.9, 0.50))
    observed = pd.DataFrame({"market": "m", "ts": [T0, T0 + timedelta(seconds=0.5), T0 + timedelta(seconds=2)],
                             "price": [0.50, 0.40, 0.45]})
    result = run_backtest(frame, {"m": make_market()}, settings, prices=observed)
    buy = result.fills.iloc[0]
    # latency 1 s: not the decision's 0.50, not 0.40 half a second later, but 0.45 two seconds later (ask 0.46)
    assert (buy["side"], buy["ts"], buy["price"]) == ("BUY", T0 + timedelta(seconds=2), pytest.approx(0.46))
    assert buy["shares"] == 392.15  # the same shares, cheaper than planned
    alone = run_backtest(frame, {"m": make_market()}, settings)  # no later price at all
    assert alone.fills.empty and "not filled" in alone.decisions["reason"].iloc[0]


def test_a_buy_after_a_rise_spends_no_more_than_it_planned(settings, make_market):
    frame = rows(("m", T0, 0.9, 0.50), ("m", T0 + H, 0.9, 0.60))
    result = run_backtest(frame, {"m": make_market()}, settings)
    buy = result.fills.iloc[0]
    assert (buy["ts"], buy["price"]) == (T0 + H, 0.61)
    assert buy["shares"] * buy["price"] <= 392.15 * 0.51 and buy["shares"] == 327.86


# --- the book walked for the order's size ---------------------------------------------------------------------------

def test_an_open_walks_the_recorded_book_and_a_lower_limit_fills_in_part(settings, make_market, book):
    markets = {"m": make_market()}
    exchange = PaperExchange(markets, settings.costs, books={"m": book})
    engine = TradingEngine(markets, settings, exchange, quotes=exchange.quotes)
    fill = engine.on_decision(T0, "m", 0.9, 50, 0.12).fills[0]
    # 200 USDC from 705 at 0.14 through 0.20, 0.38, 0.46 to 20.48 at 0.47: an average of 0.2004, not the touch
    assert (fill.shares, round(fill.price, 4)) == (997.78, 0.2004)
    assert fill.shares * fill.price == pytest.approx(200, abs=0.01)
    assert engine.mark(T0, {}) == pytest.approx(engine.portfolio.cash + 997.78 * 0.10)  # at the best bid
    partial = exchange.execute(Order(T0, "m", "YES", "m-yes", "BUY", 997.78, 0.20, "open"), 0.12)
    assert partial.shares == 775.0  # 705 + 70: the rest is above the limit
    no = exchange.execute(Order(T0, "m", "NO", "m-no", "BUY", 200.0, 0.95, "open"), 0.12)
    assert no.price == pytest.approx((125 * 0.90 + 75 * 0.91) / 200)  # NO asks are 1 − the YES bids


def test_backtest_walks_a_recorded_book_where_one_is_given(settings, make_market, book):
    frame = rows(("m", T0, 0.9, 0.12), ("m", T0 + H, 0.9, 0.12), ("n", T0, 0.9, 0.12), ("n", T0 + H, 0.9, 0.12))
    result = run_backtest(frame, {"m": make_market("m"), "n": make_market("n")}, settings, books={"m": book})
    buys = result.fills[result.fills["side"] == "BUY"].set_index("market")
    assert round(buys.loc["m", "price"], 4) == 0.2004
    assert 0.13 < buys.loc["n", "price"] < 0.15 and buys.loc["n", "shares"] > 1000  # n walks the model's 500s


# --- no clamp to a better price than the book; marks at the bid ----------------------------------------------------

def test_a_sell_near_zero_is_not_clamped_up_to_the_tick(settings, make_market):
    engine = engine_for(settings, make_market())
    engine.on_decision(T0, "m", 0.9, 50, 0.50)
    cash = engine.portfolio.cash
    stuck = engine.on_decision(T0 + H, "m", 0.1, 50, 0.004)  # bid 0.004 − 0.007 < 0: none
    assert stuck.orders == [] and "no bid, held until the market resolves" in stuck.decision.reason
    assert engine.portfolio.cash == cash and engine.portfolio.positions["m"].shares == 392.15
    assert engine.mark(T0 + H, {}) == cash  # worth nothing at a bid of 0
    sold = engine.on_decision(T0 + 2 * H, "m", 0.1, 50, 0.02)  # 0.013 snaps down to the 0.01 bid
    assert [(f.side, f.price) for f in sold.fills][0] == ("SELL", 0.01)


def test_equity_marks_at_the_bid_not_the_mid(settings, make_market):
    engine = engine_for(settings, make_market())
    engine.on_decision(T0, "m", 0.9, 50, 0.50)
    assert engine.mark(T0 + H, {"m": 0.60}) == pytest.approx(800.0035 + 392.15 * 0.595)
    assert engine.exposure_curve[-1] == (T0 + H, pytest.approx(392.15 * 0.595))


# --- every cost scaled ------------------------------------------------------------------------------------------------

def test_cost_sensitivity_is_monotone_on_a_model_that_loses_to_costs(settings, make_market):
    """Prices that never move and a model that flips every hour: every round trip pays its costs and nothing else."""
    hours = pd.date_range("2025-01-01", periods=48, freq="h", tz="UTC")
    flips = np.resize([0.9, 0.1], len(hours))
    parts = [pd.DataFrame({"market": market, "ts": hours, "p_up": flips, "n_tweets_1h": 50, "price": price})
             for market, price in (("a", 0.50), ("b", 0.30))]
    markets = {"a": make_market("a", fees_enabled=True, fee_rate=0.04), "b": make_market("b")}
    table = cost_sensitivity(pd.concat(parts, ignore_index=True), markets, settings)
    assert list(table.columns) == ["scale", "total_return", "n_fills", "fees_paid", "final_equity"]
    assert table["scale"].tolist() == [0.0, 1.0, 2.0]
    returns = table["total_return"].tolist()
    assert returns[0] == pytest.approx(0.0, abs=1e-12) and returns[0] > returns[1] > returns[2]
    assert table["fees_paid"].iloc[0] == 0.0 and table["fees_paid"].iloc[1] > 0
    assert table["final_equity"].tolist() == pytest.approx([1000 * (1 + r) for r in returns])
