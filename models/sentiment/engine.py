"""The scoring stage: sanitize and preprocess once, VADER on every tweet, the transformer where VADER
is not neutral, and the seed's ensemble of the two.

`score_tweets` is the one call the `scored_tweets` asset and the trader share. Defaults (no
transformer configured) give VADER alone with confidence 1, as the seed did, at VADER's speed.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow as pa

from connectors.lake import SCORED_TWEETS
from models.sentiment.settings import SentimentSettings
from models.sentiment.vader import VADER, available_cores, clean_and_score

if TYPE_CHECKING:  # torch and transformers cost seconds to import: only when a transformer is configured
    from models.sentiment.transformer import TransformerScorer

ENGLISH = {"en", "und", "zxx", "qme", "qam", ""}  # X API v2 `lang`: undetermined, no text, media or mentions only


@dataclass(frozen=True)
class Scores:
    """Per text: sentiment in [-1, 1], confidence in [0, 1], the scorer that produced it, and why
    the text needed attention (None when it did not)."""

    sentiment: np.ndarray
    confidence: np.ndarray
    scorer: list[str]
    notes: list[str | None]


@dataclass(frozen=True)
class ScoredBatch:
    """A `scored_tweets` table and the rows that needed attention, as (tweet_id, reason)."""

    table: pa.Table
    notes: list[tuple[str, str]]


def ensemble(vader: np.ndarray, transformer: np.ndarray, vader_weight: float, transformer_weight: float):
    """The seed's ensemble: the weighted mean, and confidence 1 - |disagreement| clipped to [0, 1]."""
    sentiment = (vader_weight * vader + transformer_weight * transformer) / (vader_weight + transformer_weight)
    return sentiment, np.clip(1.0 - np.abs(vader - transformer), 0.0, 1.0)


class SentimentEngine:
    """VADER, optionally gated into a transformer; one instance per configuration and process."""

    def __init__(self, settings: SentimentSettings, transformer: TransformerScorer | None = None):
        self.settings = settings
        self.transformer = transformer
        self.workers = settings.workers or available_cores()

    @property
    def ensemble_identity(self) -> str | None:
        """What ensemble rows record: both scorers with their weights, e.g. `vader-3.3.2*0.3+finbert@ab12*0.7`."""
        if self.transformer is None:
            return None
        return f"{VADER}*{self.settings.vader_weight:g}+{self.transformer.identity}*{self.settings.transformer_weight:g}"

    def score(self, texts: Sequence, langs: Sequence | None = None) -> Scores:
        """Score every text; bad input gets a score and a note, never an exception."""
        cleaned, notes, compounds = clean_and_score(list(texts), self.workers)
        vader = np.asarray(compounds, dtype=np.float64)
        sentiment, confidence = vader.copy(), np.ones(len(vader))
        scorer = [VADER] * len(vader)
        empty = np.array([not t for t in cleaned], dtype=bool)
        confidence[empty] = 0.0  # nothing to read: a neutral score that weighs nothing in the features
        for i in np.flatnonzero(empty):
            notes[i] = _join(notes[i], "empty after preprocessing: sentiment 0, confidence 0")
        for i, lang in enumerate(langs if langs is not None else []):
            if isinstance(lang, str) and lang.lower() not in ENGLISH:
                notes[i] = _join(notes[i], f"lang={lang}: the scorers read English; the score may understate tone")
        if self.transformer is not None:
            gated = np.flatnonzero((np.abs(vader) > self.settings.gate) & ~empty)
            if len(gated):
                t = self.transformer.scores([cleaned[i] for i in gated])
                s = self.settings
                sentiment[gated], confidence[gated] = ensemble(vader[gated], t, s.vader_weight, s.transformer_weight)
                for i in gated:
                    scorer[i] = self.ensemble_identity
        return Scores(sentiment, confidence, scorer, notes)


def _join(note: str | None, more: str) -> str:
    return f"{note}; {more}" if note else more


def _tracking_uri() -> str:
    from sentitrade.settings import Settings

    return Settings().tracking_uri


def scorer_version(settings: SentimentSettings | None = None) -> str:
    """The configured scorer's identity, cheap enough for an asset's `code_version`: a change of
    model, weights, quantization, gate or weights makes Dagster see scored tweets as stale."""
    settings = settings or SentimentSettings()
    if not settings.transformer:
        return VADER
    from models.sentiment.transformer import identify, int8_recipe

    try:
        model = identify(settings.transformer, _tracking_uri())
    except Exception as exc:  # noqa: BLE001 - an unreachable registry must not break the code location
        model = f"{settings.transformer}@unresolved({type(exc).__name__})"
    int8 = f":{int8_recipe()}" if settings.int8 and settings.device == "cpu" else ""
    return f"{VADER}*{settings.vader_weight:g}+{model}{int8}*{settings.transformer_weight:g}|gate>{settings.gate:g}"


@lru_cache(maxsize=4)
def engine_for(settings: SentimentSettings) -> SentimentEngine:
    """Build (once per configuration) the engine, falling back to VADER alone, with one warning,
    when the transformer's weights cannot be loaded (no network, no cache, no such version)."""
    if not settings.transformer:
        return SentimentEngine(settings)
    from models.sentiment.transformer import LabelMappingError, TransformerScorer, TransformerUnavailable

    try:
        transformer = TransformerScorer.load(settings.transformer, settings, _tracking_uri())
    except LabelMappingError:
        raise  # a misconfigured model is the user's to fix, not a reason to trade on something else
    except Exception as exc:  # noqa: BLE001 - hub, filesystem and registry errors all mean "not available"
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        warnings.warn(
            f"sentiment transformer {settings.transformer!r} could not be loaded ({type(exc).__name__}: {first_line}); "
            f"scoring with VADER alone and recording scorer={VADER}",
            TransformerUnavailable,
            stacklevel=2,
        )
        transformer = None
    return SentimentEngine(settings, transformer)


def score_texts(texts: Sequence, engine: SentimentEngine | None = None) -> list[float]:
    """Sentiment of each text with the configured engine."""
    return (engine or engine_for(SentimentSettings())).score(texts).sentiment.tolist()


def score_batch(raw: pd.DataFrame, engine: SentimentEngine | None = None) -> ScoredBatch:
    """raw_tweets rows -> scored_tweets rows, with a note for each row whose text needed attention."""
    scores = (engine or engine_for(SentimentSettings())).score(raw["text"].tolist(), raw["lang"].tolist() if "lang" in raw else None)
    scored = pd.DataFrame(
        {
            "tweet_id": raw["tweet_id"],
            "created_at": raw["created_at"],
            "market": raw["market"],
            "author_followers": raw["author_followers"].astype("int64"),
            "author_verified": raw["author_verified"].astype(bool),
            "sentiment": scores.sentiment,
            "confidence": scores.confidence,
            "scorer": scores.scorer,
        }
    )
    notes = [(str(tweet_id), note) for tweet_id, note in zip(raw["tweet_id"], scores.notes, strict=True) if note]
    return ScoredBatch(pa.Table.from_pandas(scored, schema=SCORED_TWEETS, preserve_index=False), notes)


def score_tweets(raw: pd.DataFrame, engine: SentimentEngine | None = None) -> pa.Table:
    """raw_tweets rows -> scored_tweets rows: the call the offline asset and the trader share."""
    return score_batch(raw, engine).table
