"""Landing: one partition per UTC day, written atomically; every tweet id once in the whole store."""

from __future__ import annotations

import json
from datetime import date

import pyarrow.parquet as pq
import pytest

from connectors.lake import RAW_TWEETS, Lake
from models.ingest.landing import TABLE, DeadLetters, TweetLanding, dead_letter_path


def line(tweet_id: int, created_at: str = "2026-11-02T10:00:00Z", text: str = "hello") -> str:
    return json.dumps({"data": {"id": str(tweet_id), "text": text, "created_at": created_at}, "matching_rules": [{"tag": "m"}]})


def lander(lake: Lake, chunk_rows: int = 50_000) -> TweetLanding:
    return TweetLanding(lake, DeadLetters(dead_letter_path(lake, "t"), "t"), chunk_rows=chunk_rows)


def ids(lake: Lake, day: date) -> list[str]:
    return pq.read_table(lake.path(TABLE, day))["tweet_id"].to_pylist()


def test_tweets_land_in_the_partition_of_their_utc_day_and_never_twice(tmp_path):
    lake = Lake(tmp_path)
    first = lander(lake).land([line(1), line(2, "2026-11-03T01:00:00+02:00"), line(3, "2026-11-03T23:59:59Z")])
    assert first.landed == 3 and lake.days(TABLE) == [date(2026, 11, 2), date(2026, 11, 3)]
    assert ids(lake, date(2026, 11, 2)) == ["1", "2"]  # 01:00 at +02:00 is 23:00 UTC the day before
    # another process (its own index) lands one new tweet and one the store holds under another day
    again = lander(lake).land([line(4), line(3, "2026-11-02T05:00:00Z"), line(1)])
    assert again.summary() == {"read": 3, "landed": 1, "duplicates": 2, "dead_lettered": 0}
    assert ids(lake, date(2026, 11, 2)) == ["1", "2", "4"] and ids(lake, date(2026, 11, 3)) == ["3"]


def test_a_long_lived_lander_does_not_double_what_another_landed_meanwhile(tmp_path):
    lake = Lake(tmp_path)
    stream, other = lander(lake), lander(lake)
    stream.land([line(1)])  # the stream's index now holds the store
    other.land([line(2)])  # an import lands 2 behind its back
    assert stream.land([line(2), line(3)]).summary() == {"read": 2, "landed": 1, "duplicates": 1, "dead_lettered": 0}
    assert sorted(ids(lake, date(2026, 11, 2))) == ["1", "2", "3"]


def test_a_crash_mid_landing_leaves_every_partition_as_it_was(tmp_path):
    lake = Lake(tmp_path)
    land = lander(lake, chunk_rows=2)
    land.land([line(1), line(2)])
    before = lake.path(TABLE, date(2026, 11, 2)).read_bytes()

    def crashing():
        yield from (line(3), line(4, "2026-11-04T00:00:00Z"), line(5))  # two chunks are written into open partitions...
        raise OSError("disk went away")

    with pytest.raises(OSError):
        land.land(crashing())
    assert lake.path(TABLE, date(2026, 11, 2)).read_bytes() == before  # ...and none was renamed into place
    assert not lake.exists(TABLE, date(2026, 11, 4))
    assert sorted(p.name for p in (tmp_path / TABLE).rglob("*") if p.is_file()) == [".lock", "data.parquet"]
    assert land.land([line(3), line(4, "2026-11-04T00:00:00Z")]).landed == 2  # the failed ids were not kept as stored


def test_relanding_a_replaced_partition_is_idempotent(tmp_path):
    lake = Lake(tmp_path)
    day = date(2026, 11, 2)
    lines = [line(i) for i in range(5)] + ["{broken"]
    for _ in range(2):
        report = lander(lake).land(lines, replace=[day])
        assert report.summary() == {"read": 6, "landed": 5, "duplicates": 0, "dead_lettered": 1}
    assert sorted(ids(lake, day)) == [str(i) for i in range(5)]
    assert lander(lake).land([], replace=[day]).landed == 0 and ids(lake, day) == []  # an empty day is an empty partition


def test_a_partition_being_written_is_invisible_to_the_lake_glob(tmp_path):
    lake = Lake(tmp_path)
    with lake.writer(TABLE, RAW_TWEETS, date(2026, 11, 2)) as out:
        out.write_table(RAW_TWEETS.empty_table())
        written = [p.name for p in (tmp_path / TABLE).rglob("*")]
        assert len(written) == 2 and not any(name.endswith(".parquet") for name in written)  # dbt reads `**/*.parquet`
    assert lake.exists(TABLE, date(2026, 11, 2))
