"""No lookahead: scrambling every tweet and price after t changes no feature or decision at or before t.

A generated replay (real wire formats, parsed and VADER-scored by the ingest code) goes through the real
feature SQL (`compute_features`, the macros dbt runs) and the real decision rule (`strategy.evaluate`).
Then everything strictly after a cut time t is scrambled (later tweets' sentiments, confidences and
authors shuffled, some deleted, new ones added; later prices replaced, deleted and added) and every
feature row and decision at or before t must come out bit-identical. Cuts include one exactly on a bar
boundary and one a microsecond before it; a tweet and a price sit exactly on each cut and one
microsecond after it, so an off-by-one at either edge would show.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

import duckdb
import numpy as np
import pandas as pd
import pytest

from connectors.replay.generator import ReplayConfig, generate_replay
from connectors.replay.source import ReplaySource
from models.features import compute_features, decision_grid
from models.ingest.markets import binary_markets, parse_gamma_market, prices_table
from models.ingest.tweets import parse_tweet
from models.sentiment.engine import SentimentEngine, score_tweets
from models.sentiment.settings import SentimentSettings
from models.strategy import Token, evaluate
from sentitrade.settings import StrategySettings

START = pd.Timestamp("2026-11-01")
DAY2 = START + pd.Timedelta(days=1)  # decisions on the second day: every window has its full 24 hours behind it
US = pd.Timedelta(microseconds=1)
CUTS = [
    DAY2 + pd.Timedelta(hours=6),  # exactly on a bar boundary and a decision time
    DAY2 + pd.Timedelta(hours=6) - US,  # a microsecond before it
    DAY2 + pd.Timedelta("13h27min41.123456s"),  # inside a bar
    DAY2 + pd.Timedelta("20h05min"),
]
RULE = StrategySettings(buy_above=0.55, sell_below=0.45, exit_at=0.5, min_tweets=5, min_price=0.05, max_price=0.95)


@pytest.fixture(scope="module")
def replay(tmp_path_factory) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Scored tweets, prices and decision times of a two-day, two-market replay, plus a tweet and a price
    exactly on every cut and a microsecond after it."""
    out = tmp_path_factory.mktemp("replay") / "replay"
    generate_replay(out, ReplayConfig(seed=3, markets=2, days=2, tweets_per_day=3000))
    source = ReplaySource(out)
    raw = pd.DataFrame([parse_tweet(line) for day in source.days for line in source.tweet_lines(day)])
    tweets = score_tweets(raw, SentimentEngine(SentimentSettings(transformer=""))).to_pandas()
    span = (int(datetime.combine(source.days[0], datetime.min.time(), UTC).timestamp()), 2**31)
    rows = [parse_gamma_market(m) for m in binary_markets(source.gamma_markets()).markets]
    prices = pd.concat([prices_table(m["market"], m["yes_token_id"], source.prices_history(m["yes_token_id"], *span))
                        .to_pandas() for m in rows], ignore_index=True)
    markets = sorted(tweets["market"].unique())
    edges = [t + d for t in CUTS for d in (pd.Timedelta(0), US)]
    planted = pd.DataFrame([{**tweets.iloc[0].to_dict(), "tweet_id": f"edge-{m}-{i}", "market": m, "created_at": t,
                             "sentiment": 0.9 if i % 2 else -0.9} for m in markets for i, t in enumerate(edges)])
    tweets = pd.concat([tweets, planted], ignore_index=True).astype({"created_at": "datetime64[us]"})
    edge_prices = pd.DataFrame([{"market": m, "token_id": "", "ts": t, "price": 0.5} for m in markets for t in edges])
    prices = pd.concat([prices, edge_prices], ignore_index=True).astype({"ts": "datetime64[us]"})
    grid = [*decision_grid(DAY2, prices["ts"].max()), *CUTS]
    times = pd.DataFrame([(m, t) for m in markets for t in grid], columns=["market", "ts"])
    return tweets, prices, times.astype({"ts": "datetime64[us]"})


def scramble(tweets: pd.DataFrame, prices: pd.DataFrame, t: pd.Timestamp,
             seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Everything strictly after t made up: what the future could have been instead."""
    rng = np.random.default_rng(seed)
    tweets, prices = tweets.copy(), prices.copy()
    later = tweets["created_at"] > t
    for column in ("sentiment", "author_followers", "author_verified"):
        tweets.loc[later, column] = rng.permutation(tweets.loc[later, column].to_numpy())
    tweets.loc[later, "confidence"] = rng.uniform(0, 1, later.sum())
    tweets = tweets.drop(tweets.index[later][rng.random(later.sum()) < 0.3])
    end = tweets["created_at"].max()
    offsets = np.r_[rng.uniform(0, 300e6, 50), rng.uniform(0, (end - t) / US, 500)].astype("int64") + 1
    added = tweets.sample(len(offsets), replace=True, random_state=seed).assign(
        created_at=t + pd.to_timedelta(offsets, unit="us"), sentiment=rng.uniform(-1, 1, len(offsets)),
        tweet_id=[f"new-{i}" for i in range(len(offsets))])
    tweets = pd.concat([tweets, added], ignore_index=True)

    later = prices["ts"] > t
    prices.loc[later, "price"] = rng.uniform(0.01, 0.99, later.sum())
    prices = prices.drop(prices.index[later][rng.random(later.sum()) < 0.2])
    new_prices = prices.sample(200, replace=True, random_state=seed).assign(
        ts=t + pd.to_timedelta(rng.integers(1, 600e6, 200), unit="us"), price=rng.uniform(0.01, 0.99, 200))
    return tweets, pd.concat([prices, new_prices], ignore_index=True)


def features(tweets: pd.DataFrame, prices: pd.DataFrame, times: pd.DataFrame) -> pd.DataFrame:
    """One DuckDB thread, as the trader runs it: sums in one order, so equal inputs give equal bits."""
    return compute_features(duckdb.connect(config={"threads": 1}), tweets, prices, times)


def decisions(feats: pd.DataFrame) -> pd.DataFrame:
    """The decision rule run in time order per market, the held token carried from one decision to the next;
    p_up is a fixed logistic of the last hour's sentiment."""
    rows = []
    for market, group in feats.dropna(subset=["price"]).groupby("market"):
        held: Token | None = None
        for row in group.sort_values("ts").itertuples(index=False):
            p_up = 1 / (1 + math.exp(-6 * row.sent_mean_1h))
            verdict = evaluate(p_up, int(row.n_tweets_1h), row.price, RULE, held)
            wanted = verdict.signal.token
            held = wanted if wanted == held or not verdict.entry_blocks else None
            rows.append((market, row.ts, verdict.signal.value, verdict.reason, verdict.entry_blocks, held))
    return pd.DataFrame(rows, columns=["market", "ts", "signal", "reason", "blocks", "held"])


@pytest.fixture(scope="module")
def baseline(replay):
    feats = features(*replay)
    return feats, decisions(feats)


def test_the_baseline_is_not_trivial(replay, baseline):
    feats, decided = baseline
    assert len(feats) == len(replay[2].drop_duplicates()) and feats["price"].notna().all()
    assert feats["n_tweets_1h"].min() > 0 and feats["sent_mean_1h"].std() > 0.05
    assert set(decided["signal"]) == {"BUY", "SELL", "HOLD"} and decided["held"].notna().any()


@pytest.mark.parametrize("cut", CUTS, ids=str)
def test_scrambling_after_t_changes_nothing_at_or_before_t(replay, baseline, cut):
    tweets, prices, times = replay
    feats, decided = baseline
    scrambled = features(*scramble(tweets, prices, cut, seed=CUTS.index(cut)), times)
    before, after = feats["ts"] <= cut, feats["ts"] > cut
    assert before.sum() > 50 and after.sum() > 50
    pd.testing.assert_frame_equal(scrambled[before.to_numpy()], feats[before], check_exact=True)
    assert not scrambled[after.to_numpy()].reset_index(drop=True).equals(feats[after].reset_index(drop=True))

    redecided = decisions(scrambled)
    pd.testing.assert_frame_equal(redecided[(redecided["ts"] <= cut).to_numpy()], decided[decided["ts"] <= cut])
    assert not redecided[redecided["ts"] > cut].reset_index(drop=True).equals(
        decided[decided["ts"] > cut].reset_index(drop=True))
