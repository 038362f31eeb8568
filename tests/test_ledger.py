"""The ledger on SQLite and on the real PostgreSQL: whole steps or nothing."""

from __future__ import annotations

from datetime import datetime

import pytest
import sqlalchemy as sa

from models.engine import Decision, Fill, Order, StepResult
from models.strategy import Signal
from tests.postgres import scratch_database
from trader.ledger import Ledger, decisions, fills, orders

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


def test_step_round_trip(ledger_url):
    ledger = Ledger(ledger_url)
    run = ledger.start_run("paper", "sentitrade-signal", "3", TS, TS)
    ledger.record_step(run, _step(), {"market": "m", "ts": TS, "price": 0.5})
    ledger.record_equity(run, TS, 1001.5)
    [decision] = ledger.read(decisions, run)
    assert decision["signal"] == "BUY" and '"price": 0.5' in decision["features"]
    assert [o["shares"] for o in ledger.read(orders, run)] == [10.0]
    assert [f["fee"] for f in ledger.read(fills, run)] == [0.1]
    ledger.engine.dispose()


def test_a_failing_step_leaves_nothing_half_written(ledger_url):
    ledger = Ledger(ledger_url)
    run = ledger.start_run("paper", "sentitrade-signal", "3", TS, TS)
    with pytest.raises(sa.exc.StatementError):
        ledger.record_step(run, _step(shares="not a number"), {"market": "m"})
    assert ledger.read(decisions, run) == [] and ledger.read(orders, run) == []
    ledger.engine.dispose()
