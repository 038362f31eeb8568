"""Tweet ingestion: each UTC day's tweets, parsed, deduplicated and landed as Parquet."""

from datetime import date

from dagster import AssetExecutionContext, MaterializeResult, MetadataValue, asset

from models.ingest import tweets_table
from orchestration.partitions import daily
from orchestration.resources import LakeResource, TweetSourceResource


@asset(partitions_def=daily, group_name="ingest", kinds={"parquet"})
def raw_tweets(context: AssetExecutionContext, tweets: TweetSourceResource, lake: LakeResource) -> MaterializeResult:
    """X API v2 payloads of one day, parsed, deduplicated by id, landed as Parquet."""
    day = date.fromisoformat(context.partition_key)
    batch = tweets_table(tweets.get().tweet_lines(day))
    path = lake.get().write("raw_tweets", batch.table, day)
    for letter in batch.dead_letters[:5]:
        context.log.warning(f"dead letter, line {letter['line']}: {letter['reason']}")
    return MaterializeResult(
        metadata={
            "rows": batch.table.num_rows,
            "dead_lettered": len(batch.dead_letters),
            "duplicates": batch.duplicates,
            "path": MetadataValue.path(str(path)),
        }
    )
