"""One cleaning pass per tweet; bad input gets a score and a reason, never an exception."""

from __future__ import annotations

import json

from models.sentiment import SCORER, preprocess, sanitize, score_batch
from models.sentiment.preprocess import MAX_CHARS


def test_seed_preprocessing_keeps_cashtags_and_hashtags():
    text = preprocess("@PolymarketWhale $BTC to the moon 🚀 #bitcoin https://t.co/abc123")
    assert text == "@user $BTC to the moon  rocket  #bitcoin"


def test_sanitize_names_what_it_changed():
    assert sanitize("fine") == ("fine", None)
    assert sanitize(None) == ("", "no text")
    assert sanitize(float("nan")) == ("", "no text")
    text, why = sanitize(b"caf\xe9 \xff good")
    assert text == "caf\ufffd \ufffd good" and "invalid UTF-8" in why
    assert sanitize("café".encode()) == ("café", None)
    lone = json.loads('"great \\ud83d news"')  # what a truncated emoji in a JSON payload decodes to
    text, why = sanitize(lone)
    assert text == "great \ufffd news" and "lone ones replaced" in why
    assert sanitize("\ud83d\ude80")[0] == "🚀"  # a pair split into two code points is joined again
    text, why = sanitize("x" * 10_000)
    assert len(text) == MAX_CHARS and "truncated from 10,000" in why


def test_a_batch_of_bad_input_is_scored_row_by_row(raw_tweets):
    texts = ["", "🚀🚀🔥", "great " * 2_000, "c'est une catastrophe totale", b"\xff\xfe bad", json.loads('"\\udc80 awful"'),
             None, "https://t.co/only-a-link", "love it"]
    batch = score_batch(raw_tweets(texts, langs=["en", "und", "en", "fr", "en", "en", "en", "en", "en"]))
    scored = batch.table.to_pandas()
    assert len(scored) == len(texts) and scored["sentiment"].between(-1, 1).all() and scored["confidence"].between(0, 1).all()
    assert set(scored["scorer"]) == {SCORER}
    notes = dict(batch.notes)
    assert "empty after preprocessing" in notes["0"] and scored["confidence"][0] == 0.0
    assert "1" not in notes and scored["sentiment"][1] != 0  # emoji become words VADER can read
    assert "truncated" in notes["2"] and scored["sentiment"][2] > 0.5
    assert "lang=fr" in notes["3"]
    assert "invalid UTF-8" in notes["4"] and scored["sentiment"][4] < 0
    assert "lone ones replaced" in notes["5"] and scored["sentiment"][5] < 0
    assert "no text" in notes["6"] and "empty after preprocessing" in notes["7"]
    assert "8" not in notes and scored["sentiment"][8] > 0
    assert score_batch(raw_tweets([])).table.num_rows == 0


def test_the_ascii_shortcut_preprocesses_the_real_tweets_exactly_as_the_emoji_tokenizer_does():
    """ASCII text holds no emoji, so skipping `demojize` on it must change nothing: checked on the
    3,232 real tweets, emoji and all."""
    import csv
    import re

    import emoji

    from tests.conftest import SHARED_DATA

    with open(SHARED_DATA / "tweets" / "fivethirtyeight_realDonaldTrump.csv", encoding="utf-8", errors="replace") as handle:
        texts = [row["text"] for row in csv.DictReader(handle) if row.get("text")]

    def through_the_tokenizer(text: str) -> str:
        text = re.sub(r"@\w+", "@user", re.sub(r"https?://\S+", "", text))
        return emoji.demojize(text, delimiters=(" ", " ")).replace("_", " ").strip()

    assert len(texts) > 3000 and any(not t.isascii() for t in texts)
    assert [preprocess(t) for t in texts] == [through_the_tokenizer(t) for t in texts]
