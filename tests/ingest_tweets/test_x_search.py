"""Backfill by recent search through the real tweepy.Client: the X API's own recorded responses
(tweepy's vcrpy cassettes) landed, and a local server for pagination, id/time bounds, 429 and 5xx."""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, urlparse

import pyarrow.parquet as pq
import pytest
import vcr

from connectors.lake import Lake
from connectors.x_api import SearchWindow, XSearch, XSettings, gap_start
from models.ingest.landing import TABLE, DeadLetters, TweetLanding, dead_letter_path, newest_stored_id
from models.ingest.tweets import snowflake_at, snowflake_time
from tests.conftest import SHARED_DATA

CASSETTES = SHARED_DATA / "twitter-fixtures" / "cassettes"
TOKEN = "test-bearer-token-4c1d"
FIELDS = {
    "expansions": "author_id",
    "tweet.fields": "created_at,lang,public_metrics,entities",
    "user.fields": "username,verified,public_metrics",
}


def _same_search_query(r1, r2):
    """The cassettes were recorded with default fields: match on the search query, not on the fields we add."""
    q1, q2 = dict(parse_qsl(urlparse(r1.uri).query)), dict(parse_qsl(urlparse(r2.uri).query))
    assert q1.get("query") == q2.get("query")


tape = vcr.VCR(
    cassette_library_dir=str(CASSETTES),
    record_mode="none",
    filter_headers=["Authorization"],
    decode_compressed_response=True,  # the Client cassettes are gzip bodies; urllib3 2 would hand them back compressed
    match_on=["method", "scheme", "host", "port", "path", "search_query"],
)
tape.register_matcher("search_query", _same_search_query)


def landing(tmp_path) -> TweetLanding:
    lake = Lake(tmp_path / "lake")
    return TweetLanding(lake, DeadLetters(dead_letter_path(lake, "test"), "test"))


def stored(lake: Lake) -> list[dict]:
    return [row for day in lake.days(TABLE) for row in pq.read_table(lake.path(TABLE, day)).to_pylist()]


@pytest.mark.parametrize("cassette", ["test_client_search_recent_tweets.yaml", "test_asyncclient_search_recent_tweets.yaml"])
def test_recorded_search_pages_land_through_the_real_client(tmp_path, cassette):
    land = landing(tmp_path)
    search = XSearch(XSettings(bearer_token=TOKEN))
    with tape.use_cassette(cassette) as recorded:
        report = land.land(search.lines("tweepy-dev", "Tweepy", limit=10))  # one recorded page: stop there
        assert recorded.play_count == 1
    assert report.summary() == {"read": 10, "landed": 10, "duplicates": 0, "dead_lettered": 0}
    rows = stored(land.lake)
    assert {r["market"] for r in rows} == {"tweepy-dev"} and len({r["tweet_id"] for r in rows}) == 10
    # tweepy's test account posted the time of posting as its text: the snowflake id agrees within a second
    stamped = [(row, re.match(r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+) tweepy", row["text"])) for row in rows]
    stamped = [(row, datetime.fromisoformat(m.group(1))) for row, m in stamped if m]
    assert len(stamped) >= 3 and all(abs(row["created_at"] - posted) < timedelta(seconds=1) for row, posted in stamped)
    assert newest_stored_id(land.lake) == max(int(r["tweet_id"]) for r in rows)

    with tape.use_cassette(cassette):  # landing the same page again lands nothing
        again = land.land(search.lines("tweepy-dev", "Tweepy", limit=10))
    assert again.summary() == {"read": 10, "landed": 0, "duplicates": 10, "dead_lettered": 0}
    assert len(stored(land.lake)) == 10


def test_search_pages_retries_and_sends_bounds_to_a_local_server(tmp_path, httpserver):
    now = datetime.now(UTC).replace(tzinfo=None)
    ids = [snowflake_at(now - timedelta(minutes=m)) for m in (5, 6, 7)]
    since = snowflake_at(now - timedelta(hours=1))
    expected = {"query": "fed rate cut", "max_results": "100", "since_id": str(since), **FIELDS}
    auth = {"Authorization": f"Bearer {TOKEN}"}

    def tweet(i):
        return {"id": str(i), "text": f"tweet {i}", "created_at": snowflake_time(i).isoformat() + "Z", "author_id": "7", "lang": "en"}

    users = {"users": [{"id": "7", "username": "fed_watcher", "verified": True, "public_metrics": {"followers_count": 99}}]}
    recent = "/2/tweets/search/recent"
    httpserver.expect_ordered_request(recent, query_string=expected, headers=auth).respond_with_json(
        {"title": "Too Many Requests"}, status=429, headers={"x-rate-limit-reset": str(int(time.time()) + 1)}
    )
    httpserver.expect_ordered_request(recent, query_string=expected).respond_with_json({"title": "Service Unavailable"}, status=503)
    httpserver.expect_ordered_request(recent, query_string=expected).respond_with_json(
        {"data": [tweet(ids[0]), tweet(ids[1])], "includes": users, "meta": {"result_count": 2, "next_token": "page-2"}}
    )
    httpserver.expect_ordered_request(recent, query_string={**expected, "next_token": "page-2"}).respond_with_json(
        {"data": [tweet(ids[2])], "includes": users, "meta": {"result_count": 1}}
    )
    settings = XSettings(bearer_token=TOKEN, api_url=httpserver.url_for("/").rstrip("/"), backoff_initial_s=0.05)
    search = XSearch(settings)
    land = landing(tmp_path)
    report = land.land(search.lines("fed-cut", "fed rate cut", SearchWindow(since_id=since)))
    httpserver.check_assertions()
    assert report.landed == 3 and report.newest_id == ids[0]
    rows = stored(land.lake)
    assert {r["author_username"] for r in rows} == {"fed_watcher"} and all(r["author_verified"] and r["author_followers"] == 99 for r in rows)
    why = [w for w, _ in search.retry.waits]
    assert len(why) == 2 and "x-rate-limit-reset" in why[0] and "TwitterServerError" in why[1]
    assert 0.9 <= search.retry.waits[0][1] <= 2.1


def test_search_window_sends_the_tighter_bound_and_stays_inside_seven_days():
    now = datetime(2026, 11, 25, 12, 0)
    recent_id, old_id = snowflake_at(now - timedelta(hours=2)), snowflake_at(now - timedelta(days=9))
    assert SearchWindow().params(now) == {}
    assert SearchWindow(since_id=recent_id, start_time=now - timedelta(days=1)).params(now) == {"since_id": recent_id}
    tighter_time = SearchWindow(since_id=recent_id, start_time=now - timedelta(hours=1)).params(now)
    assert tighter_time == {"start_time": (now - timedelta(hours=1)).replace(tzinfo=UTC)}
    floor = (now - timedelta(days=7) + timedelta(minutes=1)).replace(tzinfo=UTC)
    assert SearchWindow(since_id=old_id).params(now) == {"start_time": floor}  # X refuses a since_id older than 7 days
    assert SearchWindow(end_time=now).params(now) == {"end_time": (now - timedelta(seconds=10)).replace(tzinfo=UTC)}
    assert SearchWindow(until_id=recent_id, end_time=now - timedelta(minutes=1)).params(now) == {"until_id": recent_id}
    assert SearchWindow(start_time=now - timedelta(days=20), end_time=now - timedelta(days=10)).params(now) is None
    assert snowflake_time(gap_start(recent_id, 30)) == snowflake_time(recent_id) - timedelta(seconds=30)


def test_the_cli_backfills_every_configured_market_and_resumes_after_the_newest_stored_id(tmp_path, sentitrade):
    from tests.ingest_tweets.fake_x import FakeX

    markets = {"fed-cut": "fed rate cut", "btc-100k": "bitcoin 100k"}
    with FakeX(markets, TOKEN) as x:
        x.publish(250)  # more than two pages per market
        env = {"SENTITRADE_X_BEARER_TOKEN": TOKEN, "SENTITRADE_X_API_URL": x.url, "SENTITRADE_X_MARKETS": json.dumps(markets)}
        first = sentitrade("ingest", "tweets", "--data-dir", str(tmp_path), env=env)
        assert first.code == 0, first.stderr
        assert first.summary == {"read": 250, "landed": 250, "duplicates": 0, "dead_lettered": 0}
        assert "fed-cut: nothing stored yet, searched the last 7 days" in first.stdout
        x.publish(10)
        x.searches.clear()
        second = sentitrade("ingest", "tweets", "--data-dir", str(tmp_path), env=env)
        assert second.summary == {"read": 10, "landed": 10, "duplicates": 0, "dead_lettered": 0}
        newest = {tag: max(int(p["data"]["id"]) for p in x.published[:250] if p["matching_rules"][0]["tag"] == tag) for tag in markets}
        assert {s["query"]: int(s["since_id"]) for s in x.searches} == {markets[tag]: newest[tag] for tag in markets}
        one = sentitrade("ingest", "tweets", "--query", "bitcoin 100k", "--market", "btc", "--no-resume", "--limit", "20",
                         "--data-dir", str(tmp_path), env=env)
        assert one.summary == {"read": 20, "landed": 0, "duplicates": 20, "dead_lettered": 0}
    assert len(stored(Lake(tmp_path / "lake"))) == 260
