"""The Parquet lake: one folder per table, one file per daily partition, written atomically.

Both Dagster assets and the CLI land data here; dbt reads it through `read_parquet` globs.
A write goes to a temporary file in the same folder and is renamed into place, so a crash never
leaves half a file and re-landing a partition replaces it whole.
"""

from __future__ import annotations

import os
import tempfile
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

RAW_TWEETS = pa.schema(
    [
        ("tweet_id", pa.string()),
        ("created_at", pa.timestamp("us")),  # UTC, naive
        ("text", pa.string()),
        ("author_id", pa.string()),
        ("author_username", pa.string()),
        ("author_verified", pa.bool_()),
        ("author_followers", pa.int64()),
        ("lang", pa.string()),
        ("like_count", pa.int64()),
        ("retweet_count", pa.int64()),
        ("market", pa.string()),  # the matching rule's tag
        ("payload", pa.string()),  # the raw X API v2 payload, for lineage
    ]
)

SCORED_TWEETS = pa.schema(
    [
        ("tweet_id", pa.string()),
        ("created_at", pa.timestamp("us")),
        ("market", pa.string()),
        ("author_followers", pa.int64()),
        ("author_verified", pa.bool_()),
        ("sentiment", pa.float64()),  # in [-1, 1]
        ("confidence", pa.float64()),  # in [0, 1]
        ("scorer", pa.string()),
    ]
)

MARKETS = pa.schema(
    [
        ("market", pa.string()),  # Gamma slug, also the tweet rule tag
        ("condition_id", pa.string()),
        ("question", pa.string()),
        ("yes_token_id", pa.string()),
        ("no_token_id", pa.string()),
        ("end_date", pa.timestamp("us")),
        ("tick_size", pa.float64()),
        ("min_order_size", pa.float64()),
        ("fees_enabled", pa.bool_()),
        ("fee_rate", pa.float64()),
        ("fee_exponent", pa.float64()),
        ("neg_risk", pa.bool_()),
    ]
)

PRICE_HISTORY = pa.schema(
    [
        ("market", pa.string()),
        ("token_id", pa.string()),
        ("ts", pa.timestamp("us")),
        ("price", pa.float64()),
    ]
)


class Lake:
    """Paths and atomic writes under one root folder."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def path(self, table: str, day: date | None = None) -> Path:
        folder = self.root / table
        if day is not None:
            folder = folder / f"date={day.isoformat()}"
        return folder / "data.parquet"

    def glob(self, table: str) -> str:
        """The `read_parquet` pattern that covers every partition of a table."""
        return str(self.root / table / "**" / "*.parquet")

    def write(self, table: str, rows: pa.Table, day: date | None = None) -> Path:
        target = self.path(table, day)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-", suffix=".parquet")
        os.close(fd)
        try:
            pq.write_table(rows, tmp)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return target

    def read(self, table: str, day: date | None = None) -> pa.Table:
        return pq.read_table(self.path(table, day))

    def exists(self, table: str, day: date | None = None) -> bool:
        return self.path(table, day).exists()
