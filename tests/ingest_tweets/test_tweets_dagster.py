"""Dagster: the raw_tweets partitions land with their checks and dead letters, the sensor keeps the
newest partition fresh, and production swaps the replay source for the X API."""

from __future__ import annotations

import json
import os
from datetime import date, datetime, timedelta

import pyarrow as pa
from dagster import DagsterInstance, DefaultSensorStatus, RunRequest, SkipReason, build_sensor_context, materialize

from connectors.lake import RAW_TWEETS, Lake
from connectors.x_api import MissingSetting
from models.ingest.landing import TABLE, LandingReport
from orchestration.assets.tweets import partition_checks, raw_tweets
from orchestration.definitions import build_definitions
from orchestration.partitions import daily
from orchestration.resources import LakeResource, TweetSourceResource, XApiTweetsResource, build_resources
from orchestration.sensors import newest_tweets_sensor
from sentitrade.settings import Settings


def line(tweet_id: int, day: date, text: str = "fine") -> str:
    return json.dumps({"data": {"id": str(tweet_id), "text": text, "created_at": f"{day}T12:00:00Z"}, "matching_rules": [{"tag": "m"}]})


class Lines:
    def __init__(self, lines):
        self.lines = lines

    def tweet_lines(self, day):
        return iter(self.lines)


class FixedTweets(TweetSourceResource):
    day: str

    def get(self):
        day = date.fromisoformat(self.day)
        return Lines([line(i, day) for i in range(20)] + [line(3, day), "{cut", line(99, day - timedelta(days=1))])


def land(tmp_path, day: date, instance=None):
    resources = {"tweets": FixedTweets(day=day.isoformat()), "lake": LakeResource(root=str(tmp_path / "lake"))}
    return materialize([raw_tweets], partition_key=day.isoformat(), resources=resources, instance=instance or DagsterInstance.ephemeral())


def test_a_partition_lands_with_its_checks_metadata_and_dead_letters(tmp_path, monkeypatch):
    monkeypatch.setenv("SENTITRADE_TWEETS_MAX_DEAD_LETTER_RATE", "0.02")
    day = date(2026, 11, 2)
    result = land(tmp_path, day)
    assert result.success
    checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert checks == {"unique_tweet_ids": True, "created_at_in_partition": True, "non_empty_text": True, "dead_letter_rate": False}
    metadata = result.asset_materializations_for_node("raw_tweets")[0].metadata
    assert metadata["rows"].value == 20 and metadata["read"].value == 23 and metadata["dead_lettered"].value == 1
    assert metadata["duplicates"].value == 1 and metadata["landed"].value == 21  # one tweet of the day before, in its own partition
    lake = Lake(tmp_path / "lake")
    assert lake.days(TABLE) == [day - timedelta(days=1), day]
    letters = (tmp_path / "lake" / "_dead_letters" / TABLE / f"date={day}.jsonl").read_text().splitlines()
    assert len(letters) == 1 and "not valid JSON" in json.loads(letters[0])["reason"]

    again = land(tmp_path, day)  # re-landing is idempotent, dead letters included
    assert again.success and lake.read(TABLE, day).num_rows == 20
    assert len((tmp_path / "lake" / "_dead_letters" / TABLE / f"date={day}.jsonl").read_text().splitlines()) == 1


def test_the_checks_catch_a_partition_that_went_wrong(tmp_path):
    lake = Lake(tmp_path)
    day = date(2026, 11, 2)
    rows = [{"tweet_id": "1", "created_at": datetime(2026, 11, 2, 1), "text": "ok"}, {"tweet_id": "1", "created_at": datetime(2026, 11, 3), "text": " "}]
    lake.write(TABLE, pa.Table.from_pylist(rows, schema=RAW_TWEETS), day)
    lake.write(TABLE, pa.Table.from_pylist(rows[:1], schema=RAW_TWEETS), date(2026, 11, 1))
    results = {r.check_name: (r.passed, dict(r.metadata)) for r in partition_checks(lake, day, LandingReport(read=10, dead_lettered=2), 0.1)}
    assert {name: passed for name, (passed, _) in results.items()} == {
        "unique_tweet_ids": False, "created_at_in_partition": False, "non_empty_text": False, "dead_letter_rate": False}
    assert results["unique_tweet_ids"][1]["repeated_ids"].value == 3  # twice here, and once more in 2026-11-01


def test_the_sensor_runs_the_newest_partition_until_current_and_again_when_its_file_changes(tmp_path):
    sensor = newest_tweets_sensor(DefaultSensorStatus.STOPPED)
    key = daily.get_last_partition_key()
    lake = LakeResource(root=str(tmp_path / "lake"))
    with DagsterInstance.ephemeral() as instance:
        first = sensor(build_sensor_context(instance=instance, resources={"lake": lake}))
        assert isinstance(first, RunRequest) and first.partition_key == key
        assert land(tmp_path, date.fromisoformat(key), instance).success
        assert isinstance(sensor(build_sensor_context(instance=instance, resources={"lake": lake})), SkipReason)
        path = Lake(tmp_path / "lake").path(TABLE, date.fromisoformat(key))
        os.utime(path, (path.stat().st_atime, path.stat().st_mtime + 60))  # the stream landed into it
        changed = sensor(build_sensor_context(instance=instance, resources={"lake": lake}))
        assert isinstance(changed, RunRequest) and changed.partition_key == key and changed.run_key != first.run_key


def test_production_takes_tweets_from_the_x_api_and_runs_the_sensor(tmp_path, monkeypatch):
    monkeypatch.delenv("SENTITRADE_X_BEARER_TOKEN", raising=False)
    defs = build_definitions(Settings(env="production", data_dir=tmp_path))
    assert defs.resolve_job_def("fresh_tweets") is not None
    assert defs.resolve_sensor_def("newest_tweets_partition").default_status == DefaultSensorStatus.RUNNING
    resources = build_resources(Settings(env="production", data_dir=tmp_path))
    assert isinstance(resources["tweets"], XApiTweetsResource) and resources["tweets"].appends
    assert not build_resources(Settings(data_dir=tmp_path))["tweets"].appends
    monkeypatch.setenv("SENTITRADE_X_MARKETS", '{"m": "q"}')
    try:
        resources["tweets"].get()
        raise AssertionError("no token, yet a source")
    except MissingSetting as exc:
        assert str(exc).startswith("SENTITRADE_X_BEARER_TOKEN is not set")


def test_in_production_a_partition_is_searched_from_the_x_api_and_merged_into_what_the_stream_landed(tmp_path, monkeypatch):
    from models.ingest.landing import DeadLetters, TweetLanding, dead_letter_path
    from tests.ingest_tweets.fake_x import FakeX

    day = date.fromisoformat(daily.get_last_partition_key())
    markets = {"fed-cut": "fed rate cut", "btc-100k": "bitcoin 100k"}
    lake = Lake(tmp_path / "lake")
    with FakeX(markets, "tok") as x:
        made = x.publish(30, at=datetime.combine(day, datetime.min.time()) + timedelta(hours=9))
        x.publish(5, at=datetime.combine(day, datetime.min.time()) - timedelta(hours=1))  # the day before: not asked for
        TweetLanding(lake, DeadLetters(dead_letter_path(lake, "stream"), "stream")).land([json.dumps(made[0]), line(7, day)])
        for name, value in {"SENTITRADE_X_BEARER_TOKEN": "tok", "SENTITRADE_X_API_URL": x.url, "SENTITRADE_X_MARKETS": json.dumps(markets)}.items():
            monkeypatch.setenv(name, value)
        resources = {"tweets": XApiTweetsResource(), "lake": LakeResource(root=str(lake.root))}
        result = materialize([raw_tweets], partition_key=day.isoformat(), resources=resources, instance=DagsterInstance.ephemeral())
    assert result.success
    assert all(e.passed for e in result.get_asset_check_evaluations())
    assert sorted(lake.read(TABLE, day)["tweet_id"].to_pylist()) == sorted([p["data"]["id"] for p in made] + ["7"])
    metadata = result.asset_materializations_for_node("raw_tweets")[0].metadata
    assert metadata["read"].value == 30 and metadata["landed"].value == 29 and metadata["duplicates"].value == 1
