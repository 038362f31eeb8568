"""The ledger's database going away mid-run: the trader stops trading, says why, and resumes when it
is back (the run ends with the ledger of an uninterrupted one), or exits 75 past the outage limit and
the next start continues from the last whole round. On a private PostgreSQL server of the test's own,
stopped with `pg_ctl stop -m immediate`; the shared server on 5432 is never touched."""

from __future__ import annotations

import logging
import subprocess
import threading
import time
import urllib.request
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import REPO, SENTITRADE, last_json, run_cli
from models.engine import Fill, Order
from tests.postgres import PASSWORD, PrivatePostgres, free_port
from tests.trader.conftest import cli_env, ledger_engine, span_args, wait_for
from tests.trader.test_ledger import TS, _step
from trader.ledger import BookRound, LeaseHeld, Ledger
from trader.metrics import TraderMetrics
from trader.outage import LedgerDown, LedgerWrites
from trader.schema import books, decisions, equity, fills, orders, runs



# --- the loop's pending write, on a stand-in ledger ---------------------------------------------------


def _cut() -> sa.exc.OperationalError:
    return sa.exc.OperationalError("insert into equity ...", {}, ConnectionError("server closed the connection unexpectedly"))


class StandIn:
    """A ledger whose database fails the next `down` calls (renewals included), as an outage does."""

    url = f"postgresql+psycopg://trader:{PASSWORD}@db.internal:5432/ledger"

    def __init__(self, down: int, lease_lost: bool = False):
        self.down, self.lease_lost, self.calls, self.renewals = down, lease_lost, [], 0

    def reach(self) -> None:
        if self.down > 0:
            self.down -= 1
            raise _cut()

    def renew(self) -> None:
        self.reach()
        self.renewals += 1
        if self.lease_lost:
            raise LeaseHeld("this trader's lease on the ledger was taken by another process: stopping")

    def record(self, what: str) -> str:
        self.reach()
        self.calls.append(what)
        return what


def _writes(ledger, limit_s: float = 30.0, killed=lambda: False) -> tuple[LedgerWrites, TraderMetrics, threading.Event]:
    metrics, stop = TraderMetrics(), threading.Event()
    return LedgerWrites(ledger, limit_s, metrics, stop, killed), metrics, stop


def _ledger_errors(metrics: TraderMetrics) -> float:
    return metrics.registry.get_sample_value("sentitrade_errors_total", {"kind": "ledger"}) or 0


def test_a_write_cut_off_waits_for_the_database_says_why_once_and_commits_once(caplog):
    ledger = StandIn(down=4)
    writes, metrics, _ = _writes(ledger)
    with caplog.at_level(logging.INFO, "trader"):
        assert writes.write("the round at 01:05", lambda: ledger.record("round")) == "round"
    assert ledger.calls == ["round"] and ledger.renewals >= 1  # the lease checked before the pending write went in
    assert _ledger_errors(metrics) == 4
    said = [r.getMessage() for r in caplog.records if "unreachable" in r.getMessage()]
    assert len(said) == 1 and "trader:***@db.internal" in said[0] and PASSWORD not in caplog.text
    assert "trading stopped" in said[0] and "the round at 01:05" in said[0] and "ConnectionError" in said[0]
    assert any("back after" in r.getMessage() and "trading resumes" in r.getMessage() for r in caplog.records)
    assert not writes.down


def test_a_commit_that_went_through_after_all_is_not_written_twice():
    ledger = StandIn(down=1)
    writes, _, _ = _writes(ledger)
    assert writes.write("the round", lambda: ledger.record("round"), written=lambda: True) is None
    assert ledger.calls == []


def test_a_lease_taken_during_the_outage_stops_the_trader_before_it_writes():
    ledger = StandIn(down=2, lease_lost=True)
    writes, _, _ = _writes(ledger)
    with pytest.raises(LeaseHeld):
        writes.write("the round", lambda: ledger.record("round"))
    assert ledger.calls == []


def test_an_outage_past_the_limit_gives_up_without_writing_and_a_signal_ends_the_wait():
    ledger = StandIn(down=10**6)
    writes, _, _ = _writes(ledger, limit_s=0.6)
    began = time.monotonic()
    with pytest.raises(LedgerDown, match=r"unreachable for 0.6 s .*continues the run from its last whole round") as raised:
        writes.write("the round at 01:05", lambda: ledger.record("round"))
    assert 0.6 <= time.monotonic() - began < 2 and writes.down and ledger.calls == []
    assert PASSWORD not in str(raised.value) and LedgerDown.exit_code == 75
    ledger = StandIn(down=10**6)
    writes, _, stop = _writes(ledger, limit_s=600)
    began = time.monotonic()
    threading.Timer(0.3, stop.set).start()
    with pytest.raises(LedgerDown, match="stopped by a signal"):
        writes.write("the round", lambda: ledger.record("round"))
    assert time.monotonic() - began < 5 and writes.down


def test_a_bad_statement_is_not_an_outage():
    writes, metrics, _ = _writes(StandIn(down=0))

    def bad():
        raise sa.exc.IntegrityError("insert ...", {}, ValueError("duplicate key"))

    with pytest.raises(sa.exc.IntegrityError):
        writes.write("the round", bad)
    assert _ledger_errors(metrics) == 0


def test_a_round_that_went_in_is_known_by_its_equity_marks_and_a_kill_round_by_its_orders(tmp_path):
    ledger = Ledger(f"sqlite:///{tmp_path / 'ledger.db'}")
    run = ledger.start_run("replay", "paper", "sentitrade-signal", TS, TS + timedelta(days=1))
    book = ledger.book(run.run_id, "champion", "champion", None, 1000.0).book_id
    decided = [BookRound(book, "3", [(_step(), {"market": "m"})], equity=1001.5, state={"cash": 1})]
    later = TS + timedelta(minutes=5)
    sold = Order(later, "m", "YES", "111", "SELL", 10.0, 0.49, "kill: drill")
    killed = [BookRound(book, "3", orders=[sold], fills=[Fill(later, "m", "YES", "111", "SELL", 10.0, 0.49, 0.1)], state={"cash": 2})]
    assert not ledger.has_round(run.run_id, TS, decided)
    ledger.record_round(run.run_id, TS, decided)
    assert ledger.has_round(run.run_id, TS, decided) and not ledger.has_round(run.run_id, later, killed)
    ledger.record_round(run.run_id, later, killed)
    assert ledger.has_round(run.run_id, later, killed)
    ledger.dispose()


# --- the trader on a PostgreSQL ledger that goes away -------------------------------------------------


def _ledger(engine: sa.Engine) -> dict[str, list[tuple]]:
    """Every decision, order, fill and equity mark by book role and alias, without ids (they differ per run)."""
    picked = {
        decisions: ["ts", "market", "model_version", "p_up", "n_tweets", "mid_yes", "signal", "target_token", "reason", "features"],
        orders: ["ts", "market", "model_version", "token", "token_id", "side", "shares", "limit_price", "status", "reason"],
        fills: ["ts", "market", "model_version", "token", "token_id", "side", "shares", "price", "fee"],
        equity: ["ts", "model_version", "equity"],
    }
    with engine.connect() as con:
        return {table.name: [tuple(r) for r in con.execute(
            sa.select(books.c.role, books.c.alias, *(table.c[c] for c in columns)).join(books, books.c.book_id == table.c.book_id)
            .order_by(books.c.role, books.c.alias, table.c.ts, *([table.c.id] if "id" in table.c else [])))]
            for table, columns in picked.items()}


def _reference(data: Path, span: list[str]) -> dict[str, list[tuple]]:
    """The same span uninterrupted, on the data directory's SQLite ledger."""
    clean = run_cli("trade", "--data-dir", str(data), *span)
    assert clean.returncode == 0 and last_json(clean.stdout)["status"] == "finished", clean.stderr[-2000:]
    rows = _ledger(ledger_engine(data))
    assert len(rows["equity"]) >= 30 and rows["fills"] and rows["orders"]  # something to compare
    return rows


def _rounds(server: PrivatePostgres) -> int:
    try:
        with server.engine.connect() as con:
            return con.execute(sa.text("select count(*) from equity e join books b on b.book_id = e.book_id "
                                       "where b.role = 'champion'")).scalar_one()
    except sa.exc.DBAPIError:
        return 0  # the schema is not there yet


def _start(data: Path, log: Path, url: str, *args: str, **env: str) -> subprocess.Popen:
    """`sentitrade trade` on the PostgreSQL ledger, its log in a file to read while it runs."""
    return subprocess.Popen([*SENTITRADE, "trade", "--data-dir", str(data), *args], cwd=REPO,
                            env=cli_env(SENTITRADE_LEDGER_URL=url, **env), stdout=subprocess.PIPE, stderr=log.open("w"), text=True)


def _metrics(port: int) -> dict[str, float]:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2).read().decode()
    samples = [s for family in text_string_to_metric_families(text) for s in family.samples]
    return {"decisions": sum(s.value for s in samples if s.name == "sentitrade_decisions_total"),
            "ledger_errors": sum(s.value for s in samples if s.name == "sentitrade_errors_total" and s.labels == {"kind": "ledger"})}


def test_an_outage_mid_run_pauses_trading_and_the_run_ends_as_if_there_had_been_none(trade_dir, holdout_start, postgres, tmp_path):
    span = span_args(holdout_start, 3)
    reference = _reference(trade_dir, span)
    log, port = tmp_path / "trader.log", free_port()
    trader = _start(trade_dir, log, postgres.url, *span, "--speed", "600", "--metrics-port", str(port))  # two rounds a second
    try:
        wait_for(lambda: _rounds(postgres) >= 5, timeout=180)
        postgres.stop()
        wait_for(lambda: "unreachable" in log.read_text(), timeout=30)
        paused = _metrics(port)
        time.sleep(3)  # six rounds' worth at this speed
        assert trader.poll() is None, log.read_text()[-2000:]
        still = _metrics(port)
        assert still["decisions"] == paused["decisions"] > 0, "no decision while the ledger is down"
        assert still["ledger_errors"] > paused["ledger_errors"] >= 1, "each failed retry counted"
        postgres.start()
        out, _ = trader.communicate(timeout=180)
    finally:
        trader.kill()
    said = log.read_text()
    assert trader.returncode == 0, said[-3000:]
    assert last_json(out)["status"] == "finished"
    down = [line for line in said.splitlines() if "unreachable" in line]
    assert len(down) == 1 and "trading stopped" in down[0], said[-3000:]
    assert f"postgres:***@127.0.0.1:{postgres.port}/ledger" in down[0] and PASSWORD not in said
    assert "trading resumes" in said and "Traceback" not in said
    with postgres.engine.connect() as con:
        assert con.execute(sa.select(runs.c.status)).scalars().all() == ["finished"]
    assert _ledger(postgres.engine) == reference


def test_an_outage_past_the_limit_exits_75_and_the_next_start_continues_from_the_last_whole_round(
        trade_dir, holdout_start, postgres, tmp_path):
    span = span_args(holdout_start, 3)
    reference = _reference(trade_dir, span)
    log = tmp_path / "trader.log"
    trader = _start(trade_dir, log, postgres.url, *span, "--speed", "600", SENTITRADE_TRADER_LEDGER_OUTAGE_S="3")
    try:
        wait_for(lambda: _rounds(postgres) >= 5, timeout=180)
        postgres.stop()
        stopped = time.monotonic()
        out, _ = trader.communicate(timeout=60)
        waited = time.monotonic() - stopped
    finally:
        trader.kill()
    said = log.read_text()
    assert trader.returncode == LedgerDown.exit_code == 75, said[-3000:]
    assert 3 <= waited < 15 and out == ""
    last = said.strip().splitlines()[-1]
    assert last.startswith("error: the ledger postgresql+psycopg://postgres:***@") and "unreachable for 3 s" in last
    assert "the next start continues the run from its last whole round" in last and "Traceback" not in said
    postgres.start()
    assert 5 <= _rounds(postgres) < sum(row[0] == "champion" for row in reference["equity"]) // 2  # stopped early in the span
    again = run_cli("trade", "--data-dir", str(trade_dir), *span, env={"SENTITRADE_LEDGER_URL": postgres.url})
    assert again.returncode == 0 and last_json(again.stdout)["status"] == "finished", again.stderr[-3000:]
    with postgres.engine.connect() as con:
        assert con.execute(sa.select(runs.c.status)).scalars().all() == ["finished"]
        assert con.execute(sa.text("select count(*) from events where kind = 'resumed'")).scalar_one() == 1
    assert _ledger(postgres.engine) == reference
