"""The unchanged markets and price_history assets, run on the live source against the local server."""

from __future__ import annotations

import os
import sys
from datetime import date
from pathlib import Path

from dagster import materialize

from connectors.lake import Lake
from orchestration.assets.markets import markets, price_history, price_history_has_no_long_gaps, price_history_is_valid
from orchestration.resources import LakeResource, PolymarketMarketsResource, ReplayMarketsResource, build_resources
from sentitrade.settings import Settings
from tests.ingest_markets.conftest import keyset, recorded
from tests.ingest_markets.test_polymarket_source import LIVE, NEWSOM, price_pages


def test_production_resources_read_polymarket(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")  # the dbt resource wants dbt on PATH
    monkeypatch.setenv("SENTITRADE_DATA_DIR", str(tmp_path))
    assert isinstance(build_resources(Settings())["market_data"], ReplayMarketsResource)
    monkeypatch.setenv("SENTITRADE_ENV", "production")
    assert isinstance(build_resources(Settings())["market_data"], PolymarketMarketsResource)


def test_assets_land_tracked_markets_and_a_checked_day_of_prices(httpserver, monkeypatch, tmp_path):
    url = httpserver.url_for("/")
    for name in ("GAMMA_URL", "CLOB_URL", "DATA_URL"):
        monkeypatch.setenv(f"SENTITRADE_POLYMARKET_{name}", url)
    monkeypatch.setenv("SENTITRADE_POLYMARKET_TRACKED_SLUGS", f"{NEWSOM}, what-will-the-total-value-locked")
    legacy = recorded("gamma-markets/nautilus__gamma_market_closed_nonbinary_legacy.json")
    httpserver.expect_request("/markets/keyset").respond_with_json(keyset("markets", [recorded(LIVE), legacy]))
    httpserver.expect_request("/v2/prices-history").respond_with_handler(price_pages)
    resources = {"lake": LakeResource(root=str(tmp_path)), "market_data": PolymarketMarketsResource()}

    assert materialize([markets], resources=resources).success
    result = materialize([price_history, price_history_is_valid, price_history_has_no_long_gaps], partition_key="2026-11-01", resources=resources)

    lake = Lake(tmp_path)
    assert lake.read("markets")["market"].to_pylist() == [NEWSOM]  # the Long/Short market is skipped, not fatal
    prices = lake.read("price_history", date(2026, 11, 1))
    assert prices.num_rows == 288 and prices["ts"][0].as_py().isoformat() == "2026-11-01T00:00:00"
    assert [e.passed for e in result.get_asset_check_evaluations()] == [True, True]
    assert {r.args["bucket_seconds"] for r, _ in httpserver.log if r.path == "/v2/prices-history"} == {"300"}
