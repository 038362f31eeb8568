"""The price_history asset checks: bad prices and backwards timestamps fail, long holes warn."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pyarrow as pa
import pytest
from dagster import AssetCheckSeverity

from connectors.lake import PRICE_HISTORY, Lake
from orchestration.assets.markets import price_history_has_no_long_gaps, price_history_is_valid
from orchestration.resources import LakeResource

DAY = date(2026, 11, 1)
START = datetime(2026, 11, 1)


def land(root, day: date, points: list[tuple[int, float]], other_token: list[tuple[int, float]] = ()) -> None:
    """Write a partition as-is (the asset's parser would refuse bad prices before they land)."""
    series = {"1": points, "2": other_token}
    rows = [{"market": "m" + token, "token_id": token, "ts": START + timedelta(minutes=m), "price": p} for token, s in series.items() for m, p in s]
    Lake(root).write("price_history", pa.Table.from_pylist(rows, schema=PRICE_HISTORY), day)


def run(check, root):
    return check(lake=LakeResource(root=str(root)))


@pytest.fixture(autouse=True)
def _bound(monkeypatch):
    monkeypatch.setenv("SENTITRADE_POLYMARKET_MAX_GAP_MINUTES", "30")


def test_clean_series_passes_both(tmp_path):
    land(tmp_path, DAY, [(0, 0.4), (5, 0.41), (10, 0.0), (15, 1.0)], other_token=[(0, 0.6), (5, 0.59)])
    assert run(price_history_is_valid, tmp_path).passed
    assert run(price_history_has_no_long_gaps, tmp_path).passed


@pytest.mark.parametrize("bad", [1.2, -0.01, float("nan")])
def test_price_outside_unit_interval_fails(tmp_path, bad):
    land(tmp_path, DAY, [(0, 0.4), (5, bad), (10, 0.4)])
    result = run(price_history_is_valid, tmp_path)
    assert not result.passed and result.metadata["prices_outside_0_1"].value == 1


def test_timestamps_not_increasing_fail_within_a_day_and_across_days(tmp_path):
    land(tmp_path, DAY, [(0, 0.4), (10, 0.4), (10, 0.5), (5, 0.5)])
    result = run(price_history_is_valid, tmp_path)
    assert not result.passed and result.metadata["timestamps_not_increasing"].value == 2
    Lake(tmp_path).path("price_history", DAY).unlink()
    land(tmp_path, DAY, [(0, 0.4), (24 * 60 + 10, 0.4)])  # runs into the next day...
    land(tmp_path, DAY + timedelta(days=1), [(24 * 60 + 5, 0.4)])  # ...which starts before it ended
    assert run(price_history_is_valid, tmp_path).metadata["timestamps_not_increasing"].value == 1


def test_a_long_hole_warns_without_failing_validity(tmp_path):
    land(tmp_path, DAY, [(0, 0.4), (5, 0.4), (50, 0.45), (55, 0.45)], other_token=[(0, 0.4), (5, 0.4)])
    gaps = run(price_history_has_no_long_gaps, tmp_path)
    assert not gaps.passed and gaps.severity == AssetCheckSeverity.WARN
    assert gaps.metadata["gaps"].value == 1 and gaps.metadata["examples"].value[0]["gap_minutes"] == "45.0"
    assert run(price_history_is_valid, tmp_path).passed


def test_no_landed_prices_yet_passes(tmp_path):
    assert run(price_history_is_valid, tmp_path).passed and run(price_history_has_no_long_gaps, tmp_path).passed
