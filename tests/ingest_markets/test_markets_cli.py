"""`sentitrade markets`: discover, prices, book against the local server; one-line errors; no secret shown."""

from __future__ import annotations

import json
import sys
from datetime import date, datetime

import pyarrow as pa
import pytest
from eth_account import Account
from typer.testing import CliRunner
from werkzeug import Response

from connectors.lake import PRICE_HISTORY, Lake
from sentitrade import cli
from sentitrade.commands.markets import app
from tests.ingest_markets.conftest import keyset, recorded
from tests.ingest_markets.test_polymarket_source import LIVE, NEWSOM, price_pages

KEY = "0x" + "4c" * 32


@pytest.fixture
def sentitrade_markets(monkeypatch, capsys):
    """`sentitrade markets ...` through the real entry point (`sentitrade.cli.main`), in this process,
    with the group mounted as the lead mounts it; returns (exit code, stdout, stderr)."""
    monkeypatch.setattr(cli.app, "registered_groups", list(cli.app.registered_groups))
    if not any(group.name == "markets" for group in cli.app.registered_groups):
        cli.app.add_typer(app, name="markets")

    def run(*args: str) -> tuple[int, str, str]:
        monkeypatch.setattr(sys, "argv", ["sentitrade", "markets", *args])
        try:
            cli.main()
            code = 0
        except SystemExit as exc:
            code = exc.code
        out = capsys.readouterr()
        return code, out.out, out.err

    return run


def one_line_error(result: tuple[int, str, str]) -> str:
    code, _, err = result
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


@pytest.fixture
def server_env(httpserver, monkeypatch) -> dict:
    env = {f"SENTITRADE_POLYMARKET_{name}": httpserver.url_for("/") for name in ("GAMMA_URL", "CLOB_URL", "DATA_URL")}
    env["SENTITRADE_POLYMARKET_BACKOFF_SECONDS"] = "0"
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


def invoke(*args: str):
    return CliRunner().invoke(app, list(args), catch_exceptions=False)


def test_every_command_has_help():
    for command in ("discover", "prices", "book", "wallet"):
        result = invoke(command, "--help")
        assert result.exit_code == 0 and "Usage" in result.output


def test_discover_lists_skips_and_lands(httpserver, server_env, tmp_path):
    legacy = recorded("gamma-markets/nautilus__gamma_market_closed_nonbinary_legacy.json")
    event = recorded("gamma-events/nautilus__gamma_event.json")[0]
    httpserver.expect_request("/events/keyset").respond_with_json(keyset("events", [{**event, "markets": [*event["markets"], legacy]}]))
    result = invoke("discover", "--keyword", "nominee", "--closed", "--land", "--data-dir", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert "0 Yes/No markets, 1 skipped" in result.output and "Long/Short" in result.output  # only the legacy market is closed
    result = invoke("discover", "-k", "nominee", "--land", "--data-dir", str(tmp_path))
    assert "2 Yes/No markets, 0 skipped" in result.output
    assert Lake(tmp_path / "lake").read("markets").num_rows == 2
    assert invoke("discover", "--data-dir", str(tmp_path)).exit_code == 2  # nothing to look for


def test_prices_land_by_day_beside_what_is_there(httpserver, server_env, tmp_path):
    httpserver.expect_request("/markets/keyset").respond_with_json(keyset("markets", [recorded(LIVE)]))
    httpserver.expect_request("/v2/prices-history").respond_with_handler(price_pages)
    lake = Lake(tmp_path / "lake")
    other = {"market": "other", "token_id": "9", "ts": datetime(2026, 11, 2, 12), "price": 0.5}
    lake.write("price_history", pa.Table.from_pylist([other], schema=PRICE_HISTORY), date(2026, 11, 2))
    for _ in range(2):  # landing twice changes nothing
        result = invoke("prices", NEWSOM, "--start", "2026-11-01T12:00:00", "--end", "2026-11-03", "--fidelity", "60", "--data-dir", str(tmp_path))
        assert result.exit_code == 0, result.output
        assert "landed 36 points" in result.output and "(2 days)" in result.output
    assert lake.days("price_history") == [date(2026, 11, 1), date(2026, 11, 2)]
    second = lake.read("price_history", date(2026, 11, 2))
    assert second.num_rows == 25 and "other" in second["market"].to_pylist()
    assert invoke("prices", NEWSOM, "--start", "2026-11-03", "--end", "2026-11-01", "--data-dir", str(tmp_path)).exit_code == 2


def test_book_snapshots_both_outcomes(httpserver, server_env, tmp_path):
    httpserver.expect_request("/markets/keyset").respond_with_json(keyset("markets", [recorded(LIVE)]))
    book = {**recorded("clob-book/nautilus-py__book.json"), "min_order_size": "5", "tick_size": "0.01", "neg_risk": False}
    httpserver.expect_request("/book").respond_with_handler(lambda request: Response(
        json.dumps({**book, "asset_id": request.args["token_id"]}), content_type="application/json"))  # the recorded book, for each token
    for _ in range(2):  # the same snapshot landed twice is landed once
        result = invoke("book", NEWSOM, "--data-dir", str(tmp_path))
        assert result.exit_code == 0, result.output
    assert "YES: best bid 0.1, best ask 0.14" in result.output
    rows = Lake(tmp_path / "lake").read("order_books", date(2024, 10, 13))
    assert rows.num_rows == 24 and set(rows["token_id"].to_pylist()) == set(json.loads(recorded(LIVE)["clobTokenIds"]))


def test_failed_requests_are_one_line_naming_the_endpoint(httpserver, server_env, monkeypatch, sentitrade_markets):
    httpserver.expect_request("/markets/keyset").respond_with_data("upstream\nfailure", status=503, content_type="text/plain")
    monkeypatch.setenv("SENTITRADE_POLYMARKET_MAX_RETRIES", "1")
    line = one_line_error(sentitrade_markets("prices", NEWSOM, "--start", "2026-11-01"))
    assert line == "error: GET /markets/keyset failed after 2 attempts; last answer: HTTP 503: upstream failure"
    assert len(httpserver.log) == 2


def test_wallet_names_the_missing_variable_and_never_shows_the_key(monkeypatch, sentitrade_markets):
    monkeypatch.delenv("SENTITRADE_POLYMARKET_PRIVATE_KEY", raising=False)
    assert "SENTITRADE_POLYMARKET_PRIVATE_KEY is not set" in one_line_error(sentitrade_markets("wallet"))
    monkeypatch.setenv("SENTITRADE_POLYMARKET_PRIVATE_KEY", "0xnot-a-key-" + "ab" * 20)
    bad = sentitrade_markets("wallet")
    assert "not a valid private key" in one_line_error(bad) and "ab" * 20 not in bad[1] + bad[2]
    monkeypatch.setenv("SENTITRADE_POLYMARKET_PRIVATE_KEY", KEY)
    code, out, err = sentitrade_markets("wallet")
    assert code == 0 and out.strip() == Account.from_key(KEY).address and KEY[2:] not in out + err
