"""Polymarket market data: the tracked markets, each day's YES-price history, and the checks on it."""

from datetime import UTC, date, datetime, timedelta

import pandas as pd
import pyarrow as pa
from dagster import AssetCheckResult, AssetCheckSeverity, AssetExecutionContext, MaterializeResult, MetadataValue, asset, asset_check

from connectors.lake import PRICE_HISTORY
from connectors.polymarket import PolymarketSettings
from models.ingest import markets_table, prices_table
from models.ingest.price_audit import PriceAudit, audit_prices
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


def _audit(lake: LakeResource) -> PriceAudit:
    """Every landed day of price_history, oldest first, so the checks also see the seams between days."""
    store = lake.get()
    days = [store.read("price_history", day) for day in store.days("price_history")]
    return audit_prices(pa.concat_tables(days or [PRICE_HISTORY.empty_table()]), timedelta(minutes=PolymarketSettings().max_gap_minutes))


@asset_check(asset=price_history, blocking=True, description="Every landed price lies in [0, 1] and each token's timestamps strictly increase.")
def price_history_is_valid(lake: LakeResource) -> AssetCheckResult:
    audit = _audit(lake)
    return AssetCheckResult(
        passed=audit.valid,
        metadata={
            "rows": audit.rows,
            "prices_outside_0_1": len(audit.out_of_range),
            "timestamps_not_increasing": len(audit.not_increasing),
            "examples": audit.examples(pd.concat([audit.out_of_range, audit.not_increasing])),
        },
    )


@asset_check(asset=price_history, description="No token's series has a hole longer than SENTITRADE_POLYMARKET_MAX_GAP_MINUTES.")
def price_history_has_no_long_gaps(lake: LakeResource) -> AssetCheckResult:
    audit = _audit(lake)
    return AssetCheckResult(
        passed=audit.gaps.empty,
        severity=AssetCheckSeverity.WARN,
        metadata={"max_gap_minutes": audit.max_gap.total_seconds() / 60, "gaps": len(audit.gaps), "examples": audit.examples(audit.gaps)},
    )
