"""What the registry, promotion and CLI tests share: one real MLflow store per module and feature rows."""

from __future__ import annotations

from datetime import timedelta

import mlflow
import numpy as np
import pandas as pd
import pytest

from models.features import FEATURE_COLUMNS
from models.registry import configure

TEST_SPAN = (pd.Timestamp("2024-03-04"), pd.Timestamp("2024-03-05"))
HORIZON = timedelta(minutes=15)
# What configure() exports to the environment (MLflow does so for subprocesses); the store fixture undoes it.
_EXPORTED_ENV = (
    "MLFLOW_TRACKING_URI",
    "MLFLOW_EXPERIMENT_ID",
    "GIT_PYTHON_REFRESH",
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR",
)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """One migrated SQLite store for the module (the first migration takes seconds)."""
    root = tmp_path_factory.mktemp("mlflow")
    with pytest.MonkeyPatch.context() as mp:
        for var in _EXPORTED_ENV:
            mp.delenv(var, raising=False)
        experiment_id = configure(f"sqlite:///{root}/mlflow.db", (root / "artifacts").as_uri())
        yield experiment_id
        mlflow.set_tracking_uri(None)


def feature_rows(seed: int, days: int, start: str = "2024-03-01") -> pd.DataFrame:
    """5-minute rows over two markets; the 1-hour sentiment and `sent_shift` drive the label.

    Some features are missing, as in real data (no 4h return yet, no tweets in the hour): the
    estimators, the input example and the round trip must all cope with NaN.
    """
    rng = np.random.default_rng(seed)
    ts = pd.date_range(start, periods=days * 288, freq="5min")
    frame = pd.concat([pd.DataFrame({"market": m, "ts": ts}) for m in ("a", "b")], ignore_index=True)
    for name in FEATURE_COLUMNS:
        frame[name] = rng.normal(size=len(frame))
    frame["n_tweets_1h"] = rng.integers(0, 40, len(frame)).astype(float)
    frame.loc[frame["ts"] < pd.Timestamp(start) + pd.Timedelta(hours=4), "ret_4h"] = np.nan
    signal = 1.5 * frame["sent_mean_1h"] + frame["sent_shift"]
    frame.loc[rng.random(len(frame)) < 0.05, "sent_mean_1h"] = np.nan
    frame["label"] = (signal + rng.normal(size=len(frame)) > 0).astype(int)
    return frame.assign(price_fwd_ts=frame["ts"] + HORIZON)


