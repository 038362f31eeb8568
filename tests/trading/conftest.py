"""Settings built from explicit values, so no environment variable or `.env` can change a test's numbers."""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest

from models.engine import MarketInfo, PaperExchange, TradingEngine
from sentitrade.settings import CostSettings, RiskSettings, Settings, StrategySettings


# Kelly sizing, the per-market cap and the drawdown halt; every other risk rule off (0, or a factor/cap of 1).
CORE_RISK = {"starting_cash": 1000.0, "kelly_fraction": 0.25, "expected_move": 0.05, "max_position_fraction": 0.20,
             "max_drawdown": 0.20, "max_total_exposure": 1.0, "drawdown_reduce_factor": 1.0, "daily_loss_limit": 0.0,
             "stop_loss": 0.0, "take_profit": 0.0, "max_tweet_age_s": 0.0, "max_price_age_s": 0.0}


@pytest.fixture
def make_settings(monkeypatch: pytest.MonkeyPatch, tmp_path) -> Callable[..., Settings]:
    monkeypatch.chdir(tmp_path)
    for name in [n for n in os.environ if n.startswith("SENTITRADE_")]:
        monkeypatch.delenv(name)

    def make(strategy: dict | None = None, **risk: float) -> Settings:
        """Only the core rules are on; a test of another rule turns it on through `risk` or `strategy`."""
        settings = Settings()
        settings.risk = RiskSettings(**{**CORE_RISK, **risk})
        settings.costs = CostSettings(half_spread=0.005, slippage=0.002)
        settings.strategy = StrategySettings(**{"buy_above": 0.65, "sell_below": 0.35, "min_tweets": 10,
                                                **(strategy or {})})
        return settings

    return make


@pytest.fixture
def settings(make_settings) -> Settings:
    return make_settings()


@pytest.fixture
def make_market() -> Callable[..., MarketInfo]:
    """Markets default to Polymarket's common 0.01 tick, 5-share minimum and no fees."""

    def make(name: str = "m", **kwargs) -> MarketInfo:
        return MarketInfo(name, f"{name}-yes", f"{name}-no", **kwargs)

    return make


def engine_for(settings: Settings, *markets: MarketInfo) -> TradingEngine:
    """An engine on paper fills over `markets`, as the backtest and the paper trader build it."""
    by_name = {m.market: m for m in markets}
    return TradingEngine(by_name, settings, PaperExchange(by_name, settings.costs))
