"""Labeled tweets for training and judging scorers, and the split and classes they are judged by.

The first labeled set is the VADER paper's 4,200 human-rated tweets (tab-separated: id, mean
rating on -4..4, text; no header, CRLF, literal quotes). Three classes come from the mean rating
with the paper's neutral band, ±0.05 on mean/4, i.e. |mean| <= 0.2 is neutral. Any other set is a
CSV or Parquet file with `text` and `label` (negative/neutral/positive) columns and optionally `id`.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd

CLASSES = ("negative", "neutral", "positive")
NEUTRAL_RATING = 0.2  # |mean rating| <= 0.2 on the -4..4 scale: the paper's ±0.05 band on mean/4
NEUTRAL_SCORE = 0.05  # |score| < 0.05 on [-1, 1] is neutral: VADER's own convention for its compound
HOLDOUT_SHARE = 0.2


def rating_class(rating: float) -> str:
    return "positive" if rating > NEUTRAL_RATING else "negative" if rating < -NEUTRAL_RATING else "neutral"


def score_class(score: float) -> str:
    return "positive" if score >= NEUTRAL_SCORE else "negative" if score <= -NEUTRAL_SCORE else "neutral"


def read_ground_truth(path: Path) -> pd.DataFrame:
    """id, rating, text, label from the paper's `tweets_GroundTruth.txt` (split on tabs: quotes are literal)."""
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    rows = [line.split("\t", 2) for line in lines if line.strip()]
    frame = pd.DataFrame(rows, columns=["id", "rating", "text"]).astype({"id": "int64", "rating": "float64"})
    return frame.assign(label=frame["rating"].map(rating_class))


def read_labeled(path: Path) -> pd.DataFrame:
    """Any supported labeled set as id, text, label (and rating when the source has one)."""
    path = Path(path)
    if path.suffix in {".txt", ".tsv"}:
        return read_ground_truth(path)
    frame = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
    missing = {"text", "label"} - set(frame.columns)
    if missing:
        raise ValueError(f"{path} has no {', '.join(sorted(missing))} column; expected text and label ({'/'.join(CLASSES)})")
    unknown = set(frame["label"]) - set(CLASSES)
    if unknown:
        raise ValueError(f"{path} has labels {sorted(map(str, unknown))}; expected {'/'.join(CLASSES)}")
    return frame.assign(id=frame["id"] if "id" in frame else range(len(frame)))


def holdout_mask(ids) -> np.ndarray:
    """True for the held-out fold: a hash of the id, so the split is stable as a set grows or is reordered."""
    share = [int.from_bytes(hashlib.sha256(str(i).encode()).digest()[:8], "big") / 2**64 for i in ids]
    return np.asarray(share) < HOLDOUT_SHARE


def macro_f1(true, predicted) -> float:
    from sklearn.metrics import f1_score

    return float(f1_score(list(true), list(predicted), labels=list(CLASSES), average="macro", zero_division=0))
