"""Walk-forward split, deterministic fitting and evaluation of the signal classifiers."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
import pytest

from models.features import FEATURE_COLUMNS
from models.train import MODEL_KINDS, evaluate, fit, params_of, walk_forward_split

FIVE_MIN = timedelta(minutes=5)


def make_training_set(signal: bool, days: int = 6, markets: int = 3, seed: int = 0) -> pd.DataFrame:
    """5-minute rows per market; with `signal`, `sent_shift` drives the label, else nothing does."""
    rng = np.random.default_rng(seed)
    ts = pd.date_range("2024-03-01", periods=days * 288, freq="5min")
    frame = pd.concat([pd.DataFrame({"market": f"m{i}", "ts": ts}) for i in range(markets)], ignore_index=True)
    n = len(frame)
    for name in FEATURE_COLUMNS:
        frame[name] = rng.normal(size=n)
    frame["n_tweets_1h"] = rng.poisson(20, n)  # integer counts, as the feature builder emits
    frame["n_tweets_24h"] = rng.poisson(400, n)
    frame["price"] = rng.uniform(0.05, 0.95, n)
    hour = frame["ts"].dt.hour + frame["ts"].dt.minute / 60
    frame["hour_sin"], frame["hour_cos"] = np.sin(2 * np.pi * hour / 24), np.cos(2 * np.pi * hour / 24)
    noise = rng.normal(size=n)
    frame["label"] = ((2 * frame["sent_shift"] + noise > 0) if signal else (noise > 0)).astype(int)
    frame["fwd_move"] = np.where(frame["label"] == 1, 1, -1) * np.abs(rng.normal(0.01, 0.005, n))
    return frame


@pytest.fixture(scope="module")
def signal_set() -> pd.DataFrame:
    return make_training_set(signal=True)


def test_holdout_is_the_trailing_whole_days(signal_set):
    split = walk_forward_split(signal_set, holdout_days=2, horizon=FIVE_MIN)
    assert split.holdout_start == pd.Timestamp("2024-03-05")
    assert split.holdout_end == pd.Timestamp("2024-03-07")
    assert split.holdout["ts"].min() == split.holdout_start
    assert split.holdout["ts"].dt.normalize().nunique() == 2
    assert len(split.holdout) == 2 * 288 * 3


@pytest.mark.parametrize("horizon", [FIVE_MIN, timedelta(hours=1)])
def test_embargo_keeps_training_labels_out_of_the_holdout(signal_set, horizon):
    split = walk_forward_split(signal_set, holdout_days=2, horizon=horizon)
    assert (split.train["ts"] + horizon <= split.holdout_start).all()
    assert split.train["ts"].max() == split.holdout_start - horizon
    dropped = len(signal_set) - len(split.train) - len(split.holdout)
    assert dropped == (horizon // FIVE_MIN - 1) * 3  # the purged bars, per market


def test_split_is_time_ordered_disjoint_and_ignores_row_order(signal_set):
    split = walk_forward_split(signal_set, holdout_days=2, horizon=FIVE_MIN)
    assert split.train["ts"].is_monotonic_increasing and split.holdout["ts"].is_monotonic_increasing
    assert split.train["ts"].max() < split.holdout["ts"].min()
    keys = lambda f: set(zip(f["market"], f["ts"]))  # noqa: E731
    assert not keys(split.train) & keys(split.holdout)

    shuffled = walk_forward_split(signal_set.sample(frac=1, random_state=1), holdout_days=2, horizon=FIVE_MIN)
    pd.testing.assert_frame_equal(shuffled.train, split.train)
    pd.testing.assert_frame_equal(shuffled.holdout, split.holdout)


def test_split_errors_name_the_problem(signal_set):
    with pytest.raises(ValueError, match="sent_shift"):
        walk_forward_split(signal_set.drop(columns="sent_shift"), holdout_days=2, horizon=FIVE_MIN)
    with pytest.raises(ValueError, match="no training rows"):
        walk_forward_split(signal_set, holdout_days=6, horizon=FIVE_MIN)
    with pytest.raises(ValueError, match="holdout_days"):
        walk_forward_split(signal_set, holdout_days=0, horizon=FIVE_MIN)
    with pytest.raises(ValueError, match="empty"):
        walk_forward_split(signal_set.iloc[:0], holdout_days=2, horizon=FIVE_MIN)
    all_down_later = signal_set.assign(label=signal_set["label"].where(signal_set["ts"] < "2024-03-05", 0))
    with pytest.raises(ValueError, match="holdout rows hold a single label class"):
        walk_forward_split(all_down_later, holdout_days=2, horizon=FIVE_MIN)


@pytest.mark.parametrize("kind", MODEL_KINDS)
def test_fit_learns_a_real_signal_deterministically(signal_set, kind):
    split = walk_forward_split(signal_set, holdout_days=2, horizon=FIVE_MIN)
    first, second = fit(kind, split.train), fit(kind, split.train)
    metrics = evaluate(first, split.holdout)
    assert metrics["auc"] > 0.75
    assert metrics["accuracy"] > 0.65 and 0 < metrics["logloss"] < np.log(2)
    assert metrics["n_rows"] == len(split.holdout)
    assert metrics["base_rate"] == pytest.approx(split.holdout["label"].mean())
    np.testing.assert_array_equal(
        first.predict_proba(split.holdout[FEATURE_COLUMNS].astype(float)),
        second.predict_proba(split.holdout[FEATURE_COLUMNS].astype(float)),
    )


@pytest.mark.parametrize("kind", MODEL_KINDS)
def test_fit_finds_nothing_in_noise(kind):
    split = walk_forward_split(make_training_set(signal=False, seed=1), holdout_days=2, horizon=FIVE_MIN)
    assert abs(evaluate(fit(kind, split.train), split.holdout)["auc"] - 0.5) < 0.05


def test_params_are_fixed_seeded_and_copied():
    for kind in MODEL_KINDS:
        params = params_of(kind)
        assert params["n_jobs"] == 2 and params["random_state"] == 42 and params["max_depth"] == 3
        params["max_depth"] = 99
        assert params_of(kind)["max_depth"] == 3
    assert params_of("lightgbm")["deterministic"] is True
    with pytest.raises(ValueError, match="unknown model kind"):
        params_of("random_forest")
