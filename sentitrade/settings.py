"""Typed configuration from the environment (and an optional `.env`), in one place.

Every process (the CLI, the Dagster code location, the trader) reads the same `Settings`, so a path
or a risk limit means the same thing everywhere. See `.env.example` for each variable.
"""

from __future__ import annotations

from datetime import date
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class RiskSettings(BaseSettings):
    """Limits the risk manager enforces in backtests, paper and live trading alike."""

    model_config = SettingsConfigDict(env_prefix="SENTITRADE_RISK_", env_file=".env", extra="ignore")

    starting_cash: float = Field(1_000.0, gt=0, description="Paper/backtest bankroll in USDC.")
    kelly_fraction: float = Field(0.25, gt=0, le=1, description="Share of the full Kelly stake to bet.")
    max_position_fraction: float = Field(0.20, gt=0, le=1, description="Cap on one market's stake, as a share of equity.")
    max_drawdown: float = Field(0.20, gt=0, lt=1, description="Halt trading once equity falls this far below its peak.")


class CostSettings(BaseSettings):
    """How fills are priced: the half-spread crossed and extra slippage, on top of the exchange fee."""

    model_config = SettingsConfigDict(env_prefix="SENTITRADE_COST_", env_file=".env", extra="ignore")

    half_spread: float = Field(0.005, ge=0, lt=0.5, description="Half the bid/ask spread, in price units.")
    slippage: float = Field(0.002, ge=0, lt=0.5, description="Extra adverse move per fill, in price units.")


class StrategySettings(BaseSettings):
    """The decision rule applied to the model's probability of an up-move."""

    model_config = SettingsConfigDict(env_prefix="SENTITRADE_STRATEGY_", env_file=".env", extra="ignore")

    buy_above: float = Field(0.65, gt=0.5, lt=1)
    sell_below: float = Field(0.35, gt=0, lt=0.5)
    exit_at: float = Field(0.5, gt=0, lt=1, description="A held position is closed once p_up crosses back over this.")
    min_tweets: int = Field(10, ge=0, description="Fewest tweets in the last hour for any trade.")
    min_price: float = Field(0.05, ge=0, lt=0.5, description="No new trade while the YES price is below this.")
    max_price: float = Field(0.95, gt=0.5, le=1, description="No new trade while the YES price is above this.")


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
    holdout_days: int = Field(3, ge=1, description="Trailing days held out for evaluation, backtest and replay.")
    min_holdout_auc: float = Field(0.55, ge=0, le=1, description="A version must beat this AUC to be promoted.")

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
