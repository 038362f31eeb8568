"""Ingest tweets: X API v2 payloads into raw_tweets rows.

Every source (the filtered stream, recent search, a user's own file, the replay data set) is turned
into filtered-stream payload lines first, so `parse_tweet` is the one parser. Parsing is strict and
per record: a bad record raises `BadRecord` with a reason, never another exception that would stop
the batch, so one truncated line cannot cost a day of tweets.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import orjson
import pyarrow as pa

from connectors.lake import RAW_TWEETS
from models.ingest.errors import BadRecord

MAX_LINE_BYTES = 1 << 20  # a stream payload is a few KB; a line near a megabyte is not a tweet
MAX_ID_CHARS = 64
_INT64 = 1 << 63
_SNOWFLAKE_EPOCH = datetime(2010, 11, 4, 1, 42, 54, 657000)  # X ids carry milliseconds since this instant


def timestamp(text: str) -> datetime:
    """ISO-8601 -> UTC, naive (a time without a zone is taken as UTC)."""
    try:
        parsed = datetime.fromisoformat(text)
        if parsed.tzinfo is None:
            return parsed
        if not parsed.utcoffset():  # X's `...Z`: no conversion needed
            return parsed.replace(tzinfo=None)
        return parsed.astimezone(UTC).replace(tzinfo=None)
    except (TypeError, ValueError, AttributeError, OverflowError) as exc:
        raise BadRecord(f"created_at is not an ISO-8601 time: {text!r}") from exc


def snowflake_time(tweet_id: int | str) -> datetime:
    """When an X id was minted (UTC, naive): its top bits count milliseconds since the snowflake epoch."""
    return _SNOWFLAKE_EPOCH + timedelta(milliseconds=int(tweet_id) >> 22)


def snowflake_at(moment: datetime) -> int:
    """The smallest id minted at `moment` (UTC, naive): ids above it are tweets created after it."""
    return max(0, int((moment - _SNOWFLAKE_EPOCH) / timedelta(milliseconds=1))) << 22


def _object(value, name: str) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BadRecord(f"`{name}` is a {type(value).__name__}, not an object")
    return value


def _string(value, name: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise BadRecord(f"`{name}` is a {type(value).__name__}, not a string")
    return value


def _count(value, name: str) -> int:
    if value is None:
        return 0
    if type(value) is not int or not 0 <= value < _INT64:
        raise BadRecord(f"`{name}` is not a count: {str(value)[:40]!r}")
    return value


def _required(data: dict, key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value.strip():
        raise BadRecord(f"`data.{key}` missing or not a non-empty string")
    return value


def parse_tweet(line: str | bytes, default_market: str = "") -> dict:
    """One filtered-stream payload (`data`, `includes.users`, `matching_rules`) -> a raw_tweets row.

    `default_market` tags a payload that matched no rule (an imported file, say)."""
    return dict(zip(RAW_TWEETS.names, parse_row(line, default_market), strict=True))


def parse_row(line: str | bytes, default_market: str = "") -> tuple:
    """`parse_tweet` as a tuple in RAW_TWEETS column order: what a batch is built from."""
    if len(line) > MAX_LINE_BYTES:
        raise BadRecord(f"line of {len(line):,} bytes is over the {MAX_LINE_BYTES:,}-byte limit")
    line = line.strip()
    try:
        payload = orjson.loads(line)  # rejects invalid UTF-8 and lone surrogates, which Parquet could not store
        text_line = line.decode("utf-8") if isinstance(line, bytes) else line
    except (orjson.JSONDecodeError, UnicodeDecodeError) as exc:
        if isinstance(line, bytes):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError as bad:
                raise BadRecord(f"invalid UTF-8 at byte {bad.start}") from exc
        raise BadRecord(f"not valid JSON: {exc}") from exc
    data = payload.get("data") if type(payload) is dict else None
    if type(data) is not dict:
        raise BadRecord("no `data` object")
    tweet_id = _required(data, "id")
    if len(tweet_id) > MAX_ID_CHARS:
        raise BadRecord(f"`data.id` is {len(tweet_id)} characters long")
    text = _required(data, "text")
    created_at = timestamp(_required(data, "created_at"))
    author_id = _string(data.get("author_id"), "data.author_id")
    users = _object(payload.get("includes"), "includes").get("users") or ()
    if type(users) is not list and users != ():
        raise BadRecord("`includes.users` is not a list")
    user = {}
    if author_id:
        for candidate in users:
            if type(candidate) is dict and candidate.get("id") == author_id:
                user = candidate
                break
    verified = user.get("verified", False)
    if type(verified) is not bool:
        raise BadRecord("`includes.users[].verified` is not a boolean")
    metrics = _object(data.get("public_metrics"), "data.public_metrics")
    rules = payload.get("matching_rules") or ()
    if type(rules) is not list and rules != ():
        raise BadRecord("`matching_rules` is not a list")
    tag = _string(_object(rules[0], "matching_rules[0]").get("tag"), "matching_rules[0].tag") if rules else ""
    return (
        tweet_id,
        created_at,
        text,
        author_id,
        _string(user.get("username"), "includes.users[].username"),
        verified,
        _count(_object(user.get("public_metrics"), "includes.users[].public_metrics").get("followers_count"), "followers_count"),
        _string(data.get("lang"), "data.lang"),
        _count(metrics.get("like_count"), "data.public_metrics.like_count"),
        _count(metrics.get("retweet_count"), "data.public_metrics.retweet_count"),
        tag or default_market,
        text_line,
    )


def search_page_lines(page: dict, tag: str) -> list[str]:
    """A recent-search response page -> one filtered-stream payload line per tweet, tagged with the
    market whose query found it, carrying its author from `includes.users`."""
    includes = page.get("includes")
    users = includes.get("users") if isinstance(includes, dict) else None
    authors = {u.get("id"): u for u in users if isinstance(u, dict)} if isinstance(users, list) else {}
    tweets = page.get("data")
    lines = []
    for tweet in tweets if isinstance(tweets, list) else []:
        author = authors.get(tweet.get("author_id")) if isinstance(tweet, dict) else None
        payload = {"data": _with_created_at(tweet), "includes": {"users": [author] if author else []}, "matching_rules": [{"tag": tag}]}
        lines.append(orjson.dumps(payload).decode())
    return lines


def _with_created_at(tweet):
    """A page asked for the default fields only (tweepy's recorded cassettes) has no `created_at`;
    an X id is a snowflake that carries its creation time, so it is filled in from the id."""
    if not isinstance(tweet, dict) or "created_at" in tweet:
        return tweet
    tweet_id = tweet.get("id")
    if not (isinstance(tweet_id, str) and tweet_id.isascii() and tweet_id.isdigit() and len(tweet_id) <= 19):
        return tweet
    return {**tweet, "created_at": snowflake_time(tweet_id).isoformat(timespec="milliseconds") + "Z"}


@dataclass
class TweetBatch:
    table: pa.Table
    dead_letters: list[dict] = field(default_factory=list)
    duplicates: int = 0


def tweets_table(lines: Iterable[str | bytes], default_market: str = "", seen: set[str] | None = None, first_line: int = 1) -> TweetBatch:
    """Parse lines into a raw_tweets table; bad lines become dead letters (numbered from `first_line`).

    An id already in `seen` (or earlier in `lines`) is a duplicate; `seen` gains the new ids, so a
    caller landing chunk after chunk passes one set and deduplicates across all of them."""
    seen = set() if seen is None else seen
    rows, dead, duplicates = [], [], 0
    for number, line in enumerate(lines, start=first_line):
        try:
            row = parse_row(line, default_market)
        except BadRecord as exc:
            raw = line.decode("utf-8", "backslashreplace") if isinstance(line, bytes) else line
            dead.append({"line": number, "reason": str(exc), "bytes": len(line), "raw": raw[:10_000]})
            continue
        if row[0] in seen:
            duplicates += 1
            continue
        seen.add(row[0])
        rows.append(row)
    columns = zip(*rows, strict=True) if rows else [[] for _ in RAW_TWEETS.names]
    arrays = [pa.array(values, type=f.type) for values, f in zip(columns, RAW_TWEETS, strict=True)]
    return TweetBatch(pa.Table.from_arrays(arrays, schema=RAW_TWEETS), dead, duplicates)
