"""Keep the newest day of tweets fresh in Dagster.

The live stream (`sentitrade ingest stream`) and imports land tweets into the lake outside Dagster;
this sensor notices and re-runs the newest partition, so its checks, metadata and scores follow.
"""

from datetime import date

from dagster import (
    AssetKey,
    AssetRecordsFilter,
    AssetSelection,
    DefaultSensorStatus,
    RunRequest,
    SensorDefinition,
    SensorEvaluationContext,
    SkipReason,
    define_asset_job,
    sensor,
)

from orchestration.assets.score import scored_tweets
from orchestration.assets.tweets import raw_tweets
from orchestration.partitions import daily
from orchestration.resources import LakeResource

fresh_tweets = define_asset_job(
    "fresh_tweets", selection=AssetSelection.assets(raw_tweets, scored_tweets), partitions_def=daily, description="Re-land and re-score one day of tweets."
)


def newest_tweets_sensor(default_status: DefaultSensorStatus) -> SensorDefinition:
    @sensor(job=fresh_tweets, minimum_interval_seconds=300, default_status=default_status)
    def newest_tweets_partition(context: SensorEvaluationContext, lake: LakeResource):
        """Runs the newest daily partition of raw_tweets (and its scores) when it was never
        materialized, or when its file changed after the last materialization."""
        key = daily.get_last_partition_key()
        if key is None:
            return SkipReason("no partition yet")
        path = lake.get().path("raw_tweets", date.fromisoformat(key))
        records = context.instance.fetch_materializations(
            AssetRecordsFilter(asset_key=AssetKey("raw_tweets"), asset_partitions=[key]), limit=1
        ).records
        if not records:
            return RunRequest(run_key=f"{key}:first", partition_key=key)
        changed = path.stat().st_mtime if path.exists() else 0.0
        if changed > records[0].timestamp:
            return RunRequest(run_key=f"{key}:{changed}", partition_key=key)
        return SkipReason(f"raw_tweets {key} is current")

    return newest_tweets_partition
