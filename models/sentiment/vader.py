"""VADER, the scorer that is always there: sanitizing, preprocessing and compound score, across processes.

VADER is pure Python, so threads do not help; a large batch (a day's partition) is split across
forked worker processes, which inherit the already-built analyzer instead of reloading the lexicon.
Small batches (the trader's few tweets per decision) stay in-process, where a fork would cost more
than it saves.
"""

from __future__ import annotations

import math
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from functools import lru_cache
from importlib.metadata import version

from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from models.sentiment.preprocess import preprocess, sanitize

VADER = f"vader-{version('vaderSentiment')}"
PARALLEL_MIN_ROWS = 2_000
CHUNKS_PER_WORKER = 4  # smaller chunks even out the workers when a 2-core machine is shared


@lru_cache(maxsize=1)
def _analyzer() -> SentimentIntensityAnalyzer:
    return SentimentIntensityAnalyzer()


def _score_chunk(values: list) -> tuple[list[str], list[str | None], list[float]]:
    analyzer = _analyzer()
    sanitized, notes = zip(*map(sanitize, values), strict=True) if values else ((), ())
    cleaned = [preprocess(text) for text in sanitized]
    return cleaned, list(notes), [analyzer.polarity_scores(text)["compound"] for text in cleaned]


def available_cores() -> int:
    """Cores this process may run on (the affinity mask, not the machine's count)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def clean_and_score(values: list, workers: int = 1) -> tuple[list[str], list[str | None], list[float]]:
    """Per value, in input order: the preprocessed text, what sanitizing changed (`sanitize`), and
    VADER's compound. All per-tweet work happens here, once, in the workers when the batch is large."""
    if workers <= 1 or len(values) < PARALLEL_MIN_ROWS or "fork" not in multiprocessing.get_all_start_methods():
        return _score_chunk(values)
    _analyzer()  # built once here; the forked workers inherit it
    size = math.ceil(len(values) / (workers * CHUNKS_PER_WORKER))
    chunks = [values[i : i + size] for i in range(0, len(values), size)]
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
        parts = list(pool.map(_score_chunk, chunks))
    return tuple([x for part in parts for x in part[k]] for k in range(3))
