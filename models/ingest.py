"""Ingest: turn wire payloads (X API v2 tweets, Gamma markets, CLOB price history) into lake rows.

Parsing is strict and per record: a bad record yields a reason, never an exception that stops
the batch, so one truncated line cannot cost a day of tweets.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pyarrow as pa

from connectors.lake import MARKETS, PRICE_HISTORY, RAW_TWEETS


class BadRecord(ValueError):
    """A record that cannot be landed; the message says why."""


def _timestamp(text: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (TypeError, ValueError, AttributeError) as exc:
        raise BadRecord(f"created_at is not an ISO-8601 time: {text!r}") from exc
    return parsed.astimezone(UTC).replace(tzinfo=None) if parsed.tzinfo else parsed


def parse_tweet(line: str) -> dict:
    """One filtered-stream payload (`data`, `includes.users`, `matching_rules`) -> a raw_tweets row."""
    try:
        payload = json.loads(line)
    except json.JSONDecodeError as exc:
        raise BadRecord(f"not valid JSON: {exc.msg} at char {exc.pos}") from exc
    data = payload.get("data") if isinstance(payload, dict) else None
    if not isinstance(data, dict):
        raise BadRecord("no `data` object")
    for key in ("id", "text", "created_at"):
        if not isinstance(data.get(key), str) or not data[key]:
            raise BadRecord(f"`data.{key}` missing or not a non-empty string")
    users = {u.get("id"): u for u in (payload.get("includes") or {}).get("users", []) if isinstance(u, dict)}
    user = users.get(data.get("author_id"), {})
    metrics = data.get("public_metrics") or {}
    rules = payload.get("matching_rules") or [{}]
    return {
        "tweet_id": data["id"],
        "created_at": _timestamp(data["created_at"]),
        "text": data["text"],
        "author_id": str(data.get("author_id") or ""),
        "author_username": str(user.get("username") or ""),
        "author_verified": bool(user.get("verified", False)),
        "author_followers": int((user.get("public_metrics") or {}).get("followers_count") or 0),
        "lang": str(data.get("lang") or ""),
        "like_count": int(metrics.get("like_count") or 0),
        "retweet_count": int(metrics.get("retweet_count") or 0),
        "market": str(rules[0].get("tag") or ""),
        "payload": line.strip(),
    }


@dataclass
class TweetBatch:
    table: pa.Table
    dead_letters: list[dict] = field(default_factory=list)
    duplicates: int = 0


def tweets_table(lines: Iterable[str]) -> TweetBatch:
    """Parse lines into a raw_tweets table, deduplicated by tweet id; bad lines become dead letters."""
    rows, seen, dead, duplicates = [], set(), [], 0
    for number, line in enumerate(lines, start=1):
        try:
            row = parse_tweet(line)
        except BadRecord as exc:
            dead.append({"line": number, "reason": str(exc), "raw": line[:10_000]})
            continue
        if row["tweet_id"] in seen:
            duplicates += 1
            continue
        seen.add(row["tweet_id"])
        rows.append(row)
    return TweetBatch(pa.Table.from_pylist(rows, schema=RAW_TWEETS), dead, duplicates)


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
        "end_date": _timestamp(market["endDate"]),
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
