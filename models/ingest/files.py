"""Bring your own tweets: a JSON Lines file of X API v2 payloads, or a CSV, as stream payload lines.

JSON Lines: one filtered-stream object per line, or one recent-search response page per line (each
of its tweets becomes a stream payload). A payload that matched no rule gets the import's market.
CSV: at least `created_at` and `text` columns; an `id` (or `tweet_id`, `id_str`) column if there is
one, else a stable id derived from the row's content (so a re-import finds the same ids); optional
author and count columns, the author's `followers` (or `followers_count`) and `verified` kept as the X
payloads carry them, so the follower-weighted features see them. Times without a zone are taken as UTC. Bytes that are not UTF-8 are
replaced by U+FFFD and counted; a row that still cannot be landed becomes a dead letter.
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

import orjson

from models.ingest.tweets import search_page_lines

ID_COLUMNS = ("id", "tweet_id", "id_str")
AUTHOR_COLUMNS = ("username", "user", "screen_name", "author")
COUNT_COLUMNS = {"like_count": ("like_count", "likes", "favorites", "favorite_count"), "retweet_count": ("retweet_count", "retweets")}
FOLLOWER_COLUMNS = ("followers", "followers_count", "author_followers")
VERIFIED_COLUMNS = ("verified", "author_verified")
TRUE_WORDS, FALSE_WORDS = {"true", "1", "yes", "y", "t"}, {"false", "0", "no", "n", "f", ""}
TIME_FORMATS = ("%m/%d/%y %H:%M", "%m/%d/%Y %H:%M", "%m/%d/%Y %H:%M:%S", "%Y-%m-%d %H:%M:%S", "%a %b %d %H:%M:%S %z %Y")


class UnreadableFile(ValueError):
    """The file as a whole cannot be imported (unknown kind, missing columns)."""


@dataclass
class FileStats:
    repaired_lines: int = 0  # lines with bytes that were not UTF-8
    replaced_bytes: int = 0  # those bytes, each run replaced by one U+FFFD


def file_lines(path: Path, market: str, stats: FileStats, time_format: str | None = None, progress: Callable[[int], object] = lambda n: None) -> Iterator[bytes | str]:
    """The stream payload lines of a `.jsonl`/`.ndjson`/`.json` or `.csv` file; `progress` gets bytes read."""
    kind = Path(path).suffix.lower()
    if kind not in (".jsonl", ".ndjson", ".json", ".csv"):
        raise UnreadableFile(f"{path}: expected a .jsonl (X API v2 payloads) or .csv file, not {kind or 'no extension'}")
    with Path(path).open("rb") as handle:
        if kind == ".csv":
            yield from _csv_lines(_counted(handle, progress), market, stats, time_format)
        else:
            yield from _json_lines(_counted(handle, progress), market)


def _counted(handle: BinaryIO, progress: Callable[[int], object]) -> Iterator[bytes]:
    for raw in handle:
        progress(len(raw))
        yield raw


def _json_lines(raw_lines: Iterator[bytes], market: str) -> Iterator[bytes | str]:
    for raw in raw_lines:
        if not raw.strip():
            continue
        try:
            obj = orjson.loads(raw)
        except orjson.JSONDecodeError:
            yield raw  # the parser dead-letters it with its reason
            continue
        if isinstance(obj, dict) and isinstance(obj.get("data"), list):
            yield from search_page_lines(obj, market)
        else:
            yield raw


def decode_repairing(raw: bytes, stats: FileStats) -> str:
    """UTF-8 text of `raw` with every invalid byte sequence replaced by U+FFFD, and counted."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        stats.repaired_lines += 1
    parts, rest = [], raw
    while True:
        try:
            parts.append(rest.decode("utf-8"))
            return "".join(parts)
        except UnicodeDecodeError as exc:
            parts += [rest[: exc.start].decode("utf-8"), "\ufffd"]
            stats.replaced_bytes += exc.end - exc.start
            rest = rest[exc.end :]


def _csv_lines(raw_lines: Iterator[bytes], market: str, stats: FileStats, time_format: str | None) -> Iterator[bytes]:
    reader = csv.reader(decode_repairing(raw, stats) for raw in raw_lines)
    header = [name.strip().lower() for name in next(reader, [])]
    missing = {"created_at", "text"} - set(header)
    if missing:
        raise UnreadableFile(f"the CSV has no {' or '.join(sorted(missing))} column (found: {', '.join(header) or 'nothing'})")
    column = {name: i for i, name in reversed(list(enumerate(header)))}
    id_column = next((column[c] for c in ID_COLUMNS if c in column), None)
    author_column = next((column[c] for c in AUTHOR_COLUMNS if c in column), None)
    counts = {key: next((column[c] for c in names if c in column), None) for key, names in COUNT_COLUMNS.items()}
    followers_column = next((column[c] for c in FOLLOWER_COLUMNS if c in column), None)
    verified_column = next((column[c] for c in VERIFIED_COLUMNS if c in column), None)
    formats = (time_format, *TIME_FORMATS) if time_format else TIME_FORMATS
    for row in reader:
        if not any(cell.strip() for cell in row):
            continue
        tweet_id = _cell(row, id_column) or "csv-" + hashlib.sha256("\x1f".join(row).encode("utf-8", "surrogatepass")).hexdigest()[:24]
        author = _cell(row, author_column)
        data = {
            "id": tweet_id,
            "text": row[column["text"]] if column["text"] < len(row) else "",
            "created_at": _iso_time(_cell(row, column["created_at"]), formats),
            "public_metrics": {key: int(_cell(row, i)) for key, i in counts.items() if _cell(row, i).isdigit()},
        }
        users = []
        if author:
            data["author_id"] = "@" + author  # the file names the author, not X's numeric user id
            users.append({"id": "@" + author, "username": author, **_author_columns(row, followers_column, verified_column)})
        yield orjson.dumps({"data": data, "includes": {"users": users}, "matching_rules": [{"tag": market}]})


def _author_columns(row: list[str], followers_column: int | None, verified_column: int | None) -> dict:
    """The author fields a row gives, in the X payload's shape; a value that is not a count or a yes/no is
    passed on as it is, so the parser dead-letters the row with its reason rather than guess."""
    fields = {}
    followers = _cell(row, followers_column).replace(",", "")
    if followers:
        fields["public_metrics"] = {"followers_count": int(followers) if followers.isdigit() else followers}
    verified = _cell(row, verified_column).lower()
    if verified_column is not None:
        fields["verified"] = True if verified in TRUE_WORDS else False if verified in FALSE_WORDS else verified
    return fields


def _cell(row: list[str], i: int | None) -> str:
    return row[i].strip() if i is not None and i < len(row) else ""


def _iso_time(text: str, formats: tuple[str, ...]) -> str:
    """ISO-8601 UTC for the usual spellings of a time; anything else is passed on for the parser to refuse."""
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        for spelling in formats:
            try:
                moment = datetime.strptime(text, spelling)
                break
            except ValueError:
                continue
        else:
            return text
    return (moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment).isoformat() + "Z"
