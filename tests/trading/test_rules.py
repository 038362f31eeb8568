"""Each risk rule on its own, through `TradingEngine` and through `run_backtest` (the trader runs the former)."""

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from models.backtest import run_backtest
from models.engine import PaperExchange, TradingEngine
from tests.trading.conftest import engine_for

T0 = datetime(2025, 1, 1, 12, tzinfo=UTC)
H = timedelta(hours=1)
S = timedelta(seconds=1)  # the backtest's latency: an order fills at the price observed a second later


def frame(*rows: tuple, **columns) -> pd.DataFrame:
    """Backtest rows (market, hours after T0, p_up, price[, n_tweets]); `columns` adds per-row columns."""
    records = [{"market": m, "ts": T0 + h * H, "p_up": p, "price": price, "n_tweets_1h": rest[0] if rest else 50}
               for m, h, p, price, *rest in rows]
    return pd.DataFrame(records).assign(**columns)


def backtest(rows: pd.DataFrame, markets, settings):
    """The backtest with every price observed again, unchanged, a latency later: each rule's own numbers
    stay those of the engine test beside it, while orders still fill only after the decision."""
    later = rows[["market", "ts", "price"]].assign(ts=rows["ts"] + S)
    return run_backtest(rows, markets, settings, prices=pd.concat([rows[["market", "ts", "price"]], later]))


def trades(result) -> list[tuple]:
    return list(zip(result.fills["market"], result.fills["side"], result.fills["token"], result.fills["shares"],
                    strict=True))


def reasons(result, market: str) -> list[str]:
    return list(result.decisions.loc[result.decisions["market"] == market, "reason"])


@pytest.fixture
def markets(make_market):
    return {m: make_market(m) for m in "abc"} | {"fee": make_market("fee", fees_enabled=True, fee_rate=0.04)}


# --- 1. Kelly on the return net of costs ---------------------------------------------------------------------------

def test_engine_sizes_kelly_net_of_costs_and_skips_when_fees_eat_the_edge(settings, markets):
    engine = engine_for(settings, *markets.values())
    step = engine.on_decision(T0, "a", 0.66, 50, 0.50)
    # q 0.66, entry 0.51, cost 2 × 0.007: 0.25 × 0.51 × (0.66 / 0.064 − 0.34 / 0.036) × 1000 = 110.68 USDC
    assert [(f.side, f.shares, f.price) for f in step.fills] == [("BUY", 217.01, 0.51)]
    assert "kelly 0.111 of equity on net return +0.39%/$" in step.decision.reason
    # the same view on a fee market: 2 × 0.04 × 0.51 × 0.49 more per share turns the net return negative
    skipped = engine.on_decision(T0, "fee", 0.66, 50, 0.50)
    assert skipped.orders == [] and "fee" not in engine.portfolio.positions
    assert "net return -3.53%/$ after costs 0.034/share: no stake" in skipped.decision.reason


def test_backtest_sizes_kelly_net_of_costs(settings, markets):
    result = backtest(frame(("a", 0, 0.66, 0.50), ("fee", 0, 0.66, 0.50), ("a", 1, 0.5, 0.50)), markets, settings)
    assert trades(result) == [("a", "BUY", "YES", 217.01), ("a", "SELL", "YES", 217.01)]
    assert "no stake" in reasons(result, "fee")[0]


# --- 2. Total exposure cap -----------------------------------------------------------------------------------------

def test_engine_shrinks_an_open_to_the_total_exposure_cap_then_skips(make_settings, markets):
    engine = engine_for(make_settings(max_total_exposure=0.3), *markets.values())
    engine.on_decision(T0, "a", 0.9, 50, 0.50)  # 392.15 YES, 196.08 at mid
    shrunk = engine.on_decision(T0, "b", 0.9, 50, 0.50)
    # exposure at the bid: 392.15 × 0.495 = 194.11; room 0.3 × 994.12 − 194.11 = 104.12 USDC instead of the
    # 198.82 per-market cap
    assert [f.shares for f in shrunk.fills] == [204.15]
    assert "total exposure 194.11 of cap 30% × 994.12: stake 198.82 -> 104.12" in shrunk.decision.reason
    engine.mark(T0 + H, {"a": 0.60})  # a's rise pushes exposure past the cap
    skipped = engine.on_decision(T0 + H, "c", 0.9, 50, 0.50)
    assert skipped.orders == [] and "total exposure 334.38 of cap 30% × 1030.27: stake 206.05 -> 0.00" in (
        skipped.decision.reason)
    assert {m: p.shares for m, p in engine.portfolio.positions.items()} == {"a": 392.15, "b": 204.15}  # kept


def test_backtest_applies_the_total_exposure_cap(make_settings, markets):
    rows = frame(("a", 0, 0.9, 0.50), ("b", 0, 0.9, 0.50), ("c", 0, 0.9, 0.50))
    result = backtest(rows, markets, make_settings(max_total_exposure=0.3))
    assert trades(result)[:2] == [("a", "BUY", "YES", 392.15), ("b", "BUY", "YES", 204.15)]
    assert "c" not in set(result.fills["market"])
    assert "-> 2.15; open BUY 4.21 YES not sent: below min order size 5" in reasons(result, "c")[0]


# --- 3. Daily loss limit -------------------------------------------------------------------------------------------

def test_engine_stops_new_positions_for_the_rest_of_the_day(make_settings, markets):
    engine = engine_for(make_settings(daily_loss_limit=0.05), *markets.values())
    engine.on_decision(T0, "a", 0.9, 50, 0.50)
    held = engine.on_decision(T0 + H, "a", 0.9, 50, 0.36)  # equity 941.18, more than 5% below 1000
    assert held.orders == [] and engine.portfolio.positions["a"].shares == 392.15  # held, not closed
    assert "no new position: day's loss past 5% of its start 1000.00; hold 392.15 YES" in held.decision.reason
    blocked = engine.on_decision(T0 + 11 * H, "b", 0.9, 50, 0.50)  # 23:00 UTC, same day
    assert blocked.orders == [] and "day's loss past 5%" in blocked.decision.reason
    next_day = engine.on_decision(T0 + 12 * H, "b", 0.9, 50, 0.50)  # 00:00 UTC
    assert [(o.side, o.token, o.reason) for o in next_day.orders] == [("BUY", "YES", "open")]


def test_backtest_stops_new_positions_for_the_rest_of_the_day(make_settings, markets):
    rows = frame(("a", 0, 0.9, 0.50), ("a", 1, 0.9, 0.36), ("b", 1, 0.9, 0.50), ("b", 11, 0.9, 0.50),
                 ("b", 12, 0.9, 0.50))
    result = backtest(rows, markets, make_settings(daily_loss_limit=0.05))
    opens = result.fills[result.fills["side"] == "BUY"]
    assert list(zip(opens["market"], opens["ts"], strict=True)) == [("a", T0 + S), ("b", T0 + 12 * H + S)]
    assert all("day's loss past 5%" in r for r in reasons(result, "b")[:2])


# --- 4. Drawdown: reduce, then halt (the halt itself: test_engine / test_backtest) -------------------------------

def test_engine_reduces_stakes_past_part_of_the_max_drawdown(make_settings, markets):
    engine = engine_for(make_settings(drawdown_reduce_at=0.5, drawdown_reduce_factor=0.5), *markets.values())
    engine.on_decision(T0, "a", 0.9, 50, 0.50)
    engine.on_decision(T0 + H, "a", 0.9, 50, 0.24)  # equity 892.16 at the 0.235 bid: 10.8% below the peak
    step = engine.on_decision(T0 + H, "b", 0.9, 50, 0.50)
    assert [f.shares for f in step.fills] == [174.93]  # 0.5 × 0.2 × 892.16 / 0.51, half the usual
    assert "drawdown 10.8% >= 10.0%: stake × 0.5" in step.decision.reason
    assert not engine.risk.halted and engine.portfolio.positions["a"].shares == 392.15


def test_backtest_reduces_stakes_past_part_of_the_max_drawdown(make_settings, markets):
    rows = frame(("a", 0, 0.9, 0.50), ("a", 1, 0.9, 0.24), ("b", 1, 0.9, 0.50))
    reduced = backtest(rows, markets, make_settings(drawdown_reduce_at=0.5, drawdown_reduce_factor=0.5))
    full = backtest(rows, markets, make_settings())
    assert [s for m, side, _, s in trades(reduced) if m == "b" and side == "BUY"] == [174.93]
    assert [s for m, side, _, s in trades(full) if m == "b" and side == "BUY"] == [349.86]


# --- 5. Stop-loss and take-profit ----------------------------------------------------------------------------------

def test_engine_stop_loss_and_take_profit_force_exits(make_settings, markets):
    engine = engine_for(make_settings(stop_loss=0.2, take_profit=0.3), *markets.values())
    engine.on_decision(T0, "a", 0.9, 50, 0.50)  # YES at 0.51: stop at mid 0.408, take profit at 0.663
    assert engine.on_decision(T0 + H, "a", 0.9, 50, 0.42).orders == []
    stopped = engine.on_decision(T0 + 2 * H, "a", 0.9, 50, 0.40)
    assert [(o.side, o.shares, o.reason) for o in stopped.orders] == [("SELL", 392.15, "stop-loss")]
    assert "stop-loss: mid 0.4 <= avg cost 0.51 × (1 − 0.2)" in stopped.decision.reason
    assert "a" not in engine.portfolio.positions and stopped.decision.target_token is None  # no re-entry yet
    assert [o.reason for o in engine.on_decision(T0 + 3 * H, "a", 0.9, 50, 0.40).orders] == ["open"]

    engine.on_decision(T0, "b", 0.1, 50, 0.50)  # NO at 0.51, marked at 1 − the YES mid
    taken = engine.on_decision(T0 + H, "b", 0.1, 50, 0.33)
    assert [(o.side, o.token, o.reason) for o in taken.orders] == [("SELL", "NO", "take-profit")]
    assert "take-profit: mid 0.67 >= avg cost 0.51 × (1 + 0.3)" in taken.decision.reason


def test_backtest_stop_loss_and_take_profit_force_exits(make_settings, markets):
    rows = frame(("a", 0, 0.9, 0.50), ("a", 1, 0.9, 0.40), ("b", 0, 0.1, 0.50), ("b", 1, 0.1, 0.33))
    result = backtest(rows, markets, make_settings(stop_loss=0.2, take_profit=0.3))
    exits = result.fills[result.fills["ts"] == T0 + H + S]
    assert list(zip(exits["market"], exits["side"], exits["price"], strict=True)) == [("a", "SELL", 0.39),
                                                                                      ("b", "SELL", 0.66)]
    assert "stop-loss" in reasons(result, "a")[1] and "take-profit" in reasons(result, "b")[1]
    assert len(result.fills) == 4  # nothing left for the end of the backtest to close


# --- 6. Stale-data guard -------------------------------------------------------------------------------------------

def test_engine_opens_nothing_on_stale_tweets_or_prices(make_settings, markets):
    engine = engine_for(make_settings(max_tweet_age_s=600, max_price_age_s=300), *markets.values())
    stale = engine.on_decision(T0, "a", 0.9, 50, 0.50, last_tweet_at=T0 - timedelta(seconds=601),
                               last_price_at=T0 - timedelta(seconds=30))
    assert stale.orders == [] and "no new position: newest tweet 601s old > 600s" in stale.decision.reason
    fresh = engine.on_decision(T0, "a", 0.9, 50, 0.50, last_tweet_at=T0 - timedelta(seconds=60),
                               last_price_at=T0 - timedelta(seconds=30))
    assert [o.reason for o in fresh.orders] == ["open"]
    kept = engine.on_decision(T0 + H, "a", 0.9, 50, 0.50, last_price_at=T0)  # an hour-old price
    assert kept.orders == [] and "newest price 3600s old > 300s" in kept.decision.reason
    assert engine.portfolio.positions["a"].shares == 392.15
    assert [o.reason for o in engine.on_decision(T0, "b", 0.9, 50, 0.50).orders] == ["open"]  # None: unchecked


def test_backtest_reads_the_optional_freshness_columns(make_settings, markets):
    rows = frame(("a", 0, 0.9, 0.50), ("b", 0, 0.9, 0.50), ("c", 0, 0.9, 0.50),
                 last_tweet_at=[T0 - timedelta(hours=2), T0, pd.NaT], last_price_at=T0)
    result = backtest(rows, markets, make_settings(max_tweet_age_s=600, max_price_age_s=300))
    assert sorted(set(result.fills["market"])) == ["b", "c"]  # NaT: not checked
    assert "newest tweet 7200s old > 600s" in reasons(result, "a")[0]


# --- 7. Rules that only block entries never close a held position -------------------------------------------------

@pytest.mark.parametrize(("n_tweets", "mid_yes", "why"), [(3, 0.50, "3 tweets < min 10"),
                                                          (50, 0.97, "price 0.97 outside [0.05, 0.95]")])
def test_engine_tweet_floor_and_price_band_keep_a_held_position(settings, markets, n_tweets, mid_yes, why):
    engine = engine_for(settings, *markets.values())
    engine.on_decision(T0, "a", 0.9, 50, 0.50)
    step = engine.on_decision(T0 + H, "a", 0.7, n_tweets, mid_yes)
    assert step.orders == [] and step.decision.target_token == "YES"
    assert f"no new position: {why}; hold 392.15 YES" in step.decision.reason
    assert engine.portfolio.positions["a"].shares == 392.15


def test_engine_blocked_flip_closes_on_the_reversal_but_opens_nothing(settings, markets):
    engine = engine_for(settings, *markets.values())
    engine.on_decision(T0, "a", 0.9, 50, 0.50)
    step = engine.on_decision(T0 + H, "a", 0.1, 3, 0.50)  # the model reverses on too few tweets
    assert [(o.side, o.token, o.reason) for o in step.orders] == [("SELL", "YES", "close")]
    assert engine.portfolio.positions == {}
    kept = engine_for(settings, *markets.values())
    kept.on_decision(T0, "a", 0.9, 50, 0.50)
    assert kept.on_decision(T0 + H, "a", float("nan"), 50, 0.50).orders == []  # no prediction: keep
    assert kept.portfolio.positions["a"].shares == 392.15


def test_backtest_tweet_floor_and_price_band_keep_a_held_position(settings, markets):
    rows = frame(("a", 0, 0.9, 0.50), ("a", 1, 0.7, 0.50, 3), ("a", 2, 0.7, 0.97), ("a", 3, 0.7, 0.60))
    result = backtest(rows, markets, settings)
    # held through both blocks, closed only by the end of the backtest at 0.59
    assert list(zip(result.fills["side"], result.fills["ts"], result.fills["price"], strict=True)) == [
        ("BUY", T0 + S, 0.51), ("SELL", T0 + 3 * H, 0.59)]
    assert result.equity.iloc[2] == pytest.approx(800.0035 + 392.15 * 0.965)  # at the bid


# --- The markets mapping is read at order time ---------------------------------------------------------------------

def test_engine_reads_tick_size_changes_from_the_callers_mapping(settings, make_market):
    mapping = {"m": make_market()}
    engine = TradingEngine(mapping, settings, PaperExchange(mapping, settings.costs))
    assert [o.limit_price for o in engine.on_decision(T0, "m", 0.9, 50, 0.50).orders] == [0.51]
    mapping["m"] = make_market(tick_size=0.001)  # the market's tick changed
    assert [o.limit_price for o in engine.on_decision(T0 + H, "m", 0.5, 50, 0.50).orders] == [0.493]
