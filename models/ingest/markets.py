"""Ingest markets: Gamma market objects and CLOB price history into lake rows."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime

import pyarrow as pa

from connectors.lake import MARKETS, PRICE_HISTORY
from models.ingest.errors import BadRecord
from models.ingest.tweets import timestamp


def _json_list(value) -> list:
    """Gamma sends `outcomes` and `clobTokenIds` as JSON-encoded strings; accept real lists too."""
    return json.loads(value) if isinstance(value, str) else list(value or [])


def parse_gamma_market(market: dict) -> dict:
    """One Gamma market object -> a markets row (YES is the first outcome)."""
    outcomes = _json_list(market.get("outcomes"))
    tokens = _json_list(market.get("clobTokenIds"))
    if len(tokens) != 2 or [o.lower() for o in outcomes] != ["yes", "no"]:
        raise BadRecord(f"market {market.get('slug')!r} is not a binary Yes/No market with two token ids")
    schedule = market.get("feeSchedule") or {}
    return {
        "market": market["slug"],
        "condition_id": market["conditionId"],
        "question": market["question"],
        "yes_token_id": str(tokens[0]),
        "no_token_id": str(tokens[1]),
        "end_date": timestamp(market["endDate"]),
        "tick_size": float(market.get("orderPriceMinTickSize") or 0.01),
        "min_order_size": float(market.get("orderMinSize") or 5),
        "fees_enabled": bool(market.get("feesEnabled", False)),
        "fee_rate": float(schedule.get("rate") or 0.0),
        "fee_exponent": float(schedule.get("exponent") or 1.0),
        "neg_risk": bool(market.get("negRisk", False)),
    }


def markets_table(markets: Iterable[dict]) -> pa.Table:
    return pa.Table.from_pylist([parse_gamma_market(m) for m in markets], schema=MARKETS)


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
