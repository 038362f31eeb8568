"""Land tweets: payload lines -> raw_tweets day partitions, every tweet id at most once in the store.

Every source lands through `TweetLanding`: the Dagster asset, the live stream, a search backfill and a
user's own file. A tweet lives in the partition of its `created_at` day. Lines are parsed in chunks
and streamed into each partition's Parquet file as row groups, so memory stays flat however long
the input; each partition is rewritten whole (what it held, then the new rows) into a temporary file
and renamed into place, so a crash leaves every partition as it was. Bad lines go to a dead-letter
file with their reason; they are counted, never dropped silently and never stop the landing.
"""

from __future__ import annotations

import fcntl
import tempfile
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from itertools import islice
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from connectors.lake import SOURCE, STORED_RAW_TWEETS, Lake
from models.ingest.tweets import tweets_table

TABLE = "raw_tweets"


class TweetIngestSettings(BaseSettings):
    """Bounds and defaults of tweet landing, whatever the source."""

    model_config = SettingsConfigDict(env_prefix="SENTITRADE_TWEETS_", env_file=".env", extra="ignore")

    max_dead_letter_rate: float = Field(0.01, ge=0, le=1, description="The raw_tweets check fails above this share of bad lines.")
    default_market: str = Field("unassigned", min_length=1, description="Market tag of imported tweets that matched no rule.")


def dead_letter_path(lake: Lake, name: str) -> Path:
    """Dead letters sit beside the lake, outside every table's `*.parquet` glob."""
    return lake.root / "_dead_letters" / TABLE / f"{name}.jsonl"


class DeadLetters:
    """A JSON Lines file of bad lines: each with its reason, `line` (its position among the records the
    landing read), its size in `bytes` and the raw line (invalid UTF-8 escaped, cut at 10,000 chars)."""

    def __init__(self, path: Path, source: str, replace: bool = False):
        self.path, self.source, self.count = Path(path), source, 0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if replace:  # a re-materialized partition starts its dead letters afresh, like its data
            self.path.unlink(missing_ok=True)

    def write(self, letters: list[dict]) -> None:
        if not letters:
            return
        with self.path.open("ab") as out:
            out.write(b"".join(orjson.dumps({"source": self.source, **letter}) + b"\n" for letter in letters))
        self.count += len(letters)


@dataclass
class Counts:
    """What every landing and import reports, and prints as its last JSON line."""

    read: int = 0
    landed: int = 0
    duplicates: int = 0
    dead_lettered: int = 0

    def summary(self) -> dict:
        return {"read": self.read, "landed": self.landed, "duplicates": self.duplicates, "dead_lettered": self.dead_lettered}

    def add(self, other: Counts) -> None:
        for key, value in other.summary().items():
            setattr(self, key, getattr(self, key) + value)


@dataclass
class LandingReport(Counts):
    days: Counter = field(default_factory=Counter)  # tweets landed per partition day
    newest_id: int | None = None  # the largest numeric (X) id landed: where a later search resumes

    def add(self, other: LandingReport) -> None:
        super().add(other)
        self.days.update(other.days)
        self.newest_id = _newest(self.newest_id, other.newest_id)


def _newest(a: int | None, b: int | None) -> int | None:
    return b if a is None else a if b is None else max(a, b)


def numeric_max(ids: pa.ChunkedArray | pa.Array) -> int | None:
    """The largest X (all-digit) id among `ids`; ids of imported files that are not X ids are skipped."""
    digits = pc.filter(ids, pc.and_(pc.utf8_is_digit(ids), pc.less_equal(pc.utf8_length(ids), 19)))
    return None if len(digits) == 0 else pc.max(digits.cast(pa.uint64())).as_py()


def newest_stored_id(lake: Lake, market: str | None = None) -> int | None:
    """The largest X id in the store (of one market, if given): a backfill resumes after it."""
    newest = None
    for day in lake.days(TABLE):
        table = pq.read_table(lake.path(TABLE, day), columns=["tweet_id", "market"])
        if market is not None:
            table = table.filter(pc.equal(table["market"], market))
        newest = _newest(newest, numeric_max(table["tweet_id"]))
    return newest


def spooled(lines: Iterable[str | bytes]) -> Iterator[bytes]:
    """Drain `lines` (a network source) into a temporary file, then replay them: landing holds the
    store's lock, which must not wait on a remote API while the live stream wants to flush."""
    with tempfile.TemporaryFile() as spool:
        for line in lines:
            spool.write((line.encode("utf-8", "surrogateescape") if isinstance(line, str) else line).rstrip(b"\r\n") + b"\n")
        spool.seek(0)
        yield from spool


@contextmanager
def _locked(lake: Lake) -> Iterator[None]:
    """One lander at a time per store: the stream, an import and the asset may run side by side."""
    lock = lake.root / TABLE / ".lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    with lock.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _stored(table: pa.Table) -> pa.Table:
    """A partition's rows as stored now: files written before sources were kept get a null `source`
    (of unknown origin, so no source's replace ever removes them)."""
    if SOURCE not in table.column_names:
        table = table.append_column(SOURCE, pa.nulls(table.num_rows, pa.string()))
    return table.select(STORED_RAW_TWEETS.names).cast(STORED_RAW_TWEETS)


class _Partition:
    """One day's partition being rewritten: the rows it held (but this source's own, on a replace), then the new ones."""

    def __init__(self, stack: ExitStack, lake: Lake, day: date, source: str, replace: bool):
        self.held: set[str] = set()
        self.source = source
        self.out = stack.enter_context(lake.writer(TABLE, STORED_RAW_TWEETS, day))
        if lake.exists(TABLE, day):
            for batch in pq.ParquetFile(lake.path(TABLE, day)).iter_batches():
                table = _stored(pa.Table.from_batches([batch]))
                if replace:  # the source's own rows go; what any other source landed stays
                    table = table.filter(pc.fill_null(pc.not_equal(table[SOURCE], source), True))
                self.held.update(table["tweet_id"].to_pylist())
                self.out.write_table(table)

    def append(self, rows: pa.Table) -> int:
        """Write the rows the partition does not hold yet (another process may have landed some)."""
        if self.held:
            rows = rows.filter(pa.array([tid not in self.held for tid in rows["tweet_id"].to_pylist()], pa.bool_()))
        self.out.write_table(rows.append_column(SOURCE, pa.array([self.source] * rows.num_rows, pa.string())))
        return rows.num_rows


class TweetLanding:
    """Lands payload lines into the store, deduplicated by tweet id across every partition."""

    def __init__(self, lake: Lake, dead_letters: DeadLetters, default_market: str = "", chunk_rows: int = 10_000,
                 source: str = "import"):
        self.lake, self.dead_letters, self.default_market, self.chunk_rows = lake, dead_letters, default_market, chunk_rows
        self.source = source  # stored with each row landed: a replace of this source's days replaces only these
        self._ids: set[str] | None = None  # every id in the store, loaded on first use and kept current

    def _stored_ids(self, exclude: frozenset[date]) -> set[str]:
        if self._ids is None or exclude:
            self._ids = set()
            for day in self.lake.days(TABLE):
                if day not in exclude:
                    self._ids.update(pq.read_table(self.lake.path(TABLE, day), columns=["tweet_id"])["tweet_id"].to_pylist())
        return self._ids

    def land(self, lines: Iterable[str | bytes], replace: Iterable[date] = ()) -> LandingReport:
        """Land `lines`; in the partitions of `replace` this source's rows are replaced by these lines (a
        source that holds the whole day, such as the replay data set), and every other source's rows are
        kept (an import, the stream, a backfill); the other partitions keep all they held."""
        replace = frozenset(replace)
        report, lines = LandingReport(), iter(lines)
        try:
            with _locked(self.lake), ExitStack() as stack:
                seen = self._stored_ids(replace)
                partitions = {day: _Partition(stack, self.lake, day, self.source, True) for day in replace}
                while chunk := list(islice(lines, self.chunk_rows)):
                    batch = tweets_table(chunk, self.default_market, seen, first_line=report.read + 1)
                    self.dead_letters.write(batch.dead_letters)
                    report.read += len(chunk)
                    report.dead_lettered += len(batch.dead_letters)
                    report.duplicates += batch.duplicates
                    self._route(batch.table, partitions, stack, report)
        except BaseException:
            self._ids = None  # ids of partitions that were not committed must not count as stored
            raise
        return report

    def _route(self, table: pa.Table, partitions: dict[date, _Partition], stack: ExitStack, report: LandingReport) -> None:
        if not table.num_rows:
            return
        days = pc.cast(table["created_at"], pa.date32())
        for day in pc.unique(days).to_pylist():
            if day not in partitions:
                partitions[day] = _Partition(stack, self.lake, day, self.source, replace=False)
            rows = table.filter(pc.equal(days, pa.scalar(day, pa.date32())))
            landed = partitions[day].append(rows)
            report.landed += landed
            report.duplicates += rows.num_rows - landed
            report.days[day] += landed
        report.newest_id = _newest(report.newest_id, numeric_max(table["tweet_id"]))


def landing_into(lake: Lake, name: str, source: str, default_market: str = "") -> TweetLanding:
    """A landing whose dead letters go to a file named after this run (`<name>-<UTC time>`)."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return TweetLanding(lake, DeadLetters(dead_letter_path(lake, f"{name}-{stamp}"), source), default_market, source=name)
