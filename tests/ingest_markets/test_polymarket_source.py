"""The Polymarket paths through the real SDK against a local server: discovery, both id encodings,
retries, chunked price history, order books."""

from __future__ import annotations

import json
from datetime import datetime

import pytest
from polymarket.environments import PRODUCTION
from werkzeug import Response

from connectors.polymarket import PolymarketApiError, PolymarketSettings, PolymarketSource, sdk_environment
from models.ingest.markets import book_table, markets_table
from tests.ingest_markets.conftest import keyset, recorded

LIVE = "gamma-markets/nautilus__gamma_market_live.json"  # v1: clobTokenIds/outcomes as JSON strings, feeSchedule 0.04
NEWSOM = recorded(LIVE)["slug"]


def v2_market() -> dict:
    """No recorded v2 market exists: this is the recorded live market re-encoded as FACTS.md §1 says
    v2 markets come (docs.polymarket.com/migrate/polymarket-v2/api-integrations): `version: "v2"`,
    outcome ids in `positionIds` as a plain array, no `clobTokenIds`."""
    market = recorded(LIVE)
    ids = json.loads(market.pop("clobTokenIds"))
    return {**market, "version": "v2", "positionIds": ids, "slug": "newsom-v2", "id": "1"}


def test_environment_override_is_production_with_other_urls():
    assert sdk_environment(PolymarketSettings(_env_file=None)) is PRODUCTION
    env = sdk_environment(PolymarketSettings(_env_file=None, gamma_url="http://127.0.0.1:9/", data_url="http://127.0.0.1:8"))
    config, production = env._config, PRODUCTION._config
    assert (config.gamma_url, config.data_url, config.clob_url) == ("http://127.0.0.1:9", "http://127.0.0.1:8", production.clob_url)
    assert config.chain_id == production.chain_id and config.standard_exchange == production.standard_exchange
    assert production.gamma_url == "https://gamma-api.polymarket.com"  # the SDK's own object is untouched


def test_both_encodings_parse_and_non_binary_markets_are_skipped_with_a_reason(httpserver, source):
    listed = [recorded(LIVE), v2_market(), recorded("gamma-markets/nautilus__gamma_market_closed_nonbinary_legacy.json"),
              recorded("gamma-markets/nautilus__gamma_market.json")]
    httpserver.expect_request("/markets/keyset").respond_with_json(keyset("markets", listed))
    batch = source.markets([NEWSOM, "newsom-v2"])
    assert [m.slug for m in batch.markets] == [NEWSOM, "newsom-v2"]
    assert [(slug[:20], "Long/Short" in why or "Up/Down" in why) for slug, why in batch.skipped] == [
        ("what-will-the-total-", True), ("btc-updown-5m-177330", True)]
    v1, v2 = markets_table(batch.markets).to_pylist()
    assert v1["yes_token_id"] == v2["yes_token_id"] == json.loads(recorded(LIVE)["clobTokenIds"])[0]
    assert v1["no_token_id"] == v2["no_token_id"] and v1["condition_id"] == v2["condition_id"]
    assert (v1["fee_rate"], v1["fee_exponent"], v1["fees_enabled"], v1["neg_risk"], v1["tick_size"]) == (0.04, 1.0, True, True, 0.001)
    query = httpserver.log[0][0].args
    assert query.getlist("version") == ["v1", "v2"] and query.getlist("slug")[1] == "newsom-v2"


def test_discovery_by_keyword_reads_the_recorded_event(httpserver, source):
    httpserver.expect_request("/events/keyset").respond_with_json(keyset("events", recorded("gamma-events/nautilus__gamma_event.json")))
    batch = source.discover(keyword="Democratic Nominee")
    assert len(batch.markets) == 2 and not batch.skipped
    assert all(m.question and m.outcomes.yes.token_id for m in batch.markets)
    query = httpserver.log[0][0].args
    assert (query["title_search"], query["closed"]) == ("Democratic Nominee", "false")


def test_discovery_by_tag_of_closed_markets(httpserver, source):
    event = recorded("gamma-events/nautilus__gamma_event.json")[0]
    closed = [recorded(f"gamma-markets/nautilus__gamma_market_closed_binary_accepting_{flag}.json") for flag in ("true", "false")]
    httpserver.expect_request("/events/keyset").respond_with_json(keyset("events", [{**event, "markets": closed + event["markets"]}]))
    batch = source.discover(tag="politics", closed=True)
    assert sorted(m.slug[:12] for m in batch.markets) == ["katana-fdv-a", "russia-x-ukr"]  # the event's open markets are left out
    query = httpserver.log[0][0].args
    assert (query["tag_slug"], query["closed"]) == ("politics", "true")


def test_429_then_200_waits_what_retry_after_asks(httpserver, source, waits):
    httpserver.expect_oneshot_request("/markets/keyset").respond_with_json({"error": "slow down"}, status=429, headers={"Retry-After": "3"})
    httpserver.expect_request("/markets/keyset").respond_with_json(keyset("markets", [recorded(LIVE)]))
    assert len(source.markets(["x"]).markets) == 1
    assert waits == [3.0] and len(httpserver.log) == 2


def test_503_then_200_backs_off_and_succeeds(httpserver, source, waits):
    book = {**recorded("clob-book/nautilus-py__book.json"), "min_order_size": "5", "tick_size": "0.01", "neg_risk": False}
    httpserver.expect_oneshot_request("/book").respond_with_json({"error": "busy"}, status=503)
    httpserver.expect_request("/book").respond_with_json(book)
    assert source.order_book("233").asset_id == book["asset_id"]
    assert waits == [0.5]


def test_repeated_5xx_fails_naming_the_endpoint(httpserver, source, waits):
    httpserver.expect_request("/v2/prices-history").respond_with_json({"error": "upstream down"}, status=502)
    with pytest.raises(PolymarketApiError, match=r"GET /v2/prices-history failed after 3 attempts; last answer: HTTP 502: upstream down"):
        source.prices_history("1", 1793491200, 1793494800)
    assert waits == [0.5, 1.0] and len(httpserver.log) == 3


def test_a_4xx_is_not_retried(httpserver, source, waits):
    httpserver.expect_request("/book").respond_with_json({"error": "No orderbook exists for the requested token id"}, status=404)
    with pytest.raises(PolymarketApiError, match="GET /book was refused: HTTP 404: No orderbook exists"):
        source.order_book("1")
    assert waits == [] and len(httpserver.log) == 1


def price_pages(request) -> Response:
    """A Data API `GET /v2/prices-history` answer. No real recording exists (FACTS.md §4, SOURCE.md), so
    the shape is built from the SDK 0.14.0 source, `_internal/data_envelope.py::parse_data_page`
    (`{"data": [...], "pagination": {"has_more", "next_cursor"}}`) and `models/data/analytics.py::
    PriceHistoryPoint` (`timestamp` in epoch seconds, `price`, `resolution_seconds`), and from
    docs.polymarket.com/api-reference/endpoints/data-v2/get-prices-history (windows of at most 15 days,
    points oldest first, `?cursor=` for the next page). This server is sloppy on purpose: it also
    sends the point at `end`, so adjacent windows overlap, and it splits every window into two pages."""
    start, end, bucket = (int(request.args[k]) for k in ("start", "end", "bucket_seconds"))
    points = [{"timestamp": t, "price": round(0.3 + (t % 7) / 100, 4), "resolution_seconds": bucket} for t in range(start, end + 1, bucket)]
    half = len(points) // 2
    page, more = (points[half:], False) if request.args.get("cursor") == "second" else (points[:half], True)
    return Response(json.dumps({"data": page, "pagination": {"has_more": more, "next_cursor": "second" if more else None}}), content_type="application/json")


def test_long_range_is_chunked_and_stitched_without_duplicates(httpserver, settings, waits):
    httpserver.expect_request("/v2/prices-history").respond_with_handler(price_pages)
    start, days, seen = 1793491200, 40, []
    with PolymarketSource(settings.model_copy(update={"chunk_days": 14, "fidelity_minutes": 60}), sleep=waits.append) as live:
        history = live.prices_history("777", start, start + days * 86400, progress=lambda done, total: seen.append((done, total)))["history"]
    windows = sorted({(r.args["start"], r.args["end"]) for r, _ in httpserver.log})
    assert [(int(a) - start) // 86400 for a, _ in windows] == [0, 14, 28] and int(windows[-1][1]) == start + days * 86400
    assert len(httpserver.log) == 6 and seen == [(1, 3), (2, 3), (3, 3)]  # two pages per window
    ts = [p["t"] for p in history]
    assert ts == list(range(start, start + days * 86400, 3600))  # hourly, end excluded, no duplicate at the seams
    assert all(0 <= p["p"] <= 1 for p in history)


def test_recorded_book_lands_best_level_first(httpserver, source):
    """The 2024 recording predates `min_order_size`, `tick_size`, `neg_risk` and `last_trade_price`, which
    the SDK's OrderBook requires; they are added with the types of ccxt's 2026-06 capture of `/book`
    (strings for sizes, a bool; SOURCE.md, clob-book)."""
    raw = recorded("clob-book/nautilus-py__book.json")
    httpserver.expect_request("/book", query_string={"token_id": raw["asset_id"]}).respond_with_json(
        {**raw, "min_order_size": "5", "tick_size": "0.01", "neg_risk": False, "last_trade_price": "0.1"})
    rows = book_table("m", source.order_book(raw["asset_id"]), datetime(2030, 1, 1)).to_pylist()
    bids, asks = [r for r in rows if r["side"] == "bid"], [r for r in rows if r["side"] == "ask"]
    assert [(r["level"], r["price"]) for r in bids[:2]] == [(0, 0.1), (1, 0.09)] and asks[0]["price"] == 0.14
    assert len(rows) == len(raw["bids"]) + len(raw["asks"]) and rows[0]["ts"] == datetime(2024, 10, 13, 6, 3, 38, 260000)


def test_a_book_without_the_current_fields_is_an_unexpected_response(httpserver, source):
    httpserver.expect_request("/book").respond_with_json(recorded("clob-book/nautilus-py__book.json"))
    with pytest.raises(PolymarketApiError, match="GET /book sent an unexpected response"):
        source.order_book("1")
