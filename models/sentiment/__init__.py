"""Score: the sentiment of each tweet, in [-1, 1], with a confidence in [0, 1] and the scorer's identity.

The same function scores the offline `scored_tweets` asset and the trader's live tweets, so a
feature means the same thing on both sides. VADER alone by default; a Hugging Face classifier
(FinBERT, a fine-tuned model from the registry) joins it when `SENTITRADE_SENTIMENT_TRANSFORMER`
names one. Modules: `preprocess`, `vader`, `transformer`, `engine` (gate + ensemble + tables),
`finetune` (training a scorer), `data` (labeled tweets), `settings`.
"""

from models.sentiment.engine import (
    ScoredBatch,
    SentimentEngine,
    engine_for,
    score_batch,
    score_texts,
    score_tweets,
    scorer_version,
)
from models.sentiment.preprocess import preprocess, sanitize
from models.sentiment.settings import SentimentSettings
from models.sentiment.vader import VADER

SCORER = VADER  # the default scorer's identity (no transformer configured)

__all__ = [
    "SCORER",
    "VADER",
    "ScoredBatch",
    "SentimentEngine",
    "SentimentSettings",
    "engine_for",
    "preprocess",
    "sanitize",
    "score_batch",
    "score_texts",
    "score_tweets",
    "scorer_version",
]
