"""Daily partitions (UTC) for everything that arrives by the day: tweets, scores, prices.

They span the data that exists, read when the code location loads: from the first day of tweets the
lake holds (of any year: an import of 2016's tweets shows 2016's days) or the replay data set covers, to
the last one; in production they stay open to today, so the daily schedule has its new day. Every daily
asset starts from a day of tweets, so days holding only prices (a series running past the last tweet,
years of daily bars) add no partition of their own: dbt reads every price landed either way.
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


def data_days(settings: Settings) -> list[date]:
    """Every day of tweets the lake holds or the replay data set covers, oldest first."""
    days = set(Lake(settings.lake_dir).days("raw_tweets"))
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
