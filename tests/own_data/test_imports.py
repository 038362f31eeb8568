"""Imports of a user's markets, prices and resolutions through the CLI: the summary and its JSON line, dead
letters with reasons, a second run that lands nothing, and bad files refused in one line with the store untouched."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from connectors.lake import Lake
from connectors.pancake import DailyBars
from models.ingest.files import FileStats, file_lines
from sentitrade.settings import Settings
from tests.conftest import SHARED_DATA, last_json, one_line_error, run_cli
from tests.trading.conftest import make_settings  # noqa: F401  (the fixture the shared settlement test takes)
from tests.trading import test_real_markets as real_markets  # a module, so pytest does not collect its tests here

GAMMA = SHARED_DATA / "polymarket-fixtures" / "gamma-markets"
PANCAKE = SHARED_DATA / "polymarket" / "pancake-polymarket-history"
TABLES = ("markets", "price_history", "resolutions")


def ingest(data, *args):
    return run_cli("ingest", *args, "--data-dir", str(data))


def stored(data) -> dict:
    """Every row of the tables an import writes, to compare before and after a refused file."""
    lake = Lake(Settings(data_dir=data).lake_dir)
    out = {}
    for table in TABLES:
        parts = [None] if table != "price_history" else lake.days(table)
        out[table] = [lake.read(table, day).to_pylist() for day in parts if lake.exists(table, day)]
    return out


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """Ten Gamma markets, one with prices and a resolution: what each bad file must leave as it was."""
    data = tmp_path_factory.mktemp("store")
    assert ingest(data, "markets", "--from", str(GAMMA / "polymarket-agents__ten_markets.json")).returncode == 0
    slug = Lake(Settings(data_dir=data).lake_dir).read("markets")["market"][0].as_py()
    prices = data / "prices.csv"
    prices.write_text("timestamp,price\n2026-10-01T00:00:00Z,0.41\n1790816400,0.43\n2026-10-01T02:00:00,0.47\n")
    assert ingest(data, "prices", "--from", str(prices), "--market", slug).returncode == 0
    (data / "res.csv").write_text(f"market,resolved_at,outcome\n{slug},2026-10-09T00:00:00Z,YES\n")
    assert ingest(data, "resolutions", "--from", str(data / "res.csv")).returncode == 0
    return data, slug


def test_gamma_markets_of_either_id_encoding_land_and_non_binary_ones_are_dead_lettered(tmp_path):
    both = [json.loads((GAMMA / name).read_text()) for name in ("nautilus__gamma_market_closed_binary_accepting_true.json", "nautilus__gamma_market_live.json")]
    lines = tmp_path / "markets.jsonl"
    lines.write_text("".join(json.dumps(m) + "\n" for m in both) + "not json\n")
    result = ingest(tmp_path, "markets", "--from", str(lines))
    assert result.returncode == 0, result.stderr
    summary = last_json(result.stdout)
    assert summary["read"] == 3 and summary["dead_lettered"] >= 1 and summary["landed"] + summary["dead_lettered"] == 3
    letters = [json.loads(line) for f in (tmp_path / "lake" / "_dead_letters" / "markets").glob("*.jsonl") for line in f.read_text().splitlines()]
    assert len(letters) == summary["dead_lettered"] and all(letter["reason"] for letter in letters)
    markets = Lake(Settings(data_dir=tmp_path).lake_dir).read("markets")
    assert markets.num_rows == summary["landed"] and all(t.isdigit() for t in markets["yes_token_id"].to_pylist())
    again = last_json(ingest(tmp_path, "markets", "--from", str(lines)).stdout)
    assert again["landed"] == 0 and again["duplicates"] == summary["landed"]


def test_prices_csv_and_clob_json_land_in_the_day_partitions_and_a_bad_row_is_dead_lettered(store, tmp_path):
    data, slug = store
    lake = Lake(Settings(data_dir=data).lake_dir)
    day = lake.read("price_history", lake.days("price_history")[0]).to_pandas()
    assert day["price"].tolist() == [0.41, 0.43, 0.47] and (day["market"] == slug).all()
    clob = tmp_path / "history.json"
    clob.write_text(json.dumps({"history": [{"t": 1790906400, "p": 0.5}, {"t": 1790910000, "p": "x"}, {"t": 1790913600, "p": 0.52}]}))
    summary = last_json(ingest(data, "prices", "--from", str(clob), "--market", slug).stdout)
    assert summary == {"read": 3, "landed": 2, "duplicates": 0, "dead_lettered": 1}
    assert [d.isoformat() for d in lake.days("price_history")] == ["2026-10-01", "2026-10-02"]


BAD_FILES = {
    "wrong columns": ("prices", "time,value\n2026-10-01T00:00:00Z,0.5\n", "expected columns timestamp,price"),
    "a price outside [0, 1]": ("prices", "timestamp,price\n2026-10-03T00:00:00Z,0.5\n2026-10-03T00:05:00Z,1.5\n", "outside [0, 1]"),
    "an unknown market": ("prices-unknown", "timestamp,price\n2026-10-03T00:00:00Z,0.5\n", "is not in the markets table"),
    "unsorted timestamps": ("prices", "timestamp,price\n2026-10-03T00:05:00Z,0.5\n2026-10-03T00:00:00Z,0.5\n", "comes before the previous one"),
    "duplicate timestamps": ("prices", "timestamp,price\n2026-10-03T00:00:00Z,0.5\n1790985600,0.6\n", "repeats the previous one"),
    "a binary file": ("prices", b"PK\x03\x04\x00\x00\x08\x00 zip bytes", "binary file"),
    "a resolution of an unknown market": ("resolutions", "market,resolved_at,outcome\nno-such-market,2026-10-05,YES\n", "is not in the markets table"),
    "resolutions with wrong columns": ("resolutions", "slug,when,result\nx,2026-10-05,YES\n", "expected columns market,resolved_at,outcome"),
    "markets that are not JSON": ("markets", "<html>not json</html>\n", "neither JSON nor JSON Lines"),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_a_bad_file_is_one_line_and_leaves_the_store_untouched(store, tmp_path, case):
    data, slug = store
    command, content, expected = BAD_FILES[case]
    path = tmp_path / ("bad.json" if command == "markets" else "bad.csv")
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    before = stored(data)
    market = ["--market", "no-such-market" if command == "prices-unknown" else slug] if command.startswith("prices") else []
    line = one_line_error(ingest(data, command.split("-")[0], "--from", str(path), *market))
    assert expected in line and "nothing was stored" in line, line
    assert stored(data) == before


def test_a_bad_resolution_row_is_dead_lettered_with_its_reason(store, tmp_path):
    data, slug = store
    path = tmp_path / "res.csv"
    path.write_text(f"market,resolved_at,outcome\n{slug},2026-10-09T00:00:00Z,MAYBE\n")
    summary = last_json(ingest(data, "resolutions", "--from", str(path)).stdout)
    assert summary == {"read": 1, "landed": 0, "duplicates": 0, "dead_lettered": 1}
    letter = json.loads(next((data / "lake" / "_dead_letters" / "resolutions").glob("import-res-*.jsonl")).read_text().splitlines()[0])
    assert "neither YES nor NO" in letter["reason"] and letter["line"] == 2
    assert Lake(Settings(data_dir=data).lake_dir).read("resolutions")["outcome"].to_pylist() == ["YES"]


def test_a_tweet_csv_keeps_the_authors_followers_and_verified(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("id,created_at,text,user,followers_count,verified\n1,2026-10-01T10:00:00Z,good,ann,\"12,500\",True\n2,2026-10-01T11:00:00Z,bad,bob,7,no\n")
    payloads = [json.loads(line) for line in file_lines(path, "m", FileStats())]
    users = [p["includes"]["users"][0] for p in payloads]
    assert [(u["public_metrics"]["followers_count"], u["verified"]) for u in users] == [(12500, True), (7, False)]


def test_the_real_daily_bars_import_with_their_resolutions_and_settle_in_the_backtest(tmp_path, make_settings):  # noqa: F811
    if not PANCAKE.exists():
        pytest.skip(f"no Pancake daily bars at {PANCAKE}")
    result = ingest(tmp_path, "prices", "--from", str(PANCAKE))
    assert result.returncode == 0, result.stderr
    summary = last_json(result.stdout)
    assert summary["landed"] == summary["read"] > 10_000 and summary["dead_lettered"] == 0
    assert last_json(ingest(tmp_path, "prices", "--from", str(PANCAKE)).stdout)["landed"] == 0
    lake = Lake(Settings(data_dir=tmp_path).lake_dir)
    prices = pd.concat([lake.read("price_history", d).to_pandas() for d in lake.days("price_history")], ignore_index=True)
    resolutions = lake.read("resolutions").to_pandas()
    assert len(resolutions) >= 20 and set(resolutions["outcome"]) == {"YES", "NO"}
    utc = {"ts": prices["ts"].dt.tz_localize("UTC")}
    bars = DailyBars(prices.assign(**utc)[["market", "ts", "price"]].sort_values(["market", "ts"], ignore_index=True),
                     resolutions.assign(resolved_at=resolutions["resolved_at"].dt.tz_localize("UTC")),
                     lake.read("markets").select(["market", "yes_token_id", "no_token_id"]).to_pylist())
    # the research-trust issue's settlement claim, on what the import stored rather than on the dataset itself
    real_markets.test_holding_yes_to_resolution_makes_exactly_the_payoff_less_cost_and_fees(bars, make_settings)
