"""Dagster resources, and the one place that picks local or production ones.

Local (the default): the replay data set, the Parquet lake and DuckDB warehouse under the data
directory, MLflow on SQLite. Production: the same code with the stores the environment names
(an MLflow server on PostgreSQL, Dagster's own PostgreSQL storage is set in `dagster.yaml`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import ClassVar

import duckdb
import pandas as pd
from dagster import ConfigurableResource, EnvVar
from dagster_dbt import DbtCliResource
from pydantic import PrivateAttr

from connectors.lake import Lake
from connectors.polymarket import PolymarketSettings, PolymarketSource
from connectors.replay import ReplaySource
from connectors.x_api import XApiSource, XSettings
from models import registry
from models.features import DBT_PROJECT_DIR
from sentitrade.redact import redact
from sentitrade.settings import Settings

TRACKING_URI_VAR = "SENTITRADE_MLFLOW_TRACKING_URI"


class LakeResource(ConfigurableResource):
    """The Parquet lake the ingest and score assets write and dbt reads."""

    root: str

    def get(self) -> Lake:
        return Lake(Path(self.root))


class TweetSourceResource(ConfigurableResource):
    """Where raw tweets come from: `get()` returns an object with `tweet_lines(day)` (X API v2 payload lines)."""

    # False: the source holds the whole day, so a materialization replaces the partition. True: it sees
    # only part of it (recent search: the last 7 days; the live stream lands beside it), so land into it.
    appends: ClassVar[bool] = False

    def get(self):
        raise NotImplementedError


class MarketDataResource(ConfigurableResource):
    """Where market data comes from: `get()` returns an object with `gamma_markets()` and `prices_history(...)`."""

    def get(self):
        raise NotImplementedError


class ReplayTweetsResource(TweetSourceResource):
    """Tweets from the generated replay data set, a day at a time, as the stream delivered them."""

    replay_dir: str

    def get(self) -> ReplaySource:
        return ReplaySource(Path(self.replay_dir))


class XApiTweetsResource(TweetSourceResource):
    """Tweets of the tracked markets by X API recent search, set by SENTITRADE_X_* (the token is read
    at run time, never part of the resource's config, so Dagster never shows or stores it)."""

    appends: ClassVar[bool] = True

    def get(self) -> XApiSource:
        return XApiSource(XSettings())


class ReplayMarketsResource(MarketDataResource):
    """Gamma markets and CLOB price history from the replay data set."""

    replay_dir: str

    def get(self) -> ReplaySource:
        return ReplaySource(Path(self.replay_dir))


class PolymarketMarketsResource(MarketDataResource):
    """Live Gamma markets and price history through the official SDK, set by SENTITRADE_POLYMARKET_*."""

    _source: PolymarketSource | None = PrivateAttr(default=None)

    def get(self) -> PolymarketSource:
        if self._source is None:
            self._source = PolymarketSource(PolymarketSettings())
        return self._source

    def teardown_after_execution(self, context) -> None:
        if self._source is not None:
            self._source.close()


class WarehouseResource(ConfigurableResource):
    """The DuckDB file dbt builds; Python assets read its tables read-only."""

    path: str

    def table(self, name: str) -> pd.DataFrame:
        with duckdb.connect(self.path, read_only=True) as con:
            return con.sql(f"select * from main.{name}").df()


class MlflowResource(ConfigurableResource):
    """Where runs are tracked and models registered, and the bar a version must clear to be promoted.

    A `tracking_uri` the user set may hold a password: it is given as an `EnvVar`, so Dagster stores
    the variable's name in the run's config and resolves the value only in the process running it.
    """

    tracking_uri: str
    artifact_root: str
    model_name: str
    holdout_days: int
    min_holdout_auc: float

    def setup_for_execution(self, context) -> None:
        try:
            registry.configure(self.tracking_uri, self.artifact_root)
        except Exception as exc:  # MLflow's message quotes the URI, password and all, into Dagster's event log
            raise RuntimeError(f"MLflow at {redact(self.tracking_uri)} failed: {redact(str(exc))}") from None


def dbt_environment(settings: Settings) -> dict[str, str]:
    """The variables `dbt/profiles.yml` and the dbt sources read."""
    return {
        "SENTITRADE_LAKE_DIR": str(settings.lake_dir),
        "SENTITRADE_WAREHOUSE_PATH": str(settings.warehouse_path),
    }


def tracking_uri(settings: Settings) -> str | EnvVar:
    """The local SQLite store as is; a URI the user set (it may hold a password) by its variable's name.

    The variable is set to the value `settings` holds (it may come from `.env`, which Dagster does
    not read), so the run's process resolves the same URI.
    """
    if settings.mlflow_tracking_uri is None:
        return settings.tracking_uri
    os.environ[TRACKING_URI_VAR] = settings.mlflow_tracking_uri
    return EnvVar(TRACKING_URI_VAR)


def build_resources(settings: Settings) -> dict:
    os.environ.update(dbt_environment(settings))  # the dbt subprocess inherits them
    return {
        "lake": LakeResource(root=str(settings.lake_dir)),
        "tweets": XApiTweetsResource() if settings.env == "production" else ReplayTweetsResource(replay_dir=str(settings.replay_dir)),
        "market_data": PolymarketMarketsResource() if settings.env == "production" else ReplayMarketsResource(replay_dir=str(settings.replay_dir)),
        "warehouse": WarehouseResource(path=str(settings.warehouse_path)),
        "mlflow": MlflowResource(
            tracking_uri=tracking_uri(settings),
            artifact_root=settings.artifact_root,
            model_name=settings.model_name,
            holdout_days=settings.holdout_days,
            min_holdout_auc=settings.min_holdout_auc,
        ),
        "dbt": DbtCliResource(project_dir=str(DBT_PROJECT_DIR), profiles_dir=str(DBT_PROJECT_DIR)),
    }
