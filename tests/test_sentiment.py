"""Scoring: preprocessing as specified, VADER's sign on plain text, the scored table's shape."""

from __future__ import annotations

import pandas as pd

from models.sentiment import SCORER, preprocess, score_texts, score_tweets


def test_preprocessing_drops_urls_normalizes_mentions_and_spells_emoji():
    text = preprocess("@PolymarketWhale $BTC to the moon 🚀 #bitcoin https://t.co/abc123")
    assert "https" not in text and "@user" in text and "PolymarketWhale" not in text
    assert "rocket" in text and "$BTC" in text and "#bitcoin" in text


def test_vader_reads_the_tone():
    positive, negative, neutral = score_texts(["this is great news, love it", "awful, a total disaster", "meeting at 3pm"])
    assert positive > 0.5 and negative < -0.5 and neutral == 0.0


def test_scored_table_keeps_ids_and_names_the_scorer():
    raw = pd.DataFrame(
        {"tweet_id": ["1", "2"], "created_at": pd.to_datetime(["2026-11-01 00:00", "2026-11-01 00:01"]), "text": ["good", "bad"],
         "market": ["m", "m"], "author_followers": [10, 20], "author_verified": [False, True]}
    )
    scored = score_tweets(raw).to_pandas()
    assert scored["tweet_id"].tolist() == ["1", "2"]
    assert scored["sentiment"].iloc[0] > 0 > scored["sentiment"].iloc[1]
    assert set(scored["scorer"]) == {SCORER}
