"""Early-stopped trees, cross-validation and the parameter search: they find a planted signal, nothing in noise,
choose by validation folds only, and give the same answer every time."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from models.features import FEATURE_COLUMNS
from models.labels import labelled
from models.train import (
    MAX_ROUNDS,
    MODEL_KINDS,
    PARAM_GRID,
    BoostedTrees,
    cross_validate,
    evaluate,
    feature_importances,
    in_span,
    plot_calibration,
    search_params,
    split_test,
    walk_forward_folds,
)
from sentitrade.settings import ResearchSettings

HORIZON = timedelta(minutes=60)
EMBARGO = timedelta(minutes=60)
COST = 0.014  # the default round trip: 2 x (half spread 0.005 + slippage 0.002)
RESEARCH = ResearchSettings(folds=3, validation_days=1, embargo_minutes=60, dead_zone=0.0, early_stopping_rounds=30,
                            param_search="grid")  # explicit: no .env may change what these tests mean


def make_training_set(signal: bool, days: int = 6, markets: int = 3, seed: int = 0) -> pd.DataFrame:
    """The dbt training_set's shape on a 5-minute grid: with `signal`, `sent_shift` drives the forward move."""
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
    frame.loc[frame["ts"] < "2024-03-01 04:00", "ret_4h"] = np.nan  # missing values, as in real data
    frame["price_now"] = frame["price"]
    frame["price_fwd_ts"] = frame["ts"] + HORIZON
    frame["fwd_move"] = 0.02 * ((1.5 * frame["sent_shift"] if signal else 0.0) + rng.normal(size=n))
    frame["price_fwd"] = frame["price_now"] + frame["fwd_move"]
    return frame


def develop(training_set: pd.DataFrame, research: ResearchSettings = RESEARCH):
    """The nested walk-forward path the training asset takes: label, split off the test span, fold."""
    rows = labelled(training_set, COST, research.dead_zone)
    development, test_start, test_end = split_test(rows, 2, EMBARGO)
    folds = walk_forward_folds(development, research.folds, research.validation_days, EMBARGO)
    return development, folds, in_span(rows, test_start, test_end)


def trees(kind: str, **overrides) -> BoostedTrees:
    return BoostedTrees(kind, early_stopping_rounds=30, embargo=EMBARGO, **overrides)


@pytest.fixture(scope="module")
def signal_dev():
    return develop(make_training_set(signal=True))


@pytest.mark.parametrize("kind", MODEL_KINDS)
def test_walk_forward_finds_the_planted_signal_and_nothing_in_noise(signal_dev, kind):
    development, folds, test = signal_dev
    cv = cross_validate(lambda: trees(kind), development, folds)
    assert cv.summary["auc_mean"] > 0.85 and cv.summary["logloss_mean"] < np.log(2)
    assert evaluate(trees(kind).fit(development), test)["auc"] > 0.85  # the final model, on the untouched span

    noise_dev, noise_folds, _ = develop(make_training_set(signal=False, seed=1))
    noise = cross_validate(lambda: trees(kind), noise_dev, noise_folds)
    assert abs(noise.summary["auc_mean"] - 0.5) < 0.05


@pytest.mark.parametrize("kind", MODEL_KINDS)
def test_early_stopping_cuts_boosting_short_on_noise(kind):
    development, _, _ = develop(make_training_set(signal=False, seed=2))
    model = trees(kind).fit(development)
    assert 1 <= model.best_iteration < 100 < MAX_ROUNDS
    params = model.params()
    assert params["best_iteration"] == model.best_iteration and params["max_rounds"] == MAX_ROUNDS
    # the stopping rows are the latest ~20% of the training rows, and the fitted ones end an embargo before them
    stop_start = pd.Timestamp(params["stopping_start"])
    stopping_rows = (development["ts"] >= stop_start).sum()
    assert params["n_stopping_rows"] == stopping_rows == pytest.approx(0.2 * len(development), rel=0.05)
    assert params["n_fit_rows"] == (development["ts"] + HORIZON < stop_start).sum()  # labels priced before them


def test_cross_validation_reports_each_fold_and_the_spread(signal_dev):
    development, folds, _ = signal_dev
    cv = cross_validate(lambda: trees("xgboost"), development, folds)
    assert list(cv.metrics["validation_start"]) == [f.validation_start for f in folds]
    assert {"auc", "logloss", "brier", "accuracy", "n_rows", "base_rate", "best_iteration"} <= set(cv.metrics)
    for (_, row), fold in zip(cv.metrics.iterrows(), folds):
        validation = fold.validation(development)
        paying = validation.loc[validation["label"] != 0.5, "label"]
        assert row["n_rows"] == len(validation) and row["base_rate"] == pytest.approx(paying.mean())
    assert cv.summary["auc_mean"] == pytest.approx(cv.metrics["auc"].mean())
    assert cv.summary["auc_std"] == pytest.approx(cv.metrics["auc"].std(ddof=0)) and cv.summary["auc_std"] > 0
    assert len(cv.estimators) == len(folds) and len({id(e) for e in cv.estimators}) == len(folds)


@pytest.mark.parametrize("kind", MODEL_KINDS)
def test_same_data_same_models_whatever_the_row_order(signal_dev, kind):
    development, folds, test = signal_dev
    first = cross_validate(lambda: trees(kind), development, folds)
    shuffled_dev = development.sample(frac=1, random_state=3)
    shuffled = cross_validate(lambda: trees(kind), shuffled_dev,
                              walk_forward_folds(shuffled_dev, len(folds), 1, EMBARGO))
    pd.testing.assert_frame_equal(first.metrics, shuffled.metrics)
    for a, b in zip(first.estimators, shuffled.estimators):
        np.testing.assert_array_equal(a.predict_proba(test), b.predict_proba(test))


def test_fit_never_looks_at_the_validation_rows(signal_dev):
    development, folds, test = signal_dev
    fold = folds[-1]
    validation = fold.validation(development)
    flipped = validation.assign(label=1 - validation["label"])
    a, b = trees("lightgbm").fit(fold.train, validation), trees("lightgbm").fit(fold.train, flipped)
    np.testing.assert_array_equal(a.predict_proba(test), b.predict_proba(test))


def test_the_search_chooses_by_validation_folds_only():
    research = RESEARCH
    frame = make_training_set(signal=True, seed=4)
    development, folds, test = develop(frame, research)
    chosen = search_params("xgboost", development, folds, research)
    assert len(chosen.scores) == len(PARAM_GRID) <= 8
    best = chosen.scores["logloss_mean"].idxmin()
    assert chosen.params == {**trees("xgboost").hyper, **PARAM_GRID[best]}
    assert chosen.cv.summary == {k: v for k, v in chosen.scores.iloc[best].items() if k in chosen.cv.summary}

    # the test span's outcomes reversed: every score and the choice stay as they were
    in_test = frame["ts"] >= test["ts"].min()
    reversed_test = frame.assign(fwd_move=frame["fwd_move"].where(~in_test, -frame["fwd_move"]))
    dev_again, folds_again, test_again = develop(reversed_test, research)
    again = search_params("xgboost", dev_again, folds_again, research)
    paying = test["label"].to_numpy() != 0.5
    assert (test_again["label"].to_numpy()[paying] != test["label"].to_numpy()[paying]).all()
    assert again.params == chosen.params
    pd.testing.assert_frame_equal(again.scores, chosen.scores)

    # while a validation fold's outcomes do move the scores
    in_last_fold = (frame["ts"] >= folds[-1].validation_start) & (frame["ts"] < folds[-1].validation_end)
    shuffled_moves = frame["fwd_move"].sample(frac=1, random_state=0).to_numpy()
    noisy_fold = frame.assign(fwd_move=frame["fwd_move"].where(~in_last_fold, shuffled_moves))
    moved = search_params("xgboost", *develop(noisy_fold, research)[:2], research)
    assert not np.allclose(moved.scores["logloss_mean"], chosen.scores["logloss_mean"])


def test_search_off_uses_the_defaults(signal_dev):
    development, folds, _ = signal_dev
    off = search_params("lightgbm", development, folds, RESEARCH.model_copy(update={"param_search": "off"}))
    assert off.params == trees("lightgbm").hyper and len(off.scores) == 1


def test_evaluate_ranks_paying_rows_and_scores_every_row_against_its_soft_target(signal_dev):
    development, _, test = signal_dev
    model = trees("xgboost").fit(development)
    metrics = evaluate(model, test)
    p = model.predict_proba(test)
    assert p.dtype == np.float64 and p.shape == (len(test),)
    paying = test["label"] != 0.5
    assert metrics["n_rows"] == len(test) and metrics["base_rate"] == pytest.approx(test.loc[paying, "label"].mean())
    assert metrics["trade_share"] == pytest.approx(paying.mean()) and 0 < metrics["trade_share"] < 1
    assert metrics["brier"] == pytest.approx(np.mean((p - test["label"]) ** 2))
    assert 0 < metrics["logloss"] < np.log(2) and metrics["accuracy"] > 0.7
    with pytest.raises(ValueError, match="labels.labelled"):
        evaluate(model, test.assign(label=np.where(test.index % 2, 1.0, np.nan)))
    with pytest.raises(ValueError, match="single label class"):
        evaluate(model, test[test["label"] != 0])


@pytest.mark.parametrize("kind", MODEL_KINDS)
def test_a_refit_of_given_rounds_grows_exactly_that_many_trees_on_every_row(signal_dev, kind):
    development, _, _ = signal_dev
    refit = trees(kind, rounds=17).fit(development)
    assert refit.best_iteration == 17 and refit.params()["n_fit_rows"] == len(development)
    booster = refit.model.get_booster() if kind == "xgboost" else refit.model.booster_
    assert (booster.num_boosted_rounds() if kind == "xgboost" else booster.num_trees()) == 17
    assert feature_importances(refit)["importance"].sum() > 0


@pytest.mark.parametrize("kind", MODEL_KINDS)
@pytest.mark.parametrize("rounds", [None, 40])
def test_feature_importances_put_the_planted_feature_first(signal_dev, kind, rounds):
    development, _, _ = signal_dev
    importances = feature_importances(trees(kind, rounds=rounds).fit(development))
    assert list(importances.columns) == ["feature", "importance"]
    assert sorted(importances["feature"]) == sorted(FEATURE_COLUMNS)
    assert importances["feature"].iloc[0] == "sent_shift" and importances["importance"].is_monotonic_decreasing
    assert feature_importances(object()).empty


def test_plot_calibration_writes_a_png(tmp_path):
    rng = np.random.default_rng(0)
    p = rng.uniform(size=500)
    y = (rng.uniform(size=500) < p).astype(int)
    path = plot_calibration(y, p, tmp_path / "reports" / "calibration.png", "xgboost: validation folds")
    with Image.open(path) as image:
        assert image.format == "PNG" and image.size[0] > 500


def test_unknown_kinds_and_parameters_are_refused():
    with pytest.raises(ValueError, match="unknown model kind"):
        BoostedTrees("random_forest")
    with pytest.raises(ValueError, match="unknown tree parameter"):
        BoostedTrees("xgboost", n_estimators=5)
    defaults = BoostedTrees("xgboost")
    assert defaults.early_stopping_rounds == ResearchSettings().early_stopping_rounds
    assert defaults.embargo == timedelta(minutes=ResearchSettings().embargo_minutes)
