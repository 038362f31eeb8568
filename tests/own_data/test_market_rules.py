"""Mapping tweets to markets by the rules file: a tweet about two markets counts for both, a re-tag changes what
the features read (the scored tweets), and the live stream follows the same file's queries."""

from __future__ import annotations

import json
from collections import Counter
from datetime import date

from dagster import DagsterInstance, materialize

from connectors.lake import Lake
from connectors.x_api import XSettings
from models.ingest.rules import with_stored_rules
from orchestration.assets.score import scored_tweets
from orchestration.resources import LakeResource
from sentitrade.settings import Settings
from tests.conftest import last_json, one_line_error, run_cli

DAY = date(2026, 11, 10)  # inside the partitions of a code location loaded on no data
TWEETS = f"""id,created_at,text,user,followers
1,{DAY}T09:00:00Z,The Fed cuts rates and Bitcoin soars,ann,10
2,{DAY}T10:00:00Z,fed holds steady,bob,20
3,{DAY}T11:00:00Z,nothing about either,cat,30
4,{DAY}T12:00:00Z,a federal holiday: not a whole word,dan,40
"""
RULES = """markets:
  fed-cut:
    keywords: [fed, rate cut]
  btc-100k:
    regex: ['(?i)\\bbitcoin\\b']
    query: bitcoin lang:en
"""


def cli(data, *args):
    result = run_cli(*args, "--data-dir", str(data))
    assert result.returncode == 0, result.stderr
    return result


def scored_by_market(data) -> Counter:
    settings = Settings(data_dir=data)
    result = materialize([scored_tweets], partition_key=DAY.isoformat(), resources={"lake": LakeResource(root=str(settings.lake_dir))}, instance=DagsterInstance.ephemeral())
    assert result.success
    return Counter(Lake(settings.lake_dir).read("scored_tweets", DAY)["market"].to_pylist())


def test_rules_tag_landed_tweets_a_retag_changes_the_scores_and_the_stream_follows_them(tmp_path):
    data = tmp_path / "data"
    (tmp_path / "t.csv").write_text(TWEETS)
    (tmp_path / "rules.yaml").write_text(RULES)
    cli(data, "ingest", "tweets", "--from", str(tmp_path / "t.csv"), "--market", "imported")
    assert scored_by_market(data) == {"imported": 4}

    cli(data, "markets", "rules", "--from", str(tmp_path / "rules.yaml"))
    counts = last_json(cli(data, "markets", "map").stdout)
    assert counts == {"days": 1, "tweets": 4, "matched": 2, "unmatched": 2}
    lake = Lake(Settings(data_dir=data).lake_dir)
    pairs = sorted(zip(*(lake.read("tweet_markets", DAY)[c].to_pylist() for c in ("tweet_id", "market")), strict=True))
    assert pairs == [("1", "btc-100k"), ("1", "fed-cut"), ("2", "fed-cut")]  # tweet 1 counts for both
    assert scored_by_market(data) == {"fed-cut": 2, "btc-100k": 1, "imported": 2}
    assert len(lake.read("raw_tweets", DAY)) == 4  # the landed tweets themselves are unchanged

    (tmp_path / "rules.yaml").write_text("markets:\n  btc-100k:\n    keywords: [bitcoin]\n")
    cli(data, "markets", "rules", "--from", str(tmp_path / "rules.yaml"))
    cli(data, "markets", "map")
    assert scored_by_market(data) == {"btc-100k": 1, "imported": 3}
    assert with_stored_rules(XSettings(markets={"old": "q"}), lake).markets == {"btc-100k": "bitcoin"}


def test_a_bad_rules_file_is_one_line_and_keeps_the_stored_rules(tmp_path):
    data = tmp_path / "data"
    (tmp_path / "rules.yaml").write_text(RULES)
    cli(data, "markets", "rules", "--from", str(tmp_path / "rules.yaml"))
    lake = Lake(Settings(data_dir=data).lake_dir)
    before = lake.read("market_rules").to_pylist()
    for text, expected in (("markets:\n  x:\n    regex: ['(']\n", "does not compile"), ("markets: [a, b]\n", "expected `markets:`"),
                           ("markets:\n  x: {}\n", "has no keywords or regex"), ("a: [b\n", "is not YAML")):
        (tmp_path / "bad.yaml").write_text(text)
        line = one_line_error(run_cli("markets", "rules", "--from", str(tmp_path / "bad.yaml"), "--data-dir", str(data)))
        assert expected in line, line
    assert lake.read("market_rules").to_pylist() == before
    assert json.loads(json.dumps(before))[0]["market"] == "fed-cut"
