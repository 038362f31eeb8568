"""Ingest assets: tweets, markets and price history into the lake, one UTC day per partition."""

from datetime import UTC, date, datetime, timedelta

import pyarrow as pa
from dagster import AssetExecutionContext, MaterializeResult, MetadataValue, asset

from models.ingest import markets_table, prices_table, tweets_table
from orchestration.partitions import daily
from orchestration.resources import LakeResource, ReplayResource


def _day(context: AssetExecutionContext) -> date:
    return date.fromisoformat(context.partition_key)


@asset(partitions_def=daily, group_name="ingest", kinds={"parquet"})
def raw_tweets(context: AssetExecutionContext, replay: ReplayResource, lake: LakeResource) -> MaterializeResult:
    """X API v2 filtered-stream payloads of one day, parsed, deduplicated by id, landed as Parquet."""
    batch = tweets_table(replay.get().tweet_lines(_day(context)))
    path = lake.get().write("raw_tweets", batch.table, _day(context))
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


@asset(group_name="ingest", kinds={"parquet"})
def markets(replay: ReplayResource, lake: LakeResource) -> MaterializeResult:
    """The tracked Polymarket markets, from Gamma market objects."""
    table = markets_table(replay.get().gamma_markets())
    path = lake.get().write("markets", table)
    return MaterializeResult(
        metadata={"rows": table.num_rows, "markets": ", ".join(table["market"].to_pylist()), "path": MetadataValue.path(str(path))}
    )


@asset(partitions_def=daily, deps=[markets], group_name="ingest", kinds={"parquet"})
def price_history(context: AssetExecutionContext, replay: ReplayResource, lake: LakeResource) -> MaterializeResult:
    """Each market's YES-token price series of one day, from CLOB `prices-history`."""
    day = _day(context)
    start = int(datetime.combine(day, datetime.min.time(), tzinfo=UTC).timestamp())
    end = int((datetime.combine(day, datetime.min.time(), tzinfo=UTC) + timedelta(days=1)).timestamp())
    tracked = lake.get().read("markets").to_pylist()
    tables = [
        prices_table(m["market"], m["yes_token_id"], replay.get().prices_history(m["yes_token_id"], start, end))
        for m in tracked
    ]
    table = pa.concat_tables(tables)
    path = lake.get().write("price_history", table, day)
    return MaterializeResult(metadata={"rows": table.num_rows, "path": MetadataValue.path(str(path))})
