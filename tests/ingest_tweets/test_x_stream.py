"""The live path: the real tweepy StreamingClient against a local filtered-stream server that drops
the connection twice, answers 429 and 503, and stalls once; every tweet it emitted is stored once."""

from __future__ import annotations

import threading
import time

import pyarrow.parquet as pq

from connectors.lake import Lake
from connectors.x_api import XSettings
from connectors.x_stream import LiveStream
from models.ingest.landing import TABLE, DeadLetters, TweetLanding, dead_letter_path
from tests.ingest_tweets.fake_x import FakeX

MARKETS = {"fed-cut": "fed rate cut -is:retweet", "btc-100k": "bitcoin 100k lang:en"}
TOKEN = "test-bearer-token-7f3a"


def stored_ids(lake: Lake) -> list[str]:
    return [tid for day in lake.days(TABLE) for tid in pq.read_table(lake.path(TABLE, day), columns=["tweet_id"])["tweet_id"].to_pylist()]


def settings(url: str) -> XSettings:
    return XSettings(
        bearer_token=TOKEN, markets=MARKETS, api_url=url, stall_timeout_s=0.5, backoff_initial_s=0.05,
        backoff_max_s=0.4, flush_interval_s=0.2, gap_overlap_s=30, search_lag_s=0.3,
    )


def test_stream_survives_drops_429_503_and_a_stall_and_stores_every_tweet_once(tmp_path):
    lake = Lake(tmp_path / "lake")
    stale = [{"id": "1", "value": "old query", "tag": "gone-market"}, {"id": "2", "value": MARKETS["fed-cut"], "tag": "fed-cut"}]
    with FakeX(MARKETS, TOKEN, rules=stale) as x:
        x.script = [
            ("stream", [("tweets", 5), ("keepalive", None), ("tweets", 3), ("drop", None)]),  # drop 1: mid-line
            ("status", 429, lambda now: {"x-rate-limit-reset": str(int(now) + 1)}),
            ("status", 503, lambda now: {}),
            ("stream", [("publish", 4), ("tweets", 4), ("stall", 1.5)]),  # 4 tweets made while away, then a stall
            ("stream", [("publish", 2), ("tweets", 3), ("close", None)]),  # drop 2: X ends the stream
            ("idle", [("publish", 3), ("tweets", 5)]),
        ]
        landing = TweetLanding(lake, DeadLetters(dead_letter_path(lake, "stream"), "stream"))
        stream = LiveStream(settings(x.url), landing)
        runner = threading.Thread(target=stream.run, daemon=True)
        started = time.monotonic()
        runner.start()
        expected = lambda: {p["data"]["id"] for p in x.published}  # noqa: E731
        while time.monotonic() - started < 30 and (x.script or set(stored_ids(lake)) != expected()):
            time.sleep(0.1)
        stream.stop()
        runner.join(timeout=10)
        assert not runner.is_alive()

    ids = stored_ids(lake)
    assert len(ids) == len(set(ids)) == len(x.published) == 5 + 3 + 1 + 4 + 4 + 2 + 3 + 3 + 5
    assert set(ids) == expected()
    report = stream.report
    assert report.failures == {"dropped": 1, "http 429": 1, "http 503": 1, "stalled": 1, "closed": 1}
    assert report.connects == 4 and x.connections == 6
    rate_waits = [s for why, s in stream.retry.waits if "x-rate-limit-reset" in why]
    assert len(rate_waits) == 1 and 0.9 <= rate_waits[0] <= 2.1
    # the tweets made while away, and the one cut off mid-line, came only by the gap searches
    assert expected() - x.streamed <= set(ids) and len(expected() - x.streamed) == 1 + 4 + 2 + 3
    assert report.backfilled >= len(expected() - x.streamed) and report.landing.duplicates > 0
    assert sorted((r["value"], r["tag"]) for r in x.rules.values()) == sorted((q, t) for t, q in MARKETS.items())
    assert report.rules.deleted == ["gone-market"] and report.rules.added == ["btc-100k"]
    assert x.unauthorized == 0 and report.landing.dead_lettered == 0
    assert time.monotonic() - started < 20
