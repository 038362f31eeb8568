"""Score: the sentiment of each tweet, in [-1, 1], with a confidence in [0, 1] and the scorer's name.

The same function scores the offline `scored_tweets` asset and the trader's live tweets, so a
feature means the same thing on both sides.
"""

from __future__ import annotations

import re
from functools import lru_cache

import emoji
import pandas as pd
import pyarrow as pa
from vaderSentiment import vaderSentiment

from connectors.lake import SCORED_TWEETS

_URL = re.compile(r"https?://\S+")
_MENTION = re.compile(r"@\w+")
SCORER = "vader-3.3.2"


def preprocess(text: str) -> str:
    """URLs removed, mentions normalized, emoji turned into words; cashtags and hashtags kept."""
    text = _MENTION.sub("@user", _URL.sub("", text))
    return emoji.demojize(text, delimiters=(" ", " ")).replace("_", " ").strip()


@lru_cache(maxsize=1)
def _vader() -> vaderSentiment.SentimentIntensityAnalyzer:
    return vaderSentiment.SentimentIntensityAnalyzer()


def score_texts(texts) -> list[float]:
    analyzer = _vader()
    return [analyzer.polarity_scores(preprocess(text))["compound"] for text in texts]


def score_tweets(raw: pd.DataFrame) -> pa.Table:
    """raw_tweets rows -> scored_tweets rows (VADER alone: confidence 1)."""
    scored = pd.DataFrame(
        {
            "tweet_id": raw["tweet_id"],
            "created_at": raw["created_at"],
            "market": raw["market"],
            "author_followers": raw["author_followers"].astype("int64"),
            "author_verified": raw["author_verified"].astype(bool),
            "sentiment": score_texts(raw["text"]),
            "confidence": 1.0,
            "scorer": SCORER,
        }
    )
    return pa.Table.from_pandas(scored, schema=SCORED_TWEETS, preserve_index=False)
