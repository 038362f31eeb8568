"""Ingest tweets: X API v2 payloads into raw_tweets rows.

Parsing is strict and per record: a bad record yields a reason, never an exception that stops
the batch, so one truncated line cannot cost a day of tweets.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pyarrow as pa

from connectors.lake import RAW_TWEETS
from models.ingest.errors import BadRecord


def timestamp(text: str) -> datetime:
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
        "created_at": timestamp(data["created_at"]),
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
