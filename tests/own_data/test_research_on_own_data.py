"""A user's own data end to end: tweets (CSV), markets (Gamma JSON), prices (CSV) and resolutions for six days
of October 2026, imported with the CLI, then `sentitrade research` trains, backtests and promotes on them.

The files are the planted-signal replay (the configuration known to promote) written out as a user would
have them: one CSV of tweets per market, the Gamma market objects, a `timestamp,price` CSV per market."""

from __future__ import annotations

import csv
import json
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from dagster import AssetKey, DagsterInstance
from mlflow import MlflowClient

from connectors.lake import Lake
from connectors.replay import ReplayConfig, generate_replay
from models.research import KINDS
from orchestration.partitions import daily_partitions
from sentitrade.settings import Settings
from tests.conftest import last_json, run_cli

START = date(2026, 10, 1)
DAYS = [(START + timedelta(days=i)).isoformat() for i in range(6)]


def write_user_files(replay: Path, out: Path) -> dict:
    """The replay's payloads, markets and price histories as a user's CSV and JSON files."""
    markets = json.loads((replay / "markets.json").read_text())
    (out / "markets.json").write_text(json.dumps(markets))
    files = {"markets": out / "markets.json", "tweets": {}, "prices": {}, "followers": {}}
    writers = {}
    for m in markets:
        handle = (out / f"tweets-{m['slug']}.csv").open("w", newline="")
        writers[m["slug"]] = (handle, csv.writer(handle))
        writers[m["slug"]][1].writerow(["id", "created_at", "text", "username", "followers", "verified"])
        files["tweets"][m["slug"]] = out / f"tweets-{m['slug']}.csv"
    for day_file in sorted((replay / "tweets").glob("*.jsonl")):
        for line in day_file.read_text().splitlines():
            payload = json.loads(line)
            data, user = payload["data"], payload["includes"]["users"][0]
            followers = user["public_metrics"]["followers_count"]
            files["followers"][data["id"]] = followers
            writers[payload["matching_rules"][0]["tag"]][1].writerow(
                [data["id"], data["created_at"], data["text"], user["username"], followers, str(user.get("verified", False)).lower()])
    for handle, _ in writers.values():
        handle.close()
    rows = ["market,resolved_at,outcome"]
    for m in markets:
        history = json.loads((replay / "prices" / f"{json.loads(m['clobTokenIds'])[0]}.json").read_text())["history"]
        path = out / f"prices-{m['slug']}.csv"
        path.write_text("timestamp,price\n" + "".join(f"{datetime.utcfromtimestamp(p['t']).isoformat()}Z,{p['p']}\n" for p in history))
        files["prices"][m["slug"]] = path
        # resolved after the data ends, so the positions the backtest holds at its end are sold at the bid as before
        rows.append(f"{m['slug']},{START + timedelta(days=9)}T00:00:00Z,{'YES' if history[-1]['p'] >= 0.5 else 'NO'}")
    (out / "resolutions.csv").write_text("\n".join(rows) + "\n")
    files["resolutions"] = out / "resolutions.csv"
    return files


def imported(*args: str) -> dict:
    result = run_cli("ingest", *args)
    assert result.returncode == 0, result.stderr[-2000:]
    return last_json(result.stdout)


@pytest.fixture(scope="module")
def own_data(tmp_path_factory):
    """One import and one research run, shared by every assertion below (it takes minutes)."""
    root = tmp_path_factory.mktemp("own")
    data, files_dir = root / "data", root / "files"
    files_dir.mkdir()
    generate_replay(root / "replay", ReplayConfig(seed=11, markets=4, days=6, tweets_per_day=4000, start=START))
    files = write_user_files(root / "replay", files_dir)
    at = ["--data-dir", str(data)]
    summaries = {"markets": imported("markets", "--from", str(files["markets"]), *at)}
    summaries["tweets"] = [imported("tweets", "--from", str(path), "--market", slug, *at) for slug, path in files["tweets"].items()]
    summaries["prices"] = [imported("prices", "--from", str(path), "--market", slug, *at) for slug, path in files["prices"].items()]
    summaries["resolutions"] = imported("resolutions", "--from", str(files["resolutions"]), *at)
    result = run_cli("research", *at, timeout=1200)
    assert result.returncode == 0, result.stderr[-3000:]
    return data, files, summaries, result.stdout


def test_every_file_lands_whole(own_data):
    data, files, summaries, _ = own_data
    assert summaries["markets"] == {"read": 4, "landed": 4, "duplicates": 0, "dead_lettered": 0}
    tweets = sum(s["landed"] for s in summaries["tweets"])
    assert tweets == len(files["followers"]) and all(s["dead_lettered"] == 0 for s in summaries["tweets"])
    assert all(s["landed"] == s["read"] > 0 and s["dead_lettered"] == 0 for s in summaries["prices"])
    assert summaries["resolutions"]["landed"] == 4
    lake = Lake(Settings(data_dir=data).lake_dir)
    assert [d.isoformat() for d in lake.days("raw_tweets")] == DAYS
    landed = {r["tweet_id"]: r["author_followers"] for d in lake.days("raw_tweets") for r in lake.read("raw_tweets", d).select(["tweet_id", "author_followers"]).to_pylist()}
    assert landed == files["followers"]  # the CSV's followers column reached every author


def test_research_trained_backtested_and_promoted_a_champion(own_data):
    data, _, _, stdout = own_data
    report = last_json(stdout)
    assert {"champion_version", "auc_holdout", "backtest_return", "seconds"} <= set(report)
    assert report["champion_version"] is not None, stdout[-3000:]
    assert "sentitrade research" in stdout and "champion" in stdout
    client = MlflowClient(f"sqlite:///{data / 'mlflow' / 'mlflow.db'}")
    versions = client.search_model_versions("name='sentitrade-signal'")
    assert sorted(v.tags["kind"] for v in versions) == sorted(KINDS)
    assert all("test_return" in client.get_run(v.run_id).data.metrics for v in versions)  # every version backtested
    assert str(client.get_registered_model("sentitrade-signal").aliases["champion"]) == report["champion_version"]


def test_dagster_holds_a_partition_for_each_imported_day(own_data):
    data, *_ = own_data
    settings = Settings(data_dir=data)
    assert daily_partitions(settings).get_partition_keys() == DAYS
    instance = DagsterInstance.from_config(str(settings.dagster_home))
    try:
        assert instance.get_materialized_partitions(AssetKey("scored_tweets")) == set(DAYS)
        assert instance.get_latest_materialization_event(AssetKey("promotion")) is not None
    finally:
        instance.dispose()


def test_a_second_import_lands_nothing(own_data):
    data, files, *_ = own_data
    at = ["--data-dir", str(data)]
    slug, path = next(iter(files["prices"].items()))
    again = [imported("markets", "--from", str(files["markets"]), *at), imported("prices", "--from", str(path), "--market", slug, *at),
             imported("resolutions", "--from", str(files["resolutions"]), *at), imported("tweets", "--from", str(files["tweets"][slug]), "--market", slug, *at)]
    assert [s["landed"] for s in again] == [0, 0, 0, 0]
    assert all(s["duplicates"] == s["read"] > 0 for s in again)
