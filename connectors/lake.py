"""The Parquet lake: one folder per table, one file per daily partition, written atomically.

Both Dagster assets and the CLI land data here; dbt reads it through `read_parquet` globs.
A write goes to a temporary file in the same folder and is renamed into place, so a crash never
leaves half a file and re-landing a partition replaces it whole.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
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

SOURCE = "source"  # raw_tweets: who landed a row (replay, import-<file>, stream, search, ...)
STORED_RAW_TWEETS = RAW_TWEETS.append(pa.field(SOURCE, pa.string()))  # a parsed row and its source, as stored

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

ORDER_BOOKS = pa.schema(
    [
        ("market", pa.string()),
        ("token_id", pa.string()),
        ("ts", pa.timestamp("us")),  # the book's own timestamp, UTC, naive
        ("side", pa.string()),  # "bid" or "ask"
        ("level", pa.int32()),  # 0 is the best price on its side
        ("price", pa.float64()),
        ("size", pa.float64()),
        ("tick_size", pa.float64()),
        ("min_order_size", pa.float64()),
        ("hash", pa.string()),
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
        with self.writer(table, rows.schema, day) as out:
            out.write_table(rows)
        return self.path(table, day)

    @contextmanager
    def writer(self, table: str, schema: pa.Schema, day: date | None = None) -> Iterator[pq.ParquetWriter]:
        """A Parquet writer on a temporary file beside the partition, synced and renamed into place on a
        clean exit and removed on an error, so rows can be streamed in row groups and still land whole.
        The temporary name does not end in `.parquet`: the `glob` pattern (dbt's) must never read it."""
        target = self.path(table, day)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-", suffix=".parquet.part")
        os.close(fd)
        try:
            with pq.ParquetWriter(tmp, schema) as out:
                yield out
            with open(tmp, "rb+") as done:
                os.fsync(done.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def read(self, table: str, day: date | None = None) -> pa.Table:
        return pq.read_table(self.path(table, day))

    def exists(self, table: str, day: date | None = None) -> bool:
        return self.path(table, day).exists()

    def days(self, table: str) -> list[date]:
        """The daily partitions a table holds, oldest first."""
        return sorted(date.fromisoformat(p.parent.name.removeprefix("date=")) for p in (self.root / table).glob("date=*/data.parquet"))

    def upsert(self, table: str, rows: pa.Table, keys: list[str], day: date | None = None) -> Path:
        """Land rows into a partition that may hold others: rows with the same key values are replaced,
        the rest kept, so landing a backfill twice, or beside what an asset wrote, loses nothing."""
        if self.exists(table, day):
            old = self.read(table, day)
            fresh = set(zip(*(rows[k].to_pylist() for k in keys)))
            kept = pa.array([key not in fresh for key in zip(*(old[k].to_pylist() for k in keys))], pa.bool_())
            rows = pa.concat_tables([old.filter(kept), rows.cast(old.schema)])
        return self.write(table, rows.sort_by([(k, "ascending") for k in keys]), day)
