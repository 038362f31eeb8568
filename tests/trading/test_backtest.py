import numpy as np
import pandas as pd
import pytest

from models.backtest import plot_equity, run_backtest

HOURS = pd.date_range("2025-01-01", periods=48, freq="h", tz="UTC")


def random_walk(seed: int) -> np.ndarray:
    """YES mids on the 0.01 grid moving ±0.05 an hour, kept inside [0.10, 0.90]."""
    rng = np.random.default_rng(seed)
    cents = [50]
    for step in rng.choice([-5, 5], size=len(HOURS) - 1):
        cents.append(cents[-1] + (step if 10 <= cents[-1] + step <= 90 else -step))
    return np.array(cents) / 100


def frame(p_up_of) -> pd.DataFrame:
    """Two markets; `p_up_of(prices)` gives each hour's probability of an up-move."""
    parts = []
    for market, seed in (("a", 1), ("b", 2)):
        prices = random_walk(seed)
        parts.append(pd.DataFrame({"market": market, "ts": HOURS, "p_up": p_up_of(prices), "n_tweets_1h": 50,
                                   "price": prices}))
    return pd.concat(parts, ignore_index=True)


def oracle(prices: np.ndarray) -> np.ndarray:
    """Knows the move after the fill: an order decided at hour t fills at hour t + 1's price."""
    filled, following = np.r_[prices[1:], prices[-1]], np.r_[prices[2:], prices[-1], prices[-1]]
    return np.select([following > filled, following < filled], [1.0, 0.0], 0.5)


@pytest.fixture
def two_markets(make_market):
    return {"a": make_market("a", fees_enabled=True, fee_rate=0.04), "b": make_market("b")}


def test_perfect_oracle_makes_money_after_costs(settings, two_markets):
    result = run_backtest(frame(oracle), two_markets, settings)
    m = result.metrics
    assert m["total_return"] > 0.5 and m["hit_rate"] > 0.9 and m["n_trades"] > 20
    assert m["sharpe_daily"] is None and m["sharpe_note"].startswith("too short")  # a few hours are no Sharpe
    assert m["fees_paid"] > 0 and m["n_fills"] == len(result.fills) > 40
    assert m["final_equity"] == pytest.approx(1000 * (1 + m["total_return"]))
    assert result.equity.iloc[-1] == m["final_equity"] and list(result.equity.index) == list(HOURS)
    assert result.fills["fee"].sum() == pytest.approx(m["fees_paid"])
    assert (result.fills.loc[result.fills["market"] == "b", "fee"] == 0).all()
    assert 0 <= m["max_drawdown"] < 0.1


def test_uninformative_model_never_trades(settings, two_markets):
    result = run_backtest(frame(lambda prices: np.full(len(prices), 0.5)), two_markets, settings)
    figures = ("total_return", "max_drawdown", "n_fills", "n_trades", "fees_paid", "final_equity", "turnover")
    assert {k: result.metrics[k] for k in figures} == {"total_return": 0.0, "max_drawdown": 0.0, "n_fills": 0,
                                                       "n_trades": 0, "fees_paid": 0.0, "final_equity": 1000.0,
                                                       "turnover": 0.0}
    assert result.fills.empty and list(result.fills.columns)[:3] == ["ts", "market", "token"]
    assert (result.equity == 1000.0).all() and len(result.decisions) == 2 * len(HOURS)
    assert set(result.decisions["signal"]) == {"HOLD"}


def test_wrong_model_hits_the_drawdown_halt_and_stays_flat(settings, two_markets):
    result = run_backtest(frame(lambda prices: 1 - oracle(prices)), two_markets, settings)
    halted = result.decisions[result.decisions["reason"].str.contains("halted")]
    assert result.metrics["max_drawdown"] > 0.2
    assert halted.index[0] < 20 and halted.index[-1] == len(result.decisions) - 1  # latched to the end
    after = result.fills[result.fills["ts"] > halted["ts"].iloc[0]]
    # fills decided up to the halt and the halt's own sales come at the next hour's price; nothing opens again
    assert set(after["ts"]) <= {halted["ts"].iloc[0] + pd.Timedelta(hours=1)}
    assert not any("open BUY" in r for r in halted["reason"])
    signed = result.fills["shares"].where(result.fills["side"] == "BUY", -result.fills["shares"])
    assert signed.groupby([result.fills["market"], result.fills["token"]]).sum().abs().max() < 1e-9  # flat
    assert result.metrics["total_return"] == pytest.approx(-result.metrics["max_drawdown"])


def test_metrics_match_a_hand_computed_trade(settings, make_market):
    hours = HOURS[:3]
    rows = pd.DataFrame({"market": "m", "ts": hours, "p_up": [0.9, 0.9, 0.5], "n_tweets_1h": 50,
                         "price": [0.50, 0.60, 0.60]})
    result = run_backtest(rows, {"m": make_market()}, settings)
    # decided at 0.50 to spend 392.15 × 0.51 = 199.9965 USDC; filled an hour later at 0.61: 327.86 YES, cash
    # 800.0054; marked at the bid (mid − 0.005); the close decided last has no later price, so the end sells at 0.59
    cash = 1000 - 327.86 * 0.61
    equity = [cash + 327.86 * 0.495, cash + 327.86 * 0.595, cash + 327.86 * 0.59]
    assert result.equity.to_numpy() == pytest.approx(equity)
    m = result.metrics
    assert m["n_trades"] == 1 and m["mean_trade_pnl"] == pytest.approx(equity[-1] - 1000)
    assert m["total_return"] == pytest.approx(equity[-1] / 1000 - 1)
    assert m["max_drawdown"] == pytest.approx(1 - equity[0] / 1000)  # the entry's cost, below the start
    assert list(zip(result.fills["side"], result.fills["price"], result.fills["ts"], strict=True)) == [
        ("BUY", 0.61, hours[1]), ("SELL", 0.59, hours[2])]


def test_equity_uses_last_known_mid_and_the_end_closes_everything(settings, make_market):
    rows = pd.DataFrame({"market": ["b", "a", "a"], "ts": [HOURS[0], HOURS[0], HOURS[1]], "p_up": [0.9, 0.5, 0.5],
                         "n_tweets_1h": 50, "price": [0.50, 0.50, 0.70]})
    half_hour = pd.DataFrame({"market": ["b"], "ts": [HOURS[0] + pd.Timedelta(minutes=30)], "price": [0.50]})
    prices = pd.concat([rows[["market", "ts", "price"]], half_hour])
    result = run_backtest(rows, {"a": make_market("a"), "b": make_market("b")}, settings, prices=prices)
    first, final = result.fills.iloc[0], result.fills.iloc[-1]
    assert (first["market"], first["side"], first["ts"], first["price"]) == ("b", "BUY", half_hour["ts"][0], 0.51)
    assert (final["market"], final["side"], final["ts"], final["price"]) == ("b", "SELL", HOURS[1], 0.49)
    assert result.equity.to_numpy() == pytest.approx([800.0035 + 392.15 * 0.495, 800.0035 + 392.15 * 0.49])
    assert result.exposure.to_numpy() == pytest.approx([392.15 * 0.495, 0.0])
    assert list(result.exposure.index) == list(result.equity.index)


def test_bad_input_is_rejected(settings, make_market):
    with pytest.raises(ValueError, match="n_tweets_1h"):
        run_backtest(pd.DataFrame(columns=["market", "ts", "p_up", "price"]), {}, settings)
    with pytest.raises(ValueError, match=r"no MarketInfo for markets \['b'\]"):
        run_backtest(frame(oracle), {"a": make_market("a")}, settings)


def test_empty_frame_gives_a_flat_result(settings):
    result = run_backtest(pd.DataFrame(columns=["market", "ts", "p_up", "n_tweets_1h", "price"]), {}, settings)
    assert result.equity.empty and result.decisions.empty
    assert result.metrics["final_equity"] == 1000.0 and result.metrics["max_drawdown"] == 0.0


def test_plot_equity_writes_a_png(settings, two_markets, tmp_path):
    result = run_backtest(frame(oracle), two_markets, settings)
    path = plot_equity(result, tmp_path / "plots" / "equity.png", "Oracle on a random walk")
    assert path == tmp_path / "plots" / "equity.png"
    data = path.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 20_000
