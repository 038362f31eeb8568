"""Polymarket market data: the tracked markets and each day's YES-price history."""

from datetime import UTC, date, datetime, timedelta

import pyarrow as pa
from dagster import AssetExecutionContext, MaterializeResult, MetadataValue, asset

from models.ingest import markets_table, prices_table
from orchestration.partitions import daily
from orchestration.resources import LakeResource, MarketDataResource


@asset(group_name="ingest", kinds={"parquet"})
def markets(market_data: MarketDataResource, lake: LakeResource) -> MaterializeResult:
    """The tracked Polymarket markets, from Gamma market objects."""
    table = markets_table(market_data.get().gamma_markets())
    path = lake.get().write("markets", table)
    return MaterializeResult(
        metadata={"rows": table.num_rows, "markets": ", ".join(table["market"].to_pylist()), "path": MetadataValue.path(str(path))}
    )


@asset(partitions_def=daily, deps=[markets], group_name="ingest", kinds={"parquet"})
def price_history(context: AssetExecutionContext, market_data: MarketDataResource, lake: LakeResource) -> MaterializeResult:
    """Each market's YES-token price series of one day, from CLOB `prices-history`."""
    day = datetime.combine(date.fromisoformat(context.partition_key), datetime.min.time(), tzinfo=UTC)
    start, end = int(day.timestamp()), int((day + timedelta(days=1)).timestamp())
    source = market_data.get()
    tables = [
        prices_table(m["market"], m["yes_token_id"], source.prices_history(m["yes_token_id"], start, end))
        for m in lake.get().read("markets").to_pylist()
    ]
    table = pa.concat_tables(tables)
    path = lake.get().write("price_history", table, day.date())
    return MaterializeResult(metadata={"rows": table.num_rows, "path": MetadataValue.path(str(path))})
