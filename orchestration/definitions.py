"""The Dagster code location: every asset from ingest to promotion, wired to one set of resources."""

from __future__ import annotations

from dagster import (
    AssetSelection,
    DefaultSensorStatus,
    Definitions,
    ScheduleDefinition,
    build_schedule_from_partitioned_job,
    define_asset_job,
)

from orchestration.assets.features import dbt_features
from orchestration.assets.markets import markets, price_history, price_history_has_no_long_gaps, price_history_is_valid
from orchestration.assets.promote import promotion
from orchestration.assets.score import scored_tweets
from orchestration.assets.train import backtest_assets, model_assets
from orchestration.assets.tweets import raw_tweets
from orchestration.checks import training_set_is_usable
from orchestration.partitions import daily
from orchestration.resources import build_resources
from orchestration.sensors import fresh_tweets, newest_tweets_sensor
from orchestration.versions import backtest_version, new_versions_sensor
from sentitrade.settings import Settings

DAILY_ASSETS = AssetSelection.assets(raw_tweets, scored_tweets, price_history)

discover_markets = define_asset_job("discover_markets", selection=AssetSelection.assets(markets), description="Refresh the tracked markets.")
daily_ingest = define_asset_job("daily_ingest", selection=DAILY_ASSETS, partitions_def=daily, description="One day of tweets, scores and prices.")
score_tweets = define_asset_job(
    "score_tweets", selection=AssetSelection.assets(scored_tweets), partitions_def=daily,
    description="Score one day of the tweets already landed (imports, a backfill), asking no tweet or price source.",
)
research = define_asset_job(
    "research",
    selection=AssetSelection.all() - DAILY_ASSETS - AssetSelection.assets(markets),
    description="dbt features -> models -> backtests -> promotion",
)


def build_definitions(settings: Settings) -> Definitions:
    running = DefaultSensorStatus.RUNNING if settings.env == "production" else DefaultSensorStatus.STOPPED  # on where a daemon runs
    return Definitions(
        assets=[raw_tweets, markets, price_history, scored_tweets, dbt_features, *model_assets, *backtest_assets, promotion],
        asset_checks=[training_set_is_usable, price_history_is_valid, price_history_has_no_long_gaps],
        jobs=[discover_markets, daily_ingest, score_tweets, research, fresh_tweets, backtest_version],
        schedules=[
            ScheduleDefinition(job=discover_markets, cron_schedule="0 0 * * *"),
            build_schedule_from_partitioned_job(daily_ingest, hour_of_day=0, minute_of_hour=15),
            ScheduleDefinition(job=research, cron_schedule="0 2 * * *"),
        ],
        sensors=[newest_tweets_sensor(running), new_versions_sensor(running)],
        resources=build_resources(settings),
    )


defs = build_definitions(Settings())
