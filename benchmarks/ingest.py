"""Tweet landing benchmark: parse and land filtered-stream payload lines on one core.

    python benchmarks/ingest.py [--tweets 1000000] [--days 7]

Writes the input first (not timed): X API v2 filtered-stream payloads (data with public metrics and
entities, includes.users, matching_rules) in time order over `--days` UTC days, with 1% repeats (a
stream and a backfill both delivering a tweet) and 0.1% bad lines. Then times `TweetLanding.land`
reading that file line by line: parse, dead-letter, deduplicate against the store, route to day
partitions, stream each into its Parquet file in row groups, rename into place. Pinned to one CPU,
with Arrow's thread pools at one thread. Peak RSS is the process's high-water mark (the generator
streams to disk, so it is the landing's). The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import orjson  # noqa: E402
import pyarrow as pa  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from connectors.lake import Lake  # noqa: E402
from models.ingest.landing import TABLE, DeadLetters, TweetLanding, dead_letter_path  # noqa: E402
from models.ingest.tweets import snowflake_at  # noqa: E402

WORDS = ("fed rate cut hike powell inflation cpi jobs report bitcoin etf halving rally dump pump moon bullish bearish "
         "election polls odds market price yes no surge crash breaking news today week soon never likely unlikely").split()
MARKETS = ("fed-cut-december", "btc-100k-2026", "election-turnout", "cpi-above-3")


def generate(path: Path, tweets: int, days: int, seed: int = 7) -> dict:
    """Stream `tweets` payload lines to `path`; returns what went in."""
    rng = random.Random(seed)
    start = datetime(2026, 11, 1)
    step = timedelta(days=days) / tweets
    authors = [(str(10**9 + i), f"trader_{i}", rng.random() < 0.05, int(rng.paretovariate(1.2) * 50)) for i in range(20_000)]
    repeats = bad = 0
    recent: list[bytes] = []
    with path.open("wb") as out:
        for i in range(tweets):
            created = start + step * i
            if recent and rng.random() < 0.01:
                out.write(rng.choice(recent))
                repeats += 1
                continue
            if rng.random() < 0.001:
                out.write(b'{"data": {"id": "' + str(i).encode() + b'", "text": "cut off mid-li\n')
                bad += 1
                continue
            tweet_id = str(snowflake_at(created) + i % 4096)
            author_id, username, verified, followers = rng.choice(authors)
            text = " ".join(rng.choices(WORDS, k=rng.randint(6, 30)))
            tag = rng.choice(MARKETS)
            payload = {
                "data": {
                    "id": tweet_id, "text": text, "created_at": created.isoformat(timespec="milliseconds") + "Z",
                    "author_id": author_id, "lang": "en", "edit_history_tweet_ids": [tweet_id],
                    "public_metrics": {"retweet_count": rng.randint(0, 50), "reply_count": rng.randint(0, 20),
                                       "like_count": rng.randint(0, 500), "quote_count": 0, "impression_count": rng.randint(0, 9999)},
                    "entities": {"hashtags": [{"start": 0, "end": 4, "tag": tag.split("-")[0]}]},
                },
                "includes": {"users": [{"id": author_id, "username": username, "name": username.title(), "verified": verified,
                                        "public_metrics": {"followers_count": followers, "following_count": 100, "tweet_count": 1000}}]},
                "matching_rules": [{"id": str(1_700_000_000_000_000_000 + MARKETS.index(tag)), "tag": tag}],
            }
            line = orjson.dumps(payload) + b"\n"
            out.write(line)
            if i % 97 == 0:
                recent = (recent + [line])[-1000:]
    return {"lines": tweets, "repeats": repeats, "bad": bad, "bytes": path.stat().st_size}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tweets", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=7)
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    pa.set_cpu_count(1)
    pa.set_io_thread_count(1)

    with tempfile.TemporaryDirectory(prefix="sentitrade-bench-") as folder:
        source = Path(folder) / "stream.jsonl"
        began = time.perf_counter()
        made = generate(source, args.tweets, args.days)
        generated_s = time.perf_counter() - began

        lake = Lake(Path(folder) / "lake")
        landing = TweetLanding(lake, DeadLetters(dead_letter_path(lake, "bench"), "bench"))
        began = time.perf_counter()
        with source.open("rb") as lines:
            report = landing.land(lines)
        seconds = time.perf_counter() - began
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        parquet_mb = sum(lake.path(TABLE, day).stat().st_size for day in lake.days(TABLE)) / 2**20

    rate = report.read / seconds
    table = Table(title=f"landing {report.read:,} filtered-stream lines on one core")
    table.add_column("measure")
    table.add_column("value", justify="right")
    for name, value in [
        ("input", f"{made['bytes'] / 2**20:,.0f} MiB of JSON Lines (generated in {generated_s:.1f} s, not timed)"),
        ("landed", f"{report.landed:,} tweets in {len(report.days)} day partitions, {parquet_mb:,.0f} MiB of Parquet"),
        ("duplicates", f"{report.duplicates:,} (planted: {made['repeats']:,})"),
        ("dead-lettered", f"{report.dead_lettered:,} (planted: {made['bad']:,})"),
        ("time", f"{seconds:.2f} s"),
        ("throughput", f"{rate:,.0f} tweets/s, {made['bytes'] / 2**20 / seconds:,.1f} MiB/s"),
        ("peak RSS", f"{peak_mb:,.0f} MiB"),
    ]:
        table.add_row(name, value)
    Console().print(table)
    print(json.dumps({"tweets": report.read, "landed": report.landed, "seconds": round(seconds, 3),
                      "tweets_per_s": round(rate), "peak_rss_mb": round(peak_mb, 1)}))


if __name__ == "__main__":
    main()
