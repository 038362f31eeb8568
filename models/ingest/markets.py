"""Ingest markets: Gamma market objects, CLOB price history and order books into lake rows.

Gamma sends a market's outcome ids in two encodings: `clobTokenIds` as a JSON-encoded string
(protocol v1) and `positionIds` as a plain array (`version: "v2"`). The official SDK's `Market`
model reads both, so every market, live or replayed, is normalised by it and by nothing else here.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pyarrow as pa
from polymarket.models import Market, OrderBook
from pydantic import ValidationError

from connectors.lake import MARKETS, ORDER_BOOKS, PRICE_HISTORY
from models.ingest.errors import BadRecord


def _naive_utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None)


def gamma_market(market: dict | Market) -> Market:
    """A raw Gamma object (or an SDK `Market` already) as the SDK's model; a non-binary one is refused."""
    if isinstance(market, Market):
        return market
    try:
        return Market.model_validate(market)
    except ValidationError as exc:
        reason = exc.errors()[0]["msg"].removeprefix("Value error, ")
        raise BadRecord(f"market {market.get('slug')!r} is not a binary Yes/No market: {reason}") from exc


def parse_gamma_market(market: dict | Market) -> dict:
    """One Gamma market -> a markets row (YES is the first outcome); anything but a Yes/No market with
    both outcome ids, a slug, a condition id, a question and an end date raises BadRecord with the reason."""
    parsed = gamma_market(market)
    yes, no = parsed.outcomes.yes, parsed.outcomes.no
    if [yes.label.lower(), no.label.lower()] != ["yes", "no"]:
        raise BadRecord(f"market {parsed.slug!r} is not a binary Yes/No market: outcomes are {yes.label}/{no.label}")
    yes_id, no_id = yes.token_id or yes.position_id, no.token_id or no.position_id
    required = {"outcome ids (clobTokenIds or positionIds)": yes_id and no_id, "slug": parsed.slug,
                "conditionId": parsed.condition_id, "question": parsed.question, "endDate": parsed.state.end_date}
    missing = [name for name, value in required.items() if not value]
    if missing:
        raise BadRecord(f"market {parsed.slug!r} lacks {', '.join(missing)}")
    trading, schedule = parsed.trading, parsed.trading.fee_schedule
    return {
        "market": parsed.slug,
        "condition_id": parsed.condition_id,
        "question": parsed.question,
        "yes_token_id": str(yes_id),
        "no_token_id": str(no_id),
        "end_date": _naive_utc(parsed.state.end_date),
        "tick_size": float(trading.minimum_tick_size or 0.01),
        "min_order_size": float(trading.minimum_order_size or 5),
        "fees_enabled": bool(trading.fees_enabled),
        "fee_rate": float(schedule.rate) if schedule else 0.0,
        "fee_exponent": float(schedule.exponent) if schedule else 1.0,
        "neg_risk": bool(parsed.state.neg_risk),
    }


def markets_table(markets: Iterable[dict | Market]) -> pa.Table:
    return pa.Table.from_pylist([parse_gamma_market(m) for m in markets], schema=MARKETS)


@dataclass
class MarketBatch:
    """Markets a discovery found: the Yes/No ones (SDK models, for their volume and prices too) and the
    ones refused, each with its reason, so one odd market never stops a discovery."""

    markets: list[Market] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (slug, reason)


def binary_markets(markets: Iterable[dict | Market]) -> MarketBatch:
    batch = MarketBatch()
    for market in markets:
        try:
            parsed = gamma_market(market)
            parse_gamma_market(parsed)
        except BadRecord as exc:
            slug = market.slug if isinstance(market, Market) else market.get("slug")
            batch.skipped.append((str(slug), str(exc)))
        else:
            batch.markets.append(parsed)
    return batch


def prices_table(market: str, token_id: str, response: dict) -> pa.Table:
    """A CLOB `prices-history` response -> price_history rows; prices must lie in [0, 1]."""
    rows = []
    for point in response.get("history", []):
        price = float(point["p"])
        if not 0.0 <= price <= 1.0:
            raise BadRecord(f"price {price} outside [0, 1] for token {token_id} at t={point['t']}")
        ts = datetime.fromtimestamp(int(point["t"]), UTC).replace(tzinfo=None)
        rows.append({"market": market, "token_id": token_id, "ts": ts, "price": price})
    return pa.Table.from_pylist(rows, schema=PRICE_HISTORY)


def book_table(market: str, book: OrderBook, fetched_at: datetime) -> pa.Table:
    """One CLOB `/book` snapshot -> order_books rows, level 0 the best price on each side.

    The API lists bids ascending and asks descending, best level last; the book's own timestamp is
    used when it sends one, else the time it was fetched."""
    ts = _naive_utc(book.timestamp or fetched_at)
    common = {"market": market, "token_id": str(book.asset_id), "ts": ts, "tick_size": float(book.tick_size),
              "min_order_size": float(book.min_order_size), "hash": book.hash}
    rows = [
        {**common, "side": side, "level": level, "price": float(entry.price), "size": float(entry.size)}
        for side, levels in (("bid", book.bids), ("ask", book.asks))
        for level, entry in enumerate(reversed(levels))
    ]
    return pa.Table.from_pylist(rows, schema=ORDER_BOOKS)
