"""Ingest parsing: good records land, bad ones become dead letters with a reason, real Gamma objects parse."""

from __future__ import annotations

import json

import pytest

from models.ingest import BadRecord, markets_table, parse_gamma_market, parse_tweet, prices_table, tweets_table
from tests.conftest import SHARED_DATA

GOOD = {
    "data": {"id": "1", "text": "great news", "created_at": "2026-11-01T10:00:00.000Z", "author_id": "9", "lang": "en",
             "public_metrics": {"like_count": 2, "retweet_count": 1}},
    "includes": {"users": [{"id": "9", "username": "a", "verified": True, "public_metrics": {"followers_count": 50}}]},
    "matching_rules": [{"id": "r", "tag": "fed-cut-december"}],
}


def test_stream_payload_becomes_a_raw_row():
    row = parse_tweet(json.dumps(GOOD))
    assert row["tweet_id"] == "1" and row["market"] == "fed-cut-december"
    assert row["author_followers"] == 50 and row["author_verified"] is True
    assert row["created_at"].isoformat() == "2026-11-01T10:00:00"


@pytest.mark.parametrize(
    "line, reason",
    [
        ('{"data": {"id": "1", "text": "x"', "not valid JSON"),
        ("[]", "no `data` object"),
        (json.dumps({"data": {"id": "1", "created_at": "2026-11-01T00:00:00Z"}}), "data.text"),
        (json.dumps({"data": {"id": 5, "text": "x", "created_at": "2026-11-01T00:00:00Z"}}), "data.id"),
        (json.dumps({"data": {"id": "1", "text": "x", "created_at": "yesterday"}}), "ISO-8601"),
    ],
)
def test_bad_lines_are_named(line, reason):
    with pytest.raises(BadRecord, match=reason):
        parse_tweet(line)


def test_batch_deduplicates_and_dead_letters_without_stopping():
    lines = [json.dumps(GOOD), "not json", json.dumps(GOOD), json.dumps({**GOOD, "data": {**GOOD["data"], "id": "2"}})]
    batch = tweets_table(lines)
    assert batch.table["tweet_id"].to_pylist() == ["1", "2"]
    assert batch.duplicates == 1
    assert [d["line"] for d in batch.dead_letters] == [2] and "not valid JSON" in batch.dead_letters[0]["reason"]


def test_real_recorded_gamma_markets_parse():
    folder = SHARED_DATA / "polymarket-fixtures" / "gamma-markets"
    live = json.loads((folder / "nautilus__gamma_market_live.json").read_text())
    row = parse_gamma_market(live)
    assert row["yes_token_id"] == json.loads(live["clobTokenIds"])[0]
    assert row["tick_size"] == 0.001 and row["neg_risk"] is True
    assert row["fee_rate"] == live["feeSchedule"]["rate"] == 0.04
    listed = json.loads((folder / "polymarket-agents__ten_markets.json").read_text())
    assert markets_table(listed).num_rows == len(listed) == 10


def test_non_binary_market_is_refused_with_its_slug():
    legacy = json.loads((SHARED_DATA / "polymarket-fixtures" / "gamma-markets" / "nautilus__gamma_market_closed_nonbinary_legacy.json").read_text())
    with pytest.raises(BadRecord, match="binary Yes/No"):
        parse_gamma_market(legacy)


def test_prices_outside_unit_interval_are_refused():
    assert prices_table("m", "t", {"history": [{"t": 1793491200, "p": 0.42}]}).num_rows == 1
    with pytest.raises(BadRecord, match="outside"):
        prices_table("m", "t", {"history": [{"t": 1793491200, "p": 1.5}]})
