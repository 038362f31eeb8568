"""Bring your own tweets: `sentitrade ingest tweets --from PATH` lands a CSV or X API v2 JSON Lines."""

from __future__ import annotations

import csv
import json
from datetime import datetime

import pyarrow.parquet as pq
import pytest

from connectors.lake import Lake
from models.ingest.landing import TABLE
from tests.conftest import SHARED_DATA

REAL_CSV = SHARED_DATA / "tweets" / "fivethirtyeight_realDonaldTrump.csv"


def stored(data_dir) -> list[dict]:
    lake = Lake(data_dir / "lake")
    return [row for day in lake.days(TABLE) for row in pq.read_table(lake.path(TABLE, day)).to_pylist()]


def test_the_real_csv_lands_every_row_with_its_bad_bytes_replaced_and_counted(tmp_path, sentitrade):
    with REAL_CSV.open(encoding="utf-8", errors="replace", newline="") as handle:
        rows = list(csv.DictReader(handle))
    result = sentitrade("ingest", "tweets", "--from", str(REAL_CSV), "--market", "trump-tweets", "--data-dir", str(tmp_path))
    assert result.code == 0, result.stderr
    assert result.summary == {"read": len(rows), "landed": len(rows), "duplicates": 0, "dead_lettered": 0} and len(rows) == 3232
    assert "repaired: 492 lines with bytes that are not UTF-8 (2,160 bytes replaced by U+FFFD)" in result.stdout
    landed = stored(tmp_path)
    assert sorted(r["text"] for r in landed) == sorted(r["text"] for r in rows)  # every row, its text as read
    assert sum("\ufffd" in r["text"] for r in landed) == sum("\ufffd" in r["text"] for r in rows) > 400
    by_text = {r["text"]: r for r in landed}
    first = rows[0]
    assert by_text[first["text"]]["created_at"] == datetime.strptime(first["created_at"], "%m/%d/%y %H:%M")
    assert by_text[first["text"]]["like_count"] == int(first["favorites"]) and by_text[first["text"]]["author_username"] == "realDonaldTrump"
    assert {r["market"] for r in landed} == {"trump-tweets"}

    again = sentitrade("ingest", "tweets", "--from", str(REAL_CSV), "--market", "trump-tweets", "--data-dir", str(tmp_path))
    assert again.code == 0 and again.summary == {"read": 3232, "landed": 0, "duplicates": 3232, "dead_lettered": 0}
    assert len(stored(tmp_path)) == 3232


def test_json_lines_of_stream_objects_and_search_pages_land_with_bad_lines_dead_lettered(tmp_path, sentitrade):
    stream_object = {"data": {"id": "1001", "text": "cut coming", "created_at": "2026-11-02T10:00:00.000Z"}, "matching_rules": [{"id": "9", "tag": "fed-cut"}]}
    untagged = {"data": {"id": "1002", "text": "no rule", "created_at": "2026-11-02T11:00:00.000Z"}}
    page = {"data": [{"id": "1003", "text": "from search", "created_at": "2026-11-02T12:00:00.000Z", "author_id": "7"},
                     {"id": "1001", "text": "cut coming", "created_at": "2026-11-02T10:00:00.000Z"}],
            "includes": {"users": [{"id": "7", "username": "seven"}]}, "meta": {"result_count": 2}}
    path = tmp_path / "mine.jsonl"
    path.write_bytes(b"\n".join([json.dumps(stream_object).encode(), json.dumps(untagged).encode(), b"", json.dumps(page).encode(),
                                 b'{"data": {"id": "1004", "text": "cut', b'{"data": {"id": "1005", "text": "\xff", "created_at": "2026-11-02T12:00:00Z"}}']))
    result = sentitrade("ingest", "tweets", "--from", str(path), "--market", "imported", "--data-dir", str(tmp_path))
    assert result.code == 0, result.stderr
    assert result.summary == {"read": 6, "landed": 3, "duplicates": 1, "dead_lettered": 2}
    rows = {r["tweet_id"]: r for r in stored(tmp_path)}
    assert rows["1001"]["market"] == "fed-cut" and rows["1002"]["market"] == "imported" and rows["1003"]["market"] == "imported"
    assert rows["1003"]["author_username"] == "seven"
    letters = [json.loads(line) for line in next((tmp_path / "lake" / "_dead_letters" / TABLE).glob("import-mine-*.jsonl")).read_text().splitlines()]
    assert [("not valid JSON" in d["reason"], "invalid UTF-8" in d["reason"]) for d in letters] == [(True, False), (False, True)]
    assert "dead-lettered: 2 -> " in result.stdout


def test_a_csv_without_an_id_gets_stable_ids_and_unknown_times_are_dead_lettered(tmp_path, sentitrade):
    path = tmp_path / "mine.csv"
    path.write_text("Created_At,Text,likes\n2026-11-02 09:30:00,first,3\n2026-11-02 09:30:00,second,x\nnot a time,third,1\n,,\n")
    result = sentitrade("ingest", "tweets", "--from", str(path), "--data-dir", str(tmp_path))
    assert result.code == 0, result.stderr
    assert result.summary == {"read": 3, "landed": 2, "duplicates": 0, "dead_lettered": 1}
    rows = stored(tmp_path)
    assert {r["market"] for r in rows} == {"unassigned"} and all(r["tweet_id"].startswith("csv-") for r in rows)
    assert {r["text"]: r["like_count"] for r in rows} == {"first": 3, "second": 0}
    assert sentitrade("ingest", "tweets", "--from", str(path), "--data-dir", str(tmp_path)).summary == {
        "read": 3, "landed": 0, "duplicates": 2, "dead_lettered": 1}


@pytest.mark.parametrize(
    "content, name, message",
    [
        ("when,what\n1,2\n", "a.csv", "the CSV has no created_at or text column"),
        ("{}", "a.txt", "expected a .jsonl (X API v2 payloads) or .csv file"),
    ],
)
def test_unreadable_files_are_one_line_user_errors(tmp_path, sentitrade, content, name, message):
    path = tmp_path / name
    path.write_text(content)
    result = sentitrade("ingest", "tweets", "--from", str(path), "--data-dir", str(tmp_path))
    assert result.code == 2 and result.stderr.startswith("error: ") and message in result.stderr and result.stderr.count("\n") == 1
    missing = sentitrade("ingest", "tweets", "--from", str(tmp_path / "nope.csv"), "--data-dir", str(tmp_path))
    assert missing.code == 2 and missing.stderr == f"error: --from {tmp_path / 'nope.csv'}: no such file\n"
