"""The replay generator: deterministic, in the real wire formats, readable like the live APIs."""

from __future__ import annotations

import hashlib
import json
from datetime import date
from pathlib import Path

import pytest

from connectors.replay import ReplayConfig, ReplaySource, generate_replay
from connectors.replay.source import ReplayNotFoundError
from models.ingest import markets_table, parse_tweet

SMALL = ReplayConfig(seed=3, markets=2, days=3, tweets_per_day=600)


def _digest(folder: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            h.update(path.relative_to(folder).as_posix().encode() + path.read_bytes())
    return h.hexdigest()


def test_same_seed_same_bytes_other_seed_other_data(tmp_path):
    generate_replay(tmp_path / "a", SMALL)
    generate_replay(tmp_path / "b", SMALL)
    generate_replay(tmp_path / "c", ReplayConfig(seed=4, markets=2, days=3, tweets_per_day=600))
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    assert _digest(tmp_path / "a") != _digest(tmp_path / "c")


def test_tweets_are_filtered_stream_payloads_in_time_order(tmp_path):
    manifest = generate_replay(tmp_path / "r", SMALL)
    source = ReplaySource(tmp_path / "r")
    lines = [line for day in source.days for line in source.tweet_lines(day)]
    assert len(lines) == manifest["tweets"] and 1500 <= len(lines) <= 2100
    payload = json.loads(lines[0])
    assert {"id", "text", "created_at", "author_id", "lang", "public_metrics"} <= payload["data"].keys()
    user = payload["includes"]["users"][0]
    assert user["id"] == payload["data"]["author_id"] and "followers_count" in user["public_metrics"]
    assert payload["matching_rules"][0]["tag"] in {m["slug"] for m in source.gamma_markets()}
    rows = [parse_tweet(line) for line in lines]
    assert [r["created_at"] for r in rows] == sorted(r["created_at"] for r in rows)
    assert len({r["tweet_id"] for r in rows}) == len(rows)
    assert int(rows[-1]["tweet_id"]) > int(rows[0]["tweet_id"])  # snowflake ids grow with time


def test_markets_and_prices_in_gamma_and_clob_shapes(tmp_path):
    generate_replay(tmp_path / "r", SMALL)
    source = ReplaySource(tmp_path / "r")
    gamma = source.gamma_markets()
    assert all(isinstance(m["clobTokenIds"], str) and isinstance(m["outcomes"], str) for m in gamma)  # JSON-encoded
    table = markets_table(gamma)
    assert table.num_rows == 2 and set(table["fees_enabled"].to_pylist()) == {True, False}
    token = table["yes_token_id"][0].as_py()
    start = 1793491200  # 2026-11-01T00:00:00Z
    history = source.prices_history(token, start, start + 3600)["history"]
    assert [p["t"] for p in history] == [start + 300 * k for k in range(12)]
    assert all(0 < p["p"] < 1 for p in history)
    assert source.prices_history("no-such-token", start, start + 3600) == {"history": []}


def test_control_set_keeps_tweets_but_changes_prices(tmp_path):
    generate_replay(tmp_path / "s", SMALL)
    generate_replay(tmp_path / "n", ReplayConfig(seed=3, markets=2, days=3, tweets_per_day=600, signal=False))
    day = date(2026, 11, 2)
    assert list(ReplaySource(tmp_path / "s").tweet_lines(day)) == list(ReplaySource(tmp_path / "n").tweet_lines(day))
    token = json.loads(ReplaySource(tmp_path / "s").gamma_markets()[0]["clobTokenIds"])[0]
    assert (tmp_path / "s" / "prices" / f"{token}.json").read_text() != (tmp_path / "n" / "prices" / f"{token}.json").read_text()


def test_bad_sizes_and_missing_data_set_are_named(tmp_path):
    with pytest.raises(ValueError, match="markets must be positive"):
        ReplayConfig(markets=0)
    with pytest.raises(ReplayNotFoundError, match="sentitrade demo"):
        ReplaySource(tmp_path)
