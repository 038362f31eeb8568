"""Fuzz: thousands of malformed lines among good ones. Nothing crashes, every bad line is in the
dead-letter file with its reason, every good tweet is stored exactly once."""

from __future__ import annotations

import json
import random

import orjson
import pyarrow.parquet as pq

from connectors.lake import Lake
from models.ingest.landing import TABLE, DeadLetters, TweetLanding, dead_letter_path
from models.ingest.tweets import MAX_LINE_BYTES


def good(i: int) -> dict:
    return {
        "data": {"id": str(10**18 + i), "text": f"good tweet {i} 🚀", "created_at": f"2026-11-0{1 + i % 3}T{i % 24:02d}:00:00.000Z",
                 "author_id": "5", "lang": "en", "public_metrics": {"like_count": i, "retweet_count": 1}},
        "includes": {"users": [{"id": "5", "username": "u", "verified": False, "public_metrics": {"followers_count": 3}}]},
        "matching_rules": [{"id": "1", "tag": "fed-cut"}],
    }


def with_data(i: int, **changes) -> str:
    payload = good(i)
    payload["data"].update(changes)
    return json.dumps(payload)


def without(i: int, key: str) -> str:
    payload = good(i)
    del payload["data"][key]
    return json.dumps(payload)


def replaced(i: int, path: tuple, value) -> str:
    payload = good(i)
    target = payload
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return json.dumps(payload)


def malformed(rng: random.Random, i: int) -> tuple[str | bytes, str]:
    """One bad line and a piece of the reason it must be dead-lettered with."""
    line = json.dumps(good(i))
    kinds = [
        lambda: (line[: rng.randrange(1, len(line) - 1)], "not valid JSON"),
        lambda: (line + " trailing", "not valid JSON"),
        lambda: (line.replace("good tweet", "bad \\ud800 tweet"), "not valid JSON"),  # a lone surrogate
        lambda: ('{"data": NaN}', "not valid JSON"),
        lambda: ("", "not valid JSON"),
        lambda: (bytes(rng.randrange(256) for _ in range(rng.randrange(1, 60))) + b"\xff", "invalid UTF-8"),
        lambda: (line.encode().replace(b"good", b"go\xc3(d"), "invalid UTF-8"),
        lambda: (line.encode().replace(b"tweet", b"tw\xc0\xafeet"), "invalid UTF-8"),
        lambda: (without(i, "id"), "data.id"),
        lambda: (without(i, "text"), "data.text"),
        lambda: (without(i, "created_at"), "data.created_at"),
        lambda: (with_data(i, id=10**18 + i), "data.id"),
        lambda: (with_data(i, id="9" * 100), "characters long"),
        lambda: (with_data(i, text=["not", "text"]), "data.text"),
        lambda: (with_data(i, text="   \n "), "data.text"),
        lambda: (with_data(i, created_at=1730000000), "data.created_at"),
        lambda: (with_data(i, created_at="yesterday"), "ISO-8601"),
        lambda: (with_data(i, created_at="2026-13-45T99:00:00Z"), "ISO-8601"),
        lambda: (with_data(i, author_id=5), "data.author_id"),
        lambda: (with_data(i, lang=["en"]), "data.lang"),
        lambda: (with_data(i, public_metrics="many"), "data.public_metrics"),
        lambda: (with_data(i, public_metrics={"like_count": -1}), "like_count"),
        lambda: (with_data(i, public_metrics={"like_count": 2**64}), "like_count"),
        lambda: (with_data(i, public_metrics={"retweet_count": "7"}), "retweet_count"),
        lambda: (with_data(i, public_metrics={"like_count": 1.5}), "like_count"),
        lambda: (replaced(i, ("includes",), ["users"]), "`includes`"),
        lambda: (replaced(i, ("includes", "users"), {"id": "5"}), "includes.users"),
        lambda: (replaced(i, ("includes", "users", 0, "verified"), "yes"), "verified"),
        lambda: (replaced(i, ("includes", "users", 0, "public_metrics"), 3), "public_metrics"),
        lambda: (replaced(i, ("matching_rules",), "fed-cut"), "matching_rules"),
        lambda: (replaced(i, ("matching_rules",), ["fed-cut"]), "matching_rules[0]"),
        lambda: (replaced(i, ("matching_rules", 0, "tag"), 42), "tag"),
        lambda: (replaced(i, ("data",), [good(i)["data"]]), "no `data` object"),
        lambda: (rng.choice(["[]", "null", "42", '"text"', "{}"]), "no `data` object"),
    ]
    return rng.choice(kinds)()


def test_a_thousand_malformed_lines_are_dead_lettered_and_every_good_line_lands_once(tmp_path):
    rng = random.Random(20261125)
    lines, expected_reason, good_ids = [], {}, set()
    for i in range(1500):
        if rng.random() < 0.3:
            lines.append(json.dumps(good(i)))
            good_ids.add(str(10**18 + i))
            if rng.random() < 0.2:  # the stream and a backfill both delivered it
                lines.append(json.dumps(good(i)))
        else:
            line, reason = malformed(rng, i)
            lines.append(line)
            expected_reason[len(lines)] = reason
    for _ in range(3):  # absurd sizes
        lines.append(with_data(0, text="x" * (MAX_LINE_BYTES + 10)))
        expected_reason[len(lines)] = "-byte limit"
    assert len(expected_reason) >= 1000

    lake = Lake(tmp_path / "lake")
    letters = DeadLetters(dead_letter_path(lake, "fuzz"), "fuzz")
    report = TweetLanding(lake, letters, chunk_rows=97).land(lines)  # small chunks: ids dedup across chunk edges

    assert report.read == len(lines) and report.dead_lettered == len(expected_reason) == letters.count
    stored = [tid for day in lake.days(TABLE) for tid in pq.read_table(lake.path(TABLE, day))["tweet_id"].to_pylist()]
    assert sorted(stored) == sorted(good_ids) and report.landed == len(good_ids)
    assert report.duplicates == len(lines) - len(expected_reason) - len(good_ids)
    dead = [orjson.loads(line) for line in letters.path.read_bytes().splitlines()]
    assert {d["line"] for d in dead} == set(expected_reason)
    for letter in dead:
        assert expected_reason[letter["line"]] in letter["reason"], letter
        assert letter["source"] == "fuzz" and len(letter["raw"]) <= 10_000 and letter["bytes"] == len(lines[letter["line"] - 1])
    raw = {d["line"]: d["raw"] for d in dead}
    first_text_bad = next(n for n, reason in expected_reason.items() if reason == "ISO-8601")
    assert raw[first_text_bad] == lines[first_text_bad - 1]
