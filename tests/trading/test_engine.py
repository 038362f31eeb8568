import json
import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from models.engine import Fill, Order, PaperExchange, Portfolio
from models.strategy import Signal
from tests.trading.conftest import engine_for

T0 = datetime(2025, 1, 1, tzinfo=UTC)
H = timedelta(hours=1)


def test_buy_opens_kelly_sized_yes_then_holds_then_closes(settings, make_market):
    engine = engine_for(settings, make_market())
    step = engine.on_decision(T0, "m", 0.9, 50, 0.50)
    # stake 0.2 × 1000 = 200 USDC at the 0.51 fill → 392.15 shares (hundredths, rounded down)
    assert step.orders == [Order(T0, "m", "YES", "m-yes", "BUY", 392.15, 0.51, "open")]
    assert step.fills == [Fill(T0, "m", "YES", "m-yes", "BUY", 392.15, 0.51, 0.0)]
    assert step.decision.signal is Signal.BUY and step.decision.target_token == "YES"
    assert engine.portfolio.cash == pytest.approx(800.0035)

    held = engine.on_decision(T0 + H, "m", 0.70, 50, 0.55)
    assert held.orders == [] and "hold 392.15 YES" in held.decision.reason
    assert engine.portfolio.positions["m"].shares == 392.15

    closed = engine.on_decision(T0 + 2 * H, "m", 0.50, 50, 0.50)
    assert [(o.side, o.token, o.shares, o.reason) for o in closed.orders] == [("SELL", "YES", 392.15, "close")]
    assert closed.fills[0].price == 0.49
    assert engine.portfolio.positions == {}
    assert engine.portfolio.cash == pytest.approx(992.157)  # 800.0035 + 392.15 × 0.49


def test_opposite_signal_flips_sell_then_buy(settings, make_market):
    engine = engine_for(settings, make_market())
    engine.on_decision(T0, "m", 0.9, 50, 0.50)
    step = engine.on_decision(T0 + H, "m", 0.1, 50, 0.60)
    # sell 392.15 YES at 0.59 → cash 1031.372; stake 0.2 × 1031.372 = 206.27 on NO (mid 0.40): the touch 0.41
    # offers 500 shares (205 USDC), the next tick 0.42 the other 3.03
    assert step.orders == [
        Order(T0 + H, "m", "YES", "m-yes", "SELL", 392.15, 0.59, "flip"),
        Order(T0 + H, "m", "NO", "m-no", "BUY", 503.03, 0.42, "open"),
    ]
    average = (500 * 0.41 + 3.03 * 0.42) / 503.03
    assert [(f.side, f.token, f.price) for f in step.fills] == [("SELL", "YES", 0.59), ("BUY", "NO", average)]
    position = engine.portfolio.positions["m"]
    assert (position.token, position.shares, position.avg_cost) == ("NO", 503.03, pytest.approx(average))
    assert engine.portfolio.cash == pytest.approx(1031.372 - 205 - 3.03 * 0.42)
    # marked at the NO bid, mid 0.40 less the half spread 0.005
    assert engine.mark(T0 + H, {"m": 0.60}) == pytest.approx(engine.portfolio.cash + 503.03 * 0.395)


def test_orders_below_min_size_are_not_sent(make_settings, make_market):
    engine = engine_for(make_settings(starting_cash=10.0), make_market())
    step = engine.on_decision(T0, "m", 0.9, 50, 0.50)  # 2 USDC / 0.51 = 3.92 shares < 5
    assert step.orders == [] and step.fills == []
    assert "open BUY 3.92 YES not sent: below min order size 5" in step.decision.reason
    assert engine.portfolio.positions == {} and engine.portfolio.cash == 10.0


def test_taker_fee_charged_only_where_enabled(settings, make_market):
    engine = engine_for(settings, make_market("fee", fees_enabled=True, fee_rate=0.04),
                        make_market("free", fee_rate=0.04))
    fee_fill = engine.on_decision(T0, "fee", 0.9, 50, 0.50).fills[0]
    assert fee_fill.fee == 3.91993  # 392.15 × 0.04 × 0.51 × 0.49
    assert engine.on_decision(T0, "free", 0.9, 50, 0.50).fills[0].fee == 0.0
    assert engine.portfolio.fees_paid == 3.91993


def test_open_never_spends_more_cash_than_held(make_settings, make_market):
    settings = make_settings(kelly_fraction=1.0, max_position_fraction=1.0)
    engine = engine_for(settings, make_market(fees_enabled=True, fee_rate=0.04))
    fill = engine.on_decision(T0, "m", 1.0, 50, 0.50).fills[0]
    # 500 shares at each of 0.51, 0.52, 0.53 with their fees, then what the rest of the 1000 buys at 0.54
    paid = sum(500 * (p + 0.04 * p * (1 - p)) for p in (0.51, 0.52, 0.53))
    assert fill.shares == math.floor((1500 + (1000 - paid) / (0.54 + 0.04 * 0.54 * 0.46)) * 100) / 100 == 1872.82
    assert 0 <= engine.portfolio.cash < 0.01


def test_drawdown_halt_closes_every_position_and_latches(settings, make_market):
    engine = engine_for(settings, make_market("a"), make_market("b"))
    engine.on_decision(T0, "a", 0.9, 50, 0.50)  # 392.15 YES
    engine.on_decision(T0, "b", 0.9, 50, 0.50)  # 0.2 × (800.0035 + 392.15 × the 0.495 bid) / 0.51 → 389.85 YES
    assert engine.portfolio.cash == pytest.approx(601.18)
    assert engine.mark(T0 + H, {"a": 0.10, "b": 0.10}) == pytest.approx(601.18 + (392.15 + 389.85) * 0.095)
    assert engine.risk.halted  # 675.47 < 80% of the 1000 peak

    step = engine.on_decision(T0 + 2 * H, "a", 0.9, 50, 0.10)
    assert [(o.market, o.side, o.token, o.reason) for o in step.orders] == [
        ("a", "SELL", "YES", "halt"), ("b", "SELL", "YES", "halt")]
    assert [f.price for f in step.fills] == [0.09, 0.09]
    assert engine.portfolio.positions == {}
    assert step.decision.signal is Signal.BUY and step.decision.target_token is None
    assert "halted: drawdown" in step.decision.reason
    assert engine.portfolio.cash == pytest.approx(601.18 + (392.15 + 389.85) * 0.09)

    later = engine.on_decision(T0 + 3 * H, "b", 0.95, 50, 0.90)  # prices recovered: still no new trades
    assert later.orders == [] and "halted" in later.decision.reason


def test_paper_exchange_prices_no_from_yes_mid_and_respects_limits(settings, make_market):
    markets = {"m": make_market()}
    exchange = PaperExchange(markets, settings.costs)
    buy_no = Order(T0, "m", "NO", "m-no", "BUY", 10.0, 0.41, "open")
    assert exchange.execute(buy_no, 0.60) == Fill(T0, "m", "NO", "m-no", "BUY", 10.0, 0.41, 0.0)
    assert exchange.execute(buy_no, 0.50) is None  # NO now fills at 0.51, above the 0.41 limit
    sell_yes = Order(T0, "m", "YES", "m-yes", "SELL", 10.0, 0.59, "close")
    assert exchange.execute(sell_yes, 0.50) is None  # would get 0.49, below the 0.59 limit


def test_portfolio_books_average_cost_and_refuses_shorts():
    book = Portfolio(100.0)
    book.apply(Fill(T0, "m", "YES", "y", "BUY", 10, 0.40, 0.1))
    book.apply(Fill(T0, "m", "YES", "y", "BUY", 30, 0.60, 0.0))
    assert book.positions["m"].avg_cost == pytest.approx(0.55)
    assert book.cash == pytest.approx(100 - 4 - 18 - 0.1)
    assert book.equity({"m": 0.5}) == pytest.approx(book.cash + 40 * 0.5)  # a bare portfolio marks at the mid
    with pytest.raises(ValueError, match="close YES before buying NO"):
        book.apply(Fill(T0, "m", "NO", "n", "BUY", 1, 0.5, 0.0))
    with pytest.raises(ValueError, match="no shorting"):
        book.apply(Fill(T0, "m", "YES", "y", "SELL", 41, 0.5, 0.0))


def scripted_run(seed: int, hours: int = 96):
    """(ts, market, p_up, n_tweets, mid_yes, last_tweet_at) rows: three random walks with noisy, sometimes missing
    predictions and sparse tweets, over four UTC days, so every rule gets to fire."""
    rng = np.random.default_rng(seed)
    mids = {m: 0.5 for m in "abc"}
    for hour in range(hours):
        ts = T0 + hour * H
        for market in mids:
            mids[market] = float(np.clip(round(mids[market] + rng.choice([-0.03, -0.01, 0.0, 0.01, 0.03]), 2),
                                         0.03, 0.97))
            p_up = float("nan") if rng.random() < 0.05 else float(rng.uniform(0.0, 1.0))
            age = timedelta(seconds=int(rng.choice([60, 600, 4000])))
            yield ts, market, p_up, int(rng.integers(0, 40)), mids[market], ts - age
        yield ts, None, None, None, None, None  # mark after each hour


def replay(engine, rows) -> list:
    out = []
    for ts, market, p_up, n_tweets, mid_yes, last_tweet_at in rows:
        if market is None:
            out.append(engine.mark(ts, {}))
        else:
            out.append(engine.on_decision(ts, market, p_up, n_tweets, mid_yes, last_tweet_at=last_tweet_at,
                                          last_price_at=ts))
    return out


def test_an_engine_restored_from_a_snapshot_decides_exactly_as_the_original(make_settings, make_market):
    settings = make_settings(max_total_exposure=0.4, drawdown_reduce_factor=0.5, daily_loss_limit=0.04,
                             stop_loss=0.1, take_profit=0.1, max_tweet_age_s=1800, strategy={"min_tweets": 5})
    markets = [make_market("a"), make_market("b", fees_enabled=True, fee_rate=0.02), make_market("c")]
    rows = list(scripted_run(seed=58))
    cut = 106  # day two, 02:00: a position held, the day stopped, stakes reduced
    original = engine_for(settings, *markets)
    before = replay(original, rows[:cut])
    saved = json.loads(json.dumps(original.snapshot()))
    assert saved["positions"] and saved["risk"]["day"] == "2025-01-02" and saved["risk"]["day_stopped"]
    assert original.risk.drawdown > 0.1
    restored = engine_for(settings, *markets)
    restored.restore(saved)
    assert restored.snapshot() == saved

    expected, got = replay(original, rows[cut:]), replay(restored, rows[cut:])
    assert got == expected
    assert restored.snapshot() == original.snapshot()
    reasons = " ".join(r.decision.reason for r in before + expected if not isinstance(r, float))
    for rule in ("stop-loss", "take-profit", "tweets < min", "newest tweet", "day's loss", "stake × 0.5",
                 "capped at 20%", "total exposure", "no stake", "halted"):
        assert rule in reasons, rule
    fresh = engine_for(settings, *markets)  # without the snapshot the same inputs lead elsewhere
    assert replay(fresh, rows[cut:]) != expected


def test_a_halted_engine_stays_halted_after_a_restore(make_settings, make_market):
    settings = make_settings(max_drawdown=0.1)
    original = engine_for(settings, make_market())
    original.on_decision(T0, "m", 0.9, 50, 0.50)
    original.mark(T0 + H, {"m": 0.20})  # 858.83: 14% down
    restored = engine_for(settings, make_market())
    restored.restore(json.loads(json.dumps(original.snapshot())))
    assert restored.risk.halted and restored.portfolio.positions["m"].shares == 392.15
    step = restored.on_decision(T0 + 2 * H, "m", 0.9, 50, 0.5)
    assert [o.reason for o in step.orders] == ["halt"] and restored.portfolio.positions == {}


def test_a_sale_leaving_fewer_shares_than_any_order_can_sell_closes_the_position():
    """A live market BUY's price improvement or a partial sale leaves a remainder; below the market's
    minimum order size no order can sell it, so holding it would freeze the market for the engine."""
    ts = datetime(2026, 11, 5, 12, 0)
    book = Portfolio(1000.0)
    book.apply(Fill(ts, "m", "YES", "y", "BUY", 253.669381, 0.5, 0.0))
    book.apply(Fill(ts, "m", "YES", "y", "SELL", 253.65, 0.5, 0.0), unsellable=5.0)
    assert "m" not in book.positions  # 0.019381 shares left: dust
    book.apply(Fill(ts, "m", "YES", "y", "BUY", 100.0, 0.5, 0.0))
    book.apply(Fill(ts, "m", "YES", "y", "SELL", 94.0, 0.5, 0.0), unsellable=5.0)
    assert book.positions["m"].shares == pytest.approx(6.0)  # still sellable: kept
