"""Typed configuration from the environment (and an optional `.env`), in one place.

Every process (the CLI, the Dagster code location, the trader) reads the same `Settings`, so a path
or a risk limit means the same thing everywhere. See `.env.example` for each variable.
"""

from __future__ import annotations

from datetime import date
from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class RiskSettings(BaseSettings):
    """Limits the risk manager enforces in backtests, paper and live trading alike. A 0 turns a rule off."""

    model_config = SettingsConfigDict(env_prefix="SENTITRADE_RISK_", env_file=".env", extra="ignore")

    starting_cash: float = Field(1_000.0, gt=0, description="Paper/backtest bankroll in USDC.")
    kelly_fraction: float = Field(0.25, gt=0, le=1, description="Share of the full Kelly stake to bet.")
    expected_move: float = Field(
        0.05, gt=0, lt=0.5, description="Typical move of a token's price over a holding, in price units (for Kelly)."
    )
    max_position_fraction: float = Field(0.20, gt=0, le=1, description="Cap on one market's stake, as a share of equity.")
    max_total_exposure: float = Field(
        0.50, gt=0, le=1, description="Cap on all positions together (marked at mid), as a share of equity."
    )
    max_drawdown: float = Field(0.20, gt=0, lt=1, description="Halt trading once equity falls this far below its peak.")
    drawdown_reduce_at: float = Field(
        0.5, gt=0, le=1, description="Reduce stakes once the drawdown reaches this share of max_drawdown."
    )
    drawdown_reduce_factor: float = Field(0.5, gt=0, le=1, description="Stakes are multiplied by this while reduced.")
    daily_loss_limit: float = Field(
        0.05, ge=0, lt=1,
        description="No new position for the rest of the UTC day once equity is this far below the day's start.",
    )
    stop_loss: float = Field(0.25, ge=0, lt=1, description="Exit once the token's mid is this far below the avg cost.")
    take_profit: float = Field(0.50, ge=0, description="Exit once the token's mid is this far above the avg cost.")
    max_tweet_age_s: float = Field(1_800, ge=0, description="No new position when the newest tweet is older (seconds).")
    max_price_age_s: float = Field(900, ge=0, description="No new position when the newest price is older (seconds).")


class CostSettings(BaseSettings):
    """How fills are priced: the half-spread crossed and extra slippage, on top of the exchange fee."""

    model_config = SettingsConfigDict(env_prefix="SENTITRADE_COST_", env_file=".env", extra="ignore")

    half_spread: float = Field(0.005, ge=0, lt=0.5, description="Half the bid/ask spread, in price units.")
    slippage: float = Field(0.002, ge=0, lt=0.5, description="Extra adverse move per fill, in price units.")
    latency_s: float = Field(
        1.0, ge=0, description="Backtest: a decision at t fills at the first price observed at or after t + this, never at t's own price."
    )
    depth_shares: float = Field(
        500.0, gt=0, description="Where no order book is recorded: shares offered at each price level from the touch outward (the book is walked for the order's size)."
    )


class StrategySettings(BaseSettings):
    """The decision rule applied to the model's probability of an up-move."""

    model_config = SettingsConfigDict(env_prefix="SENTITRADE_STRATEGY_", env_file=".env", extra="ignore")

    buy_above: float = Field(0.65, gt=0.5, lt=1, description="Hold YES while p_up is above this.")
    sell_below: float = Field(0.35, gt=0, lt=0.5, description="Hold NO while p_up is below this.")
    exit_at: float = Field(0.5, gt=0, lt=1, description="A held position is closed once p_up crosses back over this.")
    min_tweets: int = Field(10, ge=0, description="Fewest tweets in the last hour for a new position.")
    min_price: float = Field(0.05, ge=0, lt=0.5, description="No new trade while the YES price is below this.")
    max_price: float = Field(0.95, gt=0.5, le=1, description="No new trade while the YES price is above this.")


class ResearchSettings(BaseSettings):
    """How models are trained, validated and chosen: nested walk-forward folds, net-of-cost labels, promotion."""

    model_config = SettingsConfigDict(env_prefix="SENTITRADE_RESEARCH_", env_file=".env", extra="ignore")

    folds: int = Field(3, ge=1, description="Walk-forward validation folds over the span before the test span.")
    validation_days: int = Field(1, ge=1, description="Days in each validation fold.")
    embargo_minutes: int = Field(
        60, ge=0, description="Rows this close before a later span are dropped from training, on top of the purge of every label priced inside it."
    )
    dead_zone: float = Field(
        0.0, ge=0, lt=0.5, description="Labels: a move within round-trip costs plus this (price units) is 'no trade' and not learned from."
    )
    early_stopping_rounds: int = Field(30, ge=1, description="Boosted trees stop once validation log-loss has not improved for this many rounds.")
    param_search: Literal["grid", "off"] = Field(
        "grid", description="grid: pick tree hyperparameters from the documented grid by mean validation log-loss; off: the defaults."
    )
    promotion_metric: Literal["validation_return", "validation_sharpe_daily"] = Field(
        "validation_return", description="What ranks versions for promotion, always computed on the validation folds."
    )


SECTIONS = ("risk", "costs", "strategy", "research", "trader")  # each read from its own prefix on first use


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SENTITRADE_", env_file=".env", extra="ignore")

    env: Literal["local", "production"] = Field(
        "local", description="local: embedded stores and replay data; production: PostgreSQL, live APIs."
    )
    data_dir: Path = Field(Path("data"), description="Root of every embedded store and the replay data.")
    history_start: date = Field(date(2026, 11, 1), description="First day of the daily partitions (UTC).")
    model_name: str = Field("sentitrade-signal", description="MLflow registered model holding the signal models.")
    # URLs that may hold a password: kept out of repr(), print them through `sentitrade.redact.redact`
    mlflow_tracking_uri: str | None = Field(None, repr=False, description="Defaults to SQLite under DATA_DIR/mlflow.")
    ledger_url: str | None = Field(None, repr=False, description="SQLAlchemy URL of the trader ledger; defaults to SQLite.")
    holdout_days: int = Field(
        2, ge=1, description="The untouched test span: trailing days that no training, early stopping, threshold or promotion sees; reported, backtested and replayed."
    )
    min_holdout_auc: float = Field(
        0.52, ge=0, le=1, description="A version must reach this mean AUC on the validation folds to be promoted (the test span never decides)."
    )

    def __init__(self, **values) -> None:
        """`Settings(risk=RiskSettings(...), ...)` sets those sections; `extra="ignore"` would drop them silently."""
        sections = {name: values.pop(name) for name in SECTIONS if name in values}
        super().__init__(**values)
        for name, section in sections.items():
            setattr(self, name, section)  # where the cached property would have put what it read

    @field_validator("data_dir")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @cached_property
    def risk(self) -> RiskSettings:
        return RiskSettings()

    @cached_property
    def costs(self) -> CostSettings:
        return CostSettings()

    @cached_property
    def strategy(self) -> StrategySettings:
        return StrategySettings()

    @cached_property
    def research(self) -> ResearchSettings:
        return ResearchSettings()

    @cached_property
    def trader(self) -> TraderSettings:
        return TraderSettings()

    @property
    def replay_dir(self) -> Path:
        return self.data_dir / "replay"

    @property
    def lake_dir(self) -> Path:
        return self.data_dir / "lake"

    @property
    def warehouse_path(self) -> Path:
        return self.data_dir / "warehouse.duckdb"

    @property
    def dagster_home(self) -> Path:
        return self.data_dir / "dagster"

    @property
    def mlflow_dir(self) -> Path:
        return self.data_dir / "mlflow"

    @property
    def tracking_uri(self) -> str:
        return self.mlflow_tracking_uri or f"sqlite:///{self.mlflow_dir / 'mlflow.db'}"

    @property
    def artifact_root(self) -> str:
        return (self.mlflow_dir / "artifacts").as_uri()

    @property
    def ledger(self) -> str:
        return self.ledger_url or f"sqlite:///{self.data_dir / 'ledger.db'}"


class TraderSettings(BaseSettings):
    """How the long-running trader runs: its decision cadence, model following, kill switch, lease."""

    model_config = SettingsConfigDict(env_prefix="SENTITRADE_TRADER_", env_file=".env", extra="ignore")

    decision_minutes: int = Field(5, ge=1, le=1440, description="Decide every this many minutes of event time (epoch-aligned).")
    model_poll_s: float = Field(30.0, gt=0, description="How often the registry's aliases are checked for a new champion or shadow.")
    shadow_aliases: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["challenger"], description="Aliases whose versions trade in shadow, comma-separated (empty: none)."
    )
    on_kill: Literal["flatten", "freeze"] = Field("flatten", description="On the kill file: sell every position, or keep them as they are.")
    lease_ttl_s: float = Field(30.0, ge=5, description="A trader that stops renewing its ledger lease this long loses it.")
    stream_grace_s: float = Field(2.0, ge=0, description="Live: decide this long after a decision time, for tweets still in flight.")
    price_protection: float = Field(
        0.03, gt=0, lt=1, description="Signed orders: never pay more (sell for less) than the decision's price by this much; the book beyond it declines the order."
    )
    order_type: Literal["FAK", "FOK", "GTD"] = Field(
        "FAK", description="Signed orders: FAK fills what the book has and cancels the rest; FOK all or nothing; GTD rests the rest until the next round (heartbeats keep it).")
    rest_s: float = Field(300.0, ge=200, description="GTD: the order's expiry, seconds ahead (the exchange needs at least 180): a backstop, the next round withdraws it first.")
    ledger_outage_s: float = Field(
        300.0, gt=0, description="Wait this long for an unreachable ledger database (trading paused), then exit with code 75."
    )
    metrics_address: str = Field(
        "127.0.0.1", min_length=1, description="Address the Prometheus endpoint (`--metrics-port`) listens on; 0.0.0.0 in a container, for Prometheus to reach it."
    )

    @field_validator("shadow_aliases", mode="before")
    @classmethod
    def _comma_separated(cls, value):
        return [item.strip() for item in value.split(",") if item.strip()] if isinstance(value, str) else value
