"""Daily partitions (UTC) for everything that arrives by the day: tweets, scores, prices.

They span the data that exists, read when the code location loads: from the first day the lake holds
(tweets or prices, of any year: an import of 2016's tweets shows 2016's days) or the replay data set
covers, to the last one; in production they stay open to today, so the daily schedule has its new day.
With no data yet they start at SENTITRADE_HISTORY_START. A `DailyPartitionsDefinition` rather than
dynamic partitions: the schedule, backfills and `partition_key=` runs keep working unchanged, and the
span follows the data at every load (the UI's "Reload" after an import) without a registry of keys to
keep in step with the lake.
"""

from __future__ import annotations

import json
from datetime import date, timedelta

from dagster import DailyPartitionsDefinition

from connectors.lake import Lake
from sentitrade.settings import Settings

DAILY_TABLES = ("raw_tweets", "price_history")


def data_days(settings: Settings) -> list[date]:
    """Every day some daily table of the lake holds, or the replay data set covers, oldest first."""
    lake = Lake(settings.lake_dir)
    days = {day for table in DAILY_TABLES for day in lake.days(table)}
    manifest = settings.replay_dir / "manifest.json"
    if manifest.is_file():
        replay = json.loads(manifest.read_text())
        start = date.fromisoformat(replay["start"])
        days.update(start + timedelta(days=i) for i in range(replay["days"]))
    return sorted(days)


def daily_partitions(settings: Settings) -> DailyPartitionsDefinition:
    days = data_days(settings)
    if not days:
        return DailyPartitionsDefinition(start_date=settings.history_start.isoformat())
    end = None if settings.env == "production" else (days[-1] + timedelta(days=1)).isoformat()
    return DailyPartitionsDefinition(start_date=days[0].isoformat(), end_date=end)


daily = daily_partitions(Settings())
