"""Tweet ingestion: each UTC day's tweets, parsed, deduplicated across the store, landed as Parquet,
checked; bad lines land in the partition's dead-letter file and are counted."""

from datetime import date, datetime, timedelta

import pyarrow.compute as pc
import pyarrow.parquet as pq
from dagster import AssetCheckResult, AssetCheckSpec, AssetExecutionContext, MaterializeResult, MetadataValue, asset

from connectors.lake import STORED_RAW_TWEETS, Lake
from models.ingest.landing import TABLE, DeadLetters, LandingReport, TweetIngestSettings, TweetLanding, dead_letter_path, spooled
from orchestration.partitions import daily
from orchestration.resources import LakeResource, TweetSourceResource

CHECKS = {
    "unique_tweet_ids": ("No tweet id twice, in this partition or anywhere else in the store.", True),
    "created_at_in_partition": ("Every tweet was created on the partition's UTC day.", True),
    "non_empty_text": ("Every tweet has text that is not blank.", True),
    "dead_letter_rate": ("Bad lines stay below SENTITRADE_TWEETS_MAX_DEAD_LETTER_RATE of those read.", False),
}


@asset(
    partitions_def=daily,
    group_name="ingest",
    kinds={"parquet"},
    check_specs=[AssetCheckSpec(name, asset="raw_tweets", description=text, blocking=blocking) for name, (text, blocking) in CHECKS.items()],
)
def raw_tweets(context: AssetExecutionContext, tweets: TweetSourceResource, lake: LakeResource) -> MaterializeResult:
    """X API v2 payloads of one day, parsed, deduplicated by tweet id across the store, landed as Parquet."""
    day = date.fromisoformat(context.partition_key)
    store = lake.get()
    letters = DeadLetters(dead_letter_path(store, f"date={day}"), source=f"raw_tweets {day}", replace=True)
    lines = tweets.get().tweet_lines(day)
    if tweets.appends:  # X recent search: fetch it all before taking the store's lock
        lines = spooled(lines)
    # The replay holds whole days: its rows of the day are replaced, never what an import or the stream landed.
    landing = TweetLanding(store, letters, source="x-search" if tweets.appends else "replay")
    report = landing.land(lines, replace=() if tweets.appends else [day])
    if not store.exists(TABLE, day):  # a day without tweets is still a landed (empty) partition
        store.write(TABLE, STORED_RAW_TWEETS.empty_table(), day)
    if letters.count:
        context.log.warning(f"{letters.count} bad lines of {report.read} dead-lettered to {letters.path}")
    return MaterializeResult(
        metadata={
            "rows": pq.ParquetFile(store.path(TABLE, day)).metadata.num_rows,
            **report.summary(),
            "dead_letters": MetadataValue.path(str(letters.path)),
            "path": MetadataValue.path(str(store.path(TABLE, day))),
        },
        check_results=partition_checks(store, day, report, TweetIngestSettings().max_dead_letter_rate),
    )


def partition_checks(store: Lake, day: date, report: LandingReport, max_dead_letter_rate: float) -> list[AssetCheckResult]:
    """The four checks on a landed partition, read back from the file itself."""
    table = store.read(TABLE, day).select(["tweet_id", "created_at", "text"])
    ids = table["tweet_id"]
    elsewhere = set()
    for other in store.days(TABLE):
        if other != day:
            elsewhere.update(pq.read_table(store.path(TABLE, other), columns=["tweet_id"])["tweet_id"].to_pylist())
    repeated = len(ids) - len(pc.unique(ids)) + sum(tid in elsewhere for tid in ids.to_pylist())
    start = datetime.combine(day, datetime.min.time())
    created = table["created_at"]
    outside = pc.sum(pc.or_(pc.less(created, start), pc.greater_equal(created, start + timedelta(days=1)))).as_py() or 0
    blank = pc.sum(pc.equal(pc.utf8_length(pc.utf8_trim_whitespace(table["text"])), 0)).as_py() or 0
    rate = report.dead_lettered / report.read if report.read else 0.0
    return [
        AssetCheckResult(check_name="unique_tweet_ids", passed=repeated == 0, metadata={"repeated_ids": repeated}),
        AssetCheckResult(check_name="created_at_in_partition", passed=outside == 0, metadata={"outside_the_day": outside}),
        AssetCheckResult(check_name="non_empty_text", passed=blank == 0, metadata={"blank_texts": blank}),
        AssetCheckResult(
            check_name="dead_letter_rate",
            passed=rate <= max_dead_letter_rate,
            metadata={"dead_lettered": report.dead_lettered, "read": report.read, "rate": rate, "max_rate": max_dead_letter_rate},
        ),
    ]
