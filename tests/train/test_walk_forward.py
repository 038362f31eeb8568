"""The test span and the walk-forward folds: whole UTC days, in time order, purged by when a label is priced
(even across a gap in prices) and embargoed; clear errors when the data is too short."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
import pytest

from models.labels import labelled
from models.train import BoostedTrees, cross_validate, in_span, out_of_fold, split_test, walk_forward_folds
from tests.train.test_train import COST, EMBARGO, HORIZON, make_training_set

NO_EMBARGO = timedelta(0)


def with_price_gap(frame: pd.DataFrame, market: str, gap_start: pd.Timestamp, gap_end: pd.Timestamp) -> pd.DataFrame:
    """No price of `market` in [gap_start, gap_end): a row whose horizon ends inside the gap is priced at gap_end."""
    waits = (frame["market"] == market) & (frame["ts"] + HORIZON >= gap_start) & (frame["ts"] + HORIZON < gap_end)
    return frame.assign(price_fwd_ts=frame["price_fwd_ts"].where(~waits, gap_end))


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return make_training_set(signal=True)


def test_the_test_span_is_the_trailing_whole_days(frame):
    development, start, end = split_test(frame, 2, EMBARGO)
    assert (start, end) == (pd.Timestamp("2024-03-05"), pd.Timestamp("2024-03-07"))
    assert len(in_span(frame, start, end)) == 2 * 288 * 3
    assert (development["price_fwd_ts"] < start).all() and (development["ts"] <= start - EMBARGO).all()
    assert development["ts"].max() == start - pd.Timedelta(minutes=65)  # its label at 23:55 is the last one before
    assert development["ts"].is_monotonic_increasing


def test_the_embargo_drops_more_than_the_purge(frame):
    purged, start, _ = split_test(frame, 2, NO_EMBARGO)
    embargoed, _, _ = split_test(frame, 2, timedelta(hours=3))
    assert purged["ts"].max() == start - pd.Timedelta(minutes=65)  # the purge alone: labels priced before start
    assert embargoed["ts"].max() == start - timedelta(hours=3)
    assert len(purged) - len(embargoed) == 3 * (36 - 13)  # 3 markets x (3h - 65 min) of 5-minute rows


def test_a_price_gap_across_the_boundary_purges_by_the_label_price(frame):
    start = pd.Timestamp("2024-03-05")
    gapped = with_price_gap(frame, "m0", start - pd.Timedelta(minutes=30), start + pd.Timedelta(minutes=30))
    row = (gapped["market"] == "m0") & (gapped["ts"] == start - pd.Timedelta(minutes=80))
    ts, fwd_ts = gapped.loc[row, "ts"].item(), gapped.loc[row, "price_fwd_ts"].item()
    assert ts + HORIZON < start <= fwd_ts and ts <= start - EMBARGO  # ts + horizon would wrongly keep it

    development, _, _ = split_test(gapped, 2, EMBARGO)
    kept = development[development["market"] == "m0"]
    assert start - pd.Timedelta(minutes=80) not in set(kept["ts"])
    assert kept["ts"].max() == start - pd.Timedelta(minutes=95)  # the last m0 label priced before the gap
    assert (development["price_fwd_ts"] < start).all()
    other = development[development["market"] == "m1"]
    assert other["ts"].max() == start - pd.Timedelta(minutes=65)  # other markets are untouched

    validation_start = pd.Timestamp("2024-03-04")
    gap = (validation_start - pd.Timedelta(minutes=20), validation_start + pd.Timedelta(hours=2))
    gapped = with_price_gap(frame, "m2", *gap)
    folds = walk_forward_folds(split_test(gapped, 2, EMBARGO)[0], 3, 1, EMBARGO)
    last = folds[-1]
    assert last.validation_start == validation_start
    assert (last.train["price_fwd_ts"] < validation_start).all()
    assert not ((last.train["market"] == "m2") & (last.train["ts"] > validation_start - pd.Timedelta(minutes=85))).any()


def test_folds_are_in_time_order_purged_and_embargoed(frame):
    development, test_start, _ = split_test(frame, 2, EMBARGO)
    folds = walk_forward_folds(development, 3, 1, EMBARGO)
    starts = [f.validation_start for f in folds]
    assert starts == list(pd.date_range("2024-03-02", periods=3, freq="D"))
    assert [f.validation_end - f.validation_start for f in folds] == [pd.Timedelta(days=1)] * 3
    assert folds[-1].validation_end == test_start
    for k, fold in enumerate(folds):
        assert (fold.train["price_fwd_ts"] < fold.validation_start).all()
        assert (fold.train["ts"] <= fold.validation_start - EMBARGO).all()
        assert fold.train["ts"].max() == fold.validation_start - pd.Timedelta(minutes=65)
        validation = fold.validation(development)
        assert validation["ts"].min() == fold.validation_start and validation["ts"].max() < fold.validation_end
        if k:  # each fold trains on everything the previous one did, plus the previous block
            previous = set(zip(folds[k - 1].train["market"], folds[k - 1].train["ts"]))
            assert previous < set(zip(fold.train["market"], fold.train["ts"]))

    nine_days, _, _ = split_test(make_training_set(signal=True, days=9), 2, EMBARGO)  # 7 development days
    two_day_blocks = walk_forward_folds(nine_days, 3, 2, EMBARGO)
    assert [f.validation_start for f in two_day_blocks] == list(pd.date_range("2024-03-02", periods=3, freq="2D"))


def test_too_little_data_says_how_much_and_what_to_lower(frame):
    development, _, _ = split_test(frame, 2, EMBARGO)  # 4 development days
    with pytest.raises(ValueError, match=r"needs 5 UTC days .* there are 4: lower SENTITRADE_RESEARCH_FOLDS"):
        walk_forward_folds(development, 4, 1, EMBARGO)
    with pytest.raises(ValueError, match="SENTITRADE_RESEARCH_VALIDATION_DAYS"):
        walk_forward_folds(development, 2, 2, EMBARGO)
    with pytest.raises(ValueError, match=r"spans 6 UTC day\(s\) .* trailing 6.* lower SENTITRADE_HOLDOUT_DAYS"):
        split_test(frame, 6, EMBARGO)
    with pytest.raises(ValueError, match="price_fwd_ts"):
        split_test(frame.drop(columns="price_fwd_ts"), 2, EMBARGO)
    with pytest.raises(ValueError, match="empty"):
        split_test(frame.iloc[:0], 2, EMBARGO)
    with pytest.raises(ValueError) as too_short:
        walk_forward_folds(development, 4, 1, EMBARGO)
    assert "\n" not in str(too_short.value)  # one line, fit for the CLI's `error: ...`


def test_out_of_fold_predicts_only_inside_validation_blocks(frame):
    rows = labelled(frame, COST, 0.0)
    development, _, _ = split_test(rows, 2, EMBARGO)
    folds = walk_forward_folds(development, 3, 1, EMBARGO)
    cv = cross_validate(lambda: BoostedTrees("lightgbm", early_stopping_rounds=30, embargo=EMBARGO), development, folds)

    features = frame.drop(columns=["price_fwd", "price_fwd_ts", "fwd_move"])  # any features rows, no-trade ones too
    p_up = out_of_fold(cv, features)
    inside = np.zeros(len(features), dtype=bool)
    for fold, estimator in zip(folds, cv.estimators):
        block = fold.validation(features)
        inside[features.index.get_indexer(block.index)] = True
        np.testing.assert_array_equal(p_up.loc[block.index].to_numpy(), estimator.predict_proba(block))
    assert p_up[inside].notna().all() and p_up[~inside].isna().all()
    assert p_up.index.equals(features.index) and inside.sum() == 3 * 288 * 3
