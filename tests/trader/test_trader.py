"""The trader process, run as a user runs it (`sentitrade trade` in its own process), on the small
demo's trained registry and replay: same decisions at any speed, live model swaps and shadows,
the kill switch, signals, one writer, restarts that continue the run, and metrics."""

from __future__ import annotations

import json
import shutil
import signal
import socket
import subprocess
import urllib.request

import duckdb
import pandas as pd
import pytest
import sqlalchemy as sa
from mlflow import MlflowClient
from prometheus_client.parser import text_string_to_metric_families

from models.features import FEATURE_COLUMNS
from tests.conftest import last_json, run_cli
from tests.trader.conftest import ledger_engine, scalar, span_args, start_trader, wait_for

MODEL = "sentitrade-signal"


def _rounds(data) -> int:
    """Whole rounds the ledger holds (every round marks the champion's equity)."""
    return scalar(data, "select count(*) from equity e join books b on b.book_id = e.book_id where b.role = 'champion'") or 0


def _held(data) -> int:
    """Tokens the champion's book holds now, from its fills."""
    return scalar(data, "select count(*) from (select f.token_id from fills f join books b on b.book_id = f.book_id "
                        "where b.role = 'champion' group by f.token_id "
                        "having abs(sum(case when f.side = 'BUY' then f.shares else -f.shares end)) > 1e-9)") or 0


def _decisions(data, run_id: str | None = None) -> pd.DataFrame:
    with ledger_engine(data).connect() as con:
        frame = pd.read_sql("select d.*, b.role, b.alias from decisions d join books b on b.book_id = d.book_id order by d.id", con,
                            parse_dates=["ts"])
    return frame if run_id is None else frame[frame["run_id"] == run_id]


def _fills(data) -> list[tuple]:
    with ledger_engine(data).connect() as con:
        rows = con.execute(sa.text(
            "select f.ts, f.market, f.token, f.side, f.shares, f.price, f.fee from fills f join books b on b.book_id = f.book_id "
            "where b.role = 'champion' order by f.ts, f.id")).all()
    return [tuple(r) for r in rows]


def _features_equal_dbt(data, decided: pd.DataFrame) -> int:
    live = pd.DataFrame([json.loads(f) for f in decided["features"]])
    live["ts"] = pd.to_datetime(live["ts"])
    with duckdb.connect(str(data / "warehouse.duckdb"), read_only=True) as con:
        offline = con.sql("select * from features").df()
    joined = live.merge(offline, on=["market", "ts"], suffixes=("_live", "_offline"), validate="one_to_one")
    assert len(joined) == len(live)
    for column in FEATURE_COLUMNS:
        diff = (joined[f"{column}_live"] - joined[f"{column}_offline"]).abs().max()
        assert diff <= 1e-9, (column, diff)
    return len(joined)


def test_a_replay_decides_the_same_at_full_and_at_compressed_speed_and_as_dbt(trade_dir, holdout_start):
    span = span_args(holdout_start, 2)
    fast = run_cli("trade", "--data-dir", str(trade_dir), *span, "--speed", "0")
    assert fast.returncode == 0, fast.stderr[-2000:]
    paced = run_cli("trade", "--data-dir", str(trade_dir), *span, "--speed", "1800")  # 2 hours in 4 s
    assert paced.returncode == 0, paced.stderr[-2000:]
    first, second = last_json(fast.stdout), last_json(paced.stdout)
    assert first["status"] == second["status"] == "finished" and first["run_id"] != second["run_id"]
    a, b = _decisions(trade_dir, first["run_id"]), _decisions(trade_dir, second["run_id"])
    assert len(a) == len(b) >= 4 * 20
    columns = ["ts", "market", "model_version", "p_up", "signal", "reason"]
    pd.testing.assert_frame_equal(a[columns].reset_index(drop=True), b[columns].reset_index(drop=True), rtol=0, atol=1e-12)
    features = [pd.DataFrame([json.loads(f) for f in d["features"]])[FEATURE_COLUMNS] for d in (a, b)]
    assert (features[0] - features[1]).abs().max().max() <= 1e-12
    assert _features_equal_dbt(trade_dir, b) == len(b)


def test_a_new_champion_is_picked_up_between_decisions_and_a_challenger_trades_in_shadow(trade_dir, holdout_start):
    client = MlflowClient(f"sqlite:///{trade_dir / 'mlflow' / 'mlflow.db'}")
    old = str(client.get_registered_model(MODEL).aliases["champion"])
    new = next(str(v.version) for v in client.search_model_versions(f"name='{MODEL}'") if str(v.version) != old)
    trader = start_trader(trade_dir, *span_args(holdout_start, 6), "--speed", "900", SENTITRADE_TRADER_MODEL_POLL_S="0.2")
    try:
        before = wait_for(lambda: (n := _rounds(trade_dir)) >= 8 and n, timeout=180)
        client.set_registered_model_alias(MODEL, "champion", new)
        client.set_registered_model_alias(MODEL, "challenger", old)
        out, err = trader.communicate(timeout=180)
    finally:
        trader.kill()
    assert trader.returncode == 0, err[-2000:]
    champion = _decisions(trade_dir).query("role == 'champion'")
    versions = champion.groupby("ts")["model_version"].first()
    assert versions.iloc[0] == old and versions.iloc[-1] == new
    switched = versions[versions == new].index.min()
    assert (versions[versions.index >= switched] == new).all(), "once swapped, every later decision is the new version's"
    assert (versions.index < switched).sum() >= before - 1  # the old version decided until the swap
    assert not champion.duplicated(["ts", "market"]).any()  # nothing decided twice at the swap
    assert (pd.Series(versions.index).diff().dropna() == pd.Timedelta(minutes=5)).all()  # nor a round skipped
    shadow = _decisions(trade_dir).query("role == 'shadow'")
    assert set(shadow["alias"]) == {"challenger"} and set(shadow["model_version"]) == {old}
    assert shadow["ts"].min() >= switched and len(shadow) >= 4 * 10
    assert f"champion: v{old} -> v{new}" in err
    report = json.loads(run_cli("ledger", "--json", "--data-dir", str(trade_dir)).stdout)
    books = {b["role"]: b for b in report["books"]}
    assert set(books["champion"]["by_version"]) == {old, new}
    assert books["shadow"]["alias"] == "challenger" and books["shadow"]["model_version"] == old
    table = run_cli("ledger", "--data-dir", str(trade_dir))
    assert table.returncode == 0 and "shadow challenger" in table.stdout and f"v{new}" in table.stdout


@pytest.mark.parametrize("mode", ["flatten", "freeze"])
def test_the_kill_file_cancels_flattens_or_freezes_records_why_and_exits_0(trade_dir, holdout_start, mode):
    trader = start_trader(trade_dir, *span_args(holdout_start, 12), "--speed", "900", SENTITRADE_TRADER_ON_KILL=mode)
    try:
        wait_for(lambda: _held(trade_dir) and _rounds(trade_dir) >= 10, timeout=240)
        killed = run_cli("trade", "kill", "--reason", "drill", "--data-dir", str(trade_dir))
        assert killed.returncode == 0 and "kill file written" in killed.stdout
        _, err = trader.communicate(timeout=60)
    finally:
        trader.kill()
    assert trader.returncode == 0, err[-2000:]
    assert scalar(trade_dir, "select status from runs") == "aborted"
    assert "drill" in scalar(trade_dir, "select stop_reason from runs")
    assert "drill" in scalar(trade_dir, "select message from events where kind = 'kill'")
    sold = scalar(trade_dir, "select count(*) from fills where order_id in (select order_id from orders where reason like 'kill:%')")
    if mode == "flatten":
        assert _held(trade_dir) == 0 and sold >= 1
        assert json.loads(run_cli("ledger", "--json", "--data-dir", str(trade_dir)).stdout)["positions"] == {}
    else:
        assert sold == 0 and _held(trade_dir) >= 1
    refused = run_cli("trade", "--data-dir", str(trade_dir))
    assert refused.returncode == 2 and "sentitrade trade kill --clear" in refused.stderr
    assert run_cli("trade", "kill", "--clear", "--data-dir", str(trade_dir)).returncode == 0
    assert not (trade_dir / "KILL").exists()


def test_sigterm_stops_after_the_round_a_second_trader_is_refused_and_a_restart_continues(trade_dir, holdout_start):
    span = span_args(holdout_start, 4)
    trader = start_trader(trade_dir, *span, "--speed", "600")
    try:
        wait_for(lambda: _rounds(trade_dir) >= 5, timeout=180)
        second = run_cli("trade", "--data-dir", str(trade_dir), *span)
        assert second.returncode == 2 and "another trader holds this ledger: pid" in second.stderr, second.stderr
        trader.send_signal(signal.SIGTERM)
        out, err = trader.communicate(timeout=60)
    finally:
        trader.kill()
    assert trader.returncode == 0, err[-2000:]
    assert last_json(out)["status"] == "running"
    stopped_at = _rounds(trade_dir)
    resumed = run_cli("trade", "--data-dir", str(trade_dir), *span)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert last_json(resumed.stdout)["run_id"] == last_json(out)["run_id"]
    assert scalar(trade_dir, "select count(*) from runs") == 1 and scalar(trade_dir, "select status from runs") == "finished"
    assert scalar(trade_dir, "select count(*) from events where kind = 'resumed'") == 1
    assert _rounds(trade_dir) == 4 * 12 > stopped_at  # every grid time once: none lost, none repeated
    assert scalar(trade_dir, "select count(*) from (select book_id, ts, market from decisions group by 1, 2, 3 having count(*) > 1)") == 0


@pytest.mark.slow
def test_sigkill_at_random_points_leaves_whole_rounds_and_the_clean_runs_positions(trade_dir, holdout_start, tmp_path):
    """20 SIGKILLs at random moments (start-up, mid-round, between rounds), a restart after each:
    the ledger holds whole rounds only, one run, and exactly the fills and positions of a clean run."""
    import random

    span = span_args(holdout_start, 24)  # long enough that no killed start reaches its end (the last one runs at full speed)
    clean_dir = tmp_path / "clean"
    shutil.copytree(trade_dir, clean_dir)
    clean = run_cli("trade", "--data-dir", str(clean_dir), *span)
    assert clean.returncode == 0, clean.stderr[-2000:]
    chance = random.Random(20261201)
    kills = 0
    for _ in range(20):
        trader = start_trader(trade_dir, *span, "--speed", "600")  # two rounds a second once started
        try:
            trader.wait(timeout=chance.uniform(2.0, 9.0))
        except subprocess.TimeoutExpired:
            trader.send_signal(signal.SIGKILL)
            kills += 1
        out, err = trader.communicate(timeout=60)
        assert trader.returncode in (0, -signal.SIGKILL), err[-2000:]
        assert "finished" not in out, "a killed start ran to the end of the span: make the span longer"
        whole = scalar(trade_dir, "select count(*) from (select ts from equity group by ts having count(*) != "
                                  "(select count(*) from books where role = 'champion'))")
        assert not whole, "a round without its equity mark: half-written"
    final = run_cli("trade", "--data-dir", str(trade_dir), *span)
    assert final.returncode == 0, final.stderr[-2000:]
    assert kills >= 15
    assert scalar(trade_dir, "select count(*) from runs") == 1 and scalar(trade_dir, "select status from runs") == "finished"
    assert _rounds(trade_dir) == _rounds(clean_dir) == 24 * 12
    assert _fills(trade_dir) == _fills(clean_dir) and len(_fills(clean_dir)) >= 1
    report = lambda d: json.loads(run_cli("ledger", "--json", "--data-dir", str(d)).stdout)  # noqa: E731
    assert report(trade_dir)["positions"] == report(clean_dir)["positions"]
    columns = ["ts", "market", "p_up", "signal", "reason"]
    pd.testing.assert_frame_equal(_decisions(trade_dir)[columns].reset_index(drop=True), _decisions(clean_dir)[columns].reset_index(drop=True))


def test_metrics_are_served_while_it_trades(trade_dir, holdout_start):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    trader = start_trader(trade_dir, *span_args(holdout_start, 12), "--speed", "600", "--metrics-port", str(port), "--log-format", "json")

    def scrape():
        try:
            text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2).read().decode()
        except OSError:
            return None
        samples = {(s.name, tuple(sorted(s.labels.items()))): s.value for f in text_string_to_metric_families(text) for s in f.samples}
        decided = sum(v for (name, _), v in samples.items() if name == "sentitrade_decisions_total")
        return samples if decided >= 20 else None

    try:
        samples = wait_for(scrape, timeout=180, every=0.5)
    finally:
        trader.send_signal(signal.SIGTERM)
        _, err = trader.communicate(timeout=60)
    names = {name for name, _ in samples}
    assert {"sentitrade_decision_latency_seconds_count", "sentitrade_equity_usdc", "sentitrade_pnl_usdc",
            "sentitrade_feed_lag_seconds", "sentitrade_model_version", "sentitrade_event_time_seconds"} <= names
    assert samples[("sentitrade_decision_latency_seconds_count", ())] >= 5
    live = [dict(labels) for (name, labels), v in samples.items() if name == "sentitrade_model_version" and v == 1]
    assert [d["alias"] for d in live] == ["champion"]
    logged = [json.loads(line) for line in err.splitlines() if line.strip()]
    assert logged and all({"ts", "level", "logger", "message"} <= entry.keys() for entry in logged)
    assert any("stopping after the current round" in entry["message"] for entry in logged)


def test_bad_trader_input_is_one_line(trade_dir):
    for args, named in ([["--speed", "inf"], "--speed"], [["--start", "yesterday"], "--start"], [["--feed", "carrier-pigeon"], "--feed"],
                        [["--execution", "live"], "SENTITRADE_POLYMARKET_PRIVATE_KEY is not set"], [["--execution", "yolo"], "--execution"]):
        result = run_cli("trade", "--data-dir", str(trade_dir), *args)
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert result.returncode == 2 and len(lines) == 1 and named in lines[0], result.stderr
