"""The ledger on SQLite and on the real PostgreSQL: migrations, whole rounds, one writer."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa

from models.engine import Decision, Fill, Order, StepResult
from models.strategy import Signal
from tests.conftest import REPO
from tests.postgres import scratch_database
from trader.ledger import BookRound, Ledger, LeaseHeld, LedgerError
from trader.schema import decisions, equity, fills, leases, orders, runs

TS = datetime(2026, 11, 5, 12, 0)


@pytest.fixture(params=["sqlite", "postgres"])
def ledger_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'ledger.db'}"
    else:
        with scratch_database() as name:
            yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"


def _step(shares: float = 10.0) -> StepResult:
    decision = Decision(TS, "m", 0.7, 25, 0.5, Signal.BUY, "YES", "p_up 0.70 > 0.65; open BUY 10 YES @ 0.507")
    order = Order(TS, "m", "YES", "111", "BUY", shares, 0.507, "open")
    return StepResult(decision, [order], [Fill(TS, "m", "YES", "111", "BUY", shares, 0.507, 0.1)])


def _read(ledger: Ledger, table: sa.Table) -> list[dict]:
    with ledger.engine.connect() as con:
        return [dict(r) for r in con.execute(sa.select(table)).mappings()]


def test_a_round_lands_whole_with_its_book_state(ledger_url):
    ledger = Ledger(ledger_url)
    run = ledger.start_run("replay", "paper", "sentitrade-signal", TS, TS + timedelta(days=1))
    book = ledger.book(run.run_id, "champion", "champion", None, 1000.0)
    state = {"cash": 994.83, "positions": {"m": ["YES", 10.0, 0.507]}}
    ledger.record_round(run.run_id, TS, [BookRound(book.book_id, "3", [(_step(), {"market": "m", "price": 0.5})], equity=1001.5, state=state)])
    [decision] = _read(ledger, decisions)
    assert decision["signal"] == "BUY" and decision["model_version"] == "3" and '"price": 0.5' in decision["features"]
    [order], [fill] = _read(ledger, orders), _read(ledger, fills)
    assert order["status"] == "filled" and fill["order_id"] == order["order_id"] and fill["fee"] == 0.1
    assert [e["equity"] for e in _read(ledger, equity)] == [1001.5]
    assert ledger.book(run.run_id, "champion", "champion", None, 1000.0).state == state
    assert ledger.unfinished_run("sentitrade-signal").last_step_at == TS
    ledger.dispose()


def test_a_failing_round_leaves_nothing_half_written(ledger_url):
    ledger = Ledger(ledger_url)
    run = ledger.start_run("replay", "paper", "sentitrade-signal", TS, TS)
    book = ledger.book(run.run_id, "champion", "champion", None, 1000.0)
    good = BookRound(book.book_id, "3", [(_step(), {"market": "m"})], equity=1000.0, state={"cash": 1})
    bad = BookRound("no-such-book", "3", [(_step(), {"market": "m"})])  # the database refuses it (foreign key)
    with pytest.raises(sa.exc.IntegrityError):
        ledger.record_round(run.run_id, TS, [good, bad])
    assert _read(ledger, decisions) == [] and _read(ledger, orders) == [] and _read(ledger, equity) == []
    assert ledger.unfinished_run("sentitrade-signal").last_step_at is None
    ledger.dispose()


def test_a_second_writer_is_refused_and_told_who_holds_it(ledger_url):
    first, second = Ledger(ledger_url), Ledger(ledger_url)
    first.acquire()
    with pytest.raises(LeaseHeld, match=r"pid \d+ on "):
        second.acquire()
    first.release()
    second.acquire()  # released: free again
    second.release()


def test_a_lease_whose_holder_died_is_taken(ledger_url):
    ledger = Ledger(ledger_url)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True).stdout.strip()
    with ledger.engine.begin() as con:
        con.execute(leases.insert().values(name="trader", holder="gone", host=__import__("socket").gethostname(), pid=int(dead),
                                           acquired_at=TS, expires_at=datetime(2100, 1, 1)))
    ledger.acquire()
    assert ledger.holder != "gone"
    ledger.release()


def test_an_expired_lease_from_another_host_is_taken_a_live_one_is_not(ledger_url):
    ledger = Ledger(ledger_url)
    with ledger.engine.begin() as con:
        con.execute(leases.insert().values(name="trader", holder="elsewhere", host="another-host", pid=1, acquired_at=TS,
                                           expires_at=datetime(2100, 1, 1)))
    with pytest.raises(LeaseHeld, match="another-host"):
        ledger.acquire()
    with ledger.engine.begin() as con:
        con.execute(leases.update().values(expires_at=TS))
    ledger.acquire()
    ledger.release()


def test_migrations_are_idempotent_and_recorded(ledger_url):
    Ledger(ledger_url).dispose()
    ledger = Ledger(ledger_url)  # a second start finds the schema at head and changes nothing
    with ledger.engine.connect() as con:
        assert con.execute(sa.text("select version_num from alembic_version")).scalar() == "0002"
        assert {"runs", "books", "decisions", "orders", "fills", "equity", "events", "leases"} <= set(sa.inspect(con).get_table_names())
    ledger.dispose()


@pytest.mark.postgres
def test_traders_starting_together_on_postgres_never_race_on_the_schema():
    """Eight processes open one fresh PostgreSQL ledger at once, five rounds over; each migrates under
    the advisory lock (before this, `create_all` at start crashed one of two in 14 of 20 rounds)."""
    script = "import sys; from trader.ledger import Ledger; Ledger(sys.argv[1]).dispose()"
    for _ in range(5):
        with scratch_database() as name:
            url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
            procs = [subprocess.Popen([sys.executable, "-c", script, url], cwd=REPO, stderr=subprocess.PIPE, text=True) for _ in range(8)]
            errors = [p.communicate(timeout=120)[1] for p in procs]
            assert [p.returncode for p in procs] == [0] * 8, errors
            ledger = Ledger(url)
            with ledger.engine.connect() as con:
                assert con.execute(sa.select(sa.func.count()).select_from(runs)).scalar() == 0
            ledger.dispose()


def test_a_file_that_is_not_a_database_gets_one_clear_message(tmp_path):
    path = tmp_path / "ledger.db"
    path.write_bytes(b"\x00garbage" * 200)
    with pytest.raises(LedgerError, match="is not a SQLite database: move that file away"):
        Ledger(f"sqlite:///{path}")


def test_a_ledger_from_before_migrations_is_named_not_clobbered(tmp_path):
    path = tmp_path / "ledger.db"
    engine = sa.create_engine(f"sqlite:///{path}")
    with engine.begin() as con:
        con.execute(sa.text("create table runs (run_id text primary key)"))
        con.execute(sa.text("insert into runs values ('old')"))
    with pytest.raises(LedgerError, match="without migrations: move it away"):
        Ledger(f"sqlite:///{path}")
    with engine.connect() as con:
        assert con.execute(sa.text("select run_id from runs")).scalar() == "old"


def test_passwords_never_appear_in_ledger_errors():
    with pytest.raises(LedgerError) as caught:
        Ledger("postgresql+psycopg://trader:hunter2@127.0.0.1:1/nowhere")
    assert "hunter2" not in str(caught.value) and "***" in str(caught.value)


def test_the_migrations_build_exactly_the_schema_the_code_writes(ledger_url):
    """Alembic's head and `trader.schema` agree, column for column and constraint for constraint."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from trader.schema import metadata

    ledger = Ledger(ledger_url)
    with ledger.engine.connect() as con:
        assert compare_metadata(MigrationContext.configure(con), metadata) == []
    ledger.dispose()
