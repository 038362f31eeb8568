"""Daily partitions (UTC) for everything that arrives by the day: tweets, scores, prices."""

from dagster import DailyPartitionsDefinition

from sentitrade.settings import Settings

daily = DailyPartitionsDefinition(start_date=Settings().history_start.isoformat())
