"""The trader's ledger: runs and their books, every decision, order, fill and equity mark, in SQL.

SQLite on one machine, PostgreSQL in production, the same SQLAlchemy Core tables on both
(`trader.schema`), created and upgraded by Alembic migrations under a lock, so two traders starting
at once cannot race on the schema. A decision round (every book's decisions, orders, fills, equity
and engine state at one event time) is one transaction: a killed process leaves whole rounds only,
and a restarted one continues from the last of them.

One writer: a trader holds the `trader` lease while it runs. A second one is refused and told who
holds it; a lease whose holder died (its pid is gone on this host, or it stopped renewing) is taken.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from models.engine import Fill, Order, StepResult
from sentitrade.redact import redact
from trader.schema import books, decisions, equity, events, fills, leases, orders, runs

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
CONNECT_TIMEOUT_S = 10  # PostgreSQL: a dropped network fails a connect in this long instead of the kernel's minutes


class LedgerError(RuntimeError):
    """The ledger cannot be used as it is; the message says what to do."""


class LeaseHeld(LedgerError):
    """Another live trader writes this ledger."""


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


@dataclass
class BookRound:
    """One book's part of a decision round: what it decided and did, and its state afterwards."""

    book_id: str
    model_version: str
    steps: list[tuple[StepResult, dict]] = field(default_factory=list)  # each step with the feature row it saw
    orders: list[Order] = field(default_factory=list)  # outside a decision: halts, kills
    fills: list[Fill] = field(default_factory=list)
    equity: float | None = None
    state: dict | None = None
    journaled: bool = False  # its orders and fills are in the ledger already (signed orders: `trader.journal`)


@dataclass(frozen=True)
class Book:
    book_id: str
    role: str
    alias: str
    model_version: str | None
    starting_cash: float
    state: dict | None


@dataclass(frozen=True)
class Run:
    run_id: str
    feed: str
    execution: str
    model_name: str
    span_start: datetime | None
    span_end: datetime | None
    status: str
    last_step_at: datetime | None


class Ledger:
    def __init__(self, url: str, lease_ttl_s: float = 30.0):
        self.url, self.lease_ttl = url, timedelta(seconds=lease_ttl_s)
        sqlite = url.startswith("sqlite")
        try:
            self.engine = sa.create_engine(url, connect_args={"timeout": 30} if sqlite else {"connect_timeout": CONNECT_TIMEOUT_S})
        except (sa.exc.ArgumentError, ImportError) as exc:
            raise LedgerError(f"SENTITRADE_LEDGER_URL is not a usable database URL ({type(exc).__name__})") from None
        if sqlite:
            sa.event.listen(self.engine, "connect", _sqlite_pragmas)
        self.holder: str | None = None
        self._migrate()

    # --- schema -----------------------------------------------------------------------------------

    def _migrate(self) -> None:
        """Bring the schema to the newest migration, one process at a time."""
        try:
            with self._migration_lock(), self.engine.begin() as con:
                current = MigrationContext.configure(con).get_current_revision()
                if current is None and sa.inspect(con).has_table("runs"):
                    raise LedgerError(
                        f"the ledger {redact(self.url)} was written by a sentitrade without migrations: "
                        "move it away (or set SENTITRADE_LEDGER_URL) and start again"
                    )
                config = Config()
                config.set_main_option("script_location", str(MIGRATIONS))
                config.attributes["connection"] = con
                if current != ScriptDirectory.from_config(config).get_current_head():
                    command.upgrade(config, "head")
        except sa.exc.DatabaseError as exc:
            raise _unusable(self.url, exc) from None

    @contextmanager
    def _migration_lock(self) -> Iterator[None]:
        """A file lock beside a SQLite ledger; a PostgreSQL advisory lock otherwise."""
        database = self.engine.url.database
        if self.engine.dialect.name == "sqlite" and database and database != ":memory:":
            with open(f"{database}.migrate.lock", "w") as handle:
                fcntl.flock(handle, fcntl.LOCK_EX)
                yield
        elif self.engine.dialect.name == "postgresql":
            with self.engine.connect() as con:
                con.execute(sa.text("select pg_advisory_lock(7160117)"))
                try:
                    yield
                finally:
                    con.execute(sa.text("select pg_advisory_unlock(7160117)"))
                    con.commit()
        else:
            yield

    # --- the one-writer lease ---------------------------------------------------------------------

    def acquire(self, name: str = "trader") -> None:
        """Take the lease or raise `LeaseHeld` naming its holder (compare-and-set, safe on both databases)."""
        holder, now = str(uuid.uuid4()), utcnow()
        mine = dict(holder=holder, host=socket.gethostname(), pid=os.getpid(), acquired_at=now, expires_at=now + self.lease_ttl)
        for _ in range(3):
            with self.engine.connect() as con:
                row = con.execute(sa.select(leases).where(leases.c.name == name)).mappings().first()
            if row is None:
                try:
                    with self.engine.begin() as con:
                        con.execute(leases.insert().values(name=name, **mine))
                except sa.exc.IntegrityError:
                    continue  # another trader inserted first: look at its lease
                self.holder = holder
                return
            if not _abandoned(row, now):
                raise LeaseHeld(
                    f"another trader holds this ledger: pid {row['pid']} on {row['host']} since "
                    f"{row['acquired_at']:%Y-%m-%d %H:%M:%S} UTC (lease until {row['expires_at']:%H:%M:%S}); "
                    "stop it first (Ctrl-C, or `sentitrade trade kill`)"
                )
            with self.engine.begin() as con:
                taken = con.execute(leases.update().where(leases.c.name == name, leases.c.holder == row["holder"]).values(**mine))
            if taken.rowcount == 1:
                self.holder = holder
                return
        raise LeaseHeld("another trader took this ledger's lease at the same moment: stop it first")

    def renew(self, name: str = "trader") -> None:
        """Extend the lease; a lease lost to another process stops this one (raises LeaseHeld)."""
        with self.engine.begin() as con:
            renewed = con.execute(
                leases.update().where(leases.c.name == name, leases.c.holder == self.holder).values(expires_at=utcnow() + self.lease_ttl)
            )
        if renewed.rowcount != 1:
            raise LeaseHeld("this trader's lease on the ledger was taken by another process: stopping")

    def release(self, name: str = "trader") -> None:
        if self.holder is None:
            return
        with self.engine.begin() as con:
            con.execute(leases.delete().where(leases.c.name == name, leases.c.holder == self.holder))
        self.holder = None

    # --- runs and books ---------------------------------------------------------------------------

    def unfinished_run(self, model_name: str) -> Run | None:
        """The newest run of this model still `running` (its trader stopped or died before the end)."""
        query = sa.select(runs).where(runs.c.model_name == model_name, runs.c.status == "running").order_by(runs.c.started_at.desc())
        with self.engine.connect() as con:
            row = con.execute(query).mappings().first()
        return _run(row) if row else None

    def start_run(self, feed: str, execution: str, model_name: str, span_start, span_end) -> Run:
        run_id = str(uuid.uuid4())
        values = dict(run_id=run_id, started_at=utcnow(), feed=feed, execution=execution, model_name=model_name,
                      span_start=span_start, span_end=span_end, status="running")
        with self.engine.begin() as con:
            con.execute(runs.insert().values(**values))
        return _run(values | {"last_step_at": None})

    def end_run(self, run_id: str, status: str, reason: str) -> None:
        with self.engine.begin() as con:
            con.execute(runs.update().where(runs.c.run_id == run_id).values(status=status, ended_at=utcnow(), stop_reason=reason))

    def book(self, run_id: str, role: str, alias: str, model_version: str | None, starting_cash: float) -> Book:
        """The run's book for this role (and a shadow's version), created empty if new."""
        book_id = f"{run_id}:{role}" if role == "champion" else f"{run_id}:{alias}:v{model_version}"
        with self.engine.begin() as con:
            row = con.execute(sa.select(books).where(books.c.book_id == book_id)).mappings().first()
            if row is None:
                row = dict(book_id=book_id, run_id=run_id, role=role, alias=alias, model_version=model_version,
                           starting_cash=starting_cash, state=None)
                con.execute(books.insert().values(**row))
        return Book(row["book_id"], row["role"], row["alias"], row["model_version"], row["starting_cash"],
                    json.loads(row["state"]) if row["state"] else None)

    def event(self, run_id: str, kind: str, message: str, event_ts: datetime | None = None) -> None:
        with self.engine.begin() as con:
            con.execute(events.insert().values(run_id=run_id, at=utcnow(), event_ts=event_ts, kind=kind, message=message))

    def record_round(self, run_id: str, ts: datetime, rounds: list[BookRound]) -> None:
        """Every book's decisions, orders, fills, equity and state at `ts`, in one transaction."""
        rows: dict[sa.Table, list[dict]] = {decisions: [], orders: [], fills: [], equity: []}
        for part in rounds:
            where = dict(run_id=run_id, book_id=part.book_id, model_version=part.model_version)
            for step, features in part.steps:
                d = step.decision
                rows[decisions].append(dict(
                    **where, ts=d.ts, market=d.market, p_up=float(d.p_up), n_tweets=int(d.n_tweets), mid_yes=float(d.mid_yes),
                    signal=str(d.signal), target_token=d.target_token, reason=d.reason, features=json.dumps(features, default=str),
                ))
                if not part.journaled:
                    _trades(rows, where, step.orders, step.fills)
            if not part.journaled:
                _trades(rows, where, part.orders, part.fills)
            if part.equity is not None:
                rows[equity].append(dict(**where, ts=ts, equity=float(part.equity)))
        with self.engine.begin() as con:
            for table, values in rows.items():
                if values:
                    con.execute(table.insert(), values)  # one executemany per table
            for part in rounds:
                if part.state is not None:
                    con.execute(books.update().where(books.c.book_id == part.book_id).values(state=json.dumps(part.state), updated_at=utcnow()))
            con.execute(runs.update().where(runs.c.run_id == run_id).values(last_step_at=ts))

    def has_round(self, run_id: str, ts: datetime, rounds: list[BookRound]) -> bool:
        """Whether this round is in already: a commit whose answer a lost connection cut off may have gone
        through. A decision round marks every book's equity at `ts`; a kill round writes its orders there."""
        sold = [order for part in rounds if not part.journaled for order in part.orders]  # a signed book's are the journal's
        if any(part.equity is not None for part in rounds):
            query = sa.select(equity.c.book_id).where(equity.c.run_id == run_id, equity.c.ts == ts)
        elif sold:
            query = sa.select(orders.c.id).where(orders.c.run_id == run_id, orders.c.ts == ts, orders.c.reason == sold[0].reason)
        else:
            return False  # only book states: writing them again changes nothing
        with self.engine.connect() as con:
            return con.execute(query.limit(1)).first() is not None

    def dispose(self) -> None:
        self.engine.dispose()


def order_outcomes(new_orders: list[Order], new_fills: list[Fill]) -> list[tuple[Order, Fill | None, str]]:
    """Each order with the fill it got (the engine appends a fill right after its order) and its
    status: filled, partial or unfilled."""
    pending, outcomes = list(new_fills), []
    for order in new_orders:
        fill = next((f for f in pending if (f.token_id, f.side, f.ts) == (order.token_id, order.side, order.ts)), None)
        if fill is not None:
            pending.remove(fill)
        status = "unfilled" if fill is None else "filled" if fill.shares >= order.shares - 1e-9 else "partial"
        outcomes.append((order, fill, status))
    return outcomes


def _trades(rows: dict, where: dict, new_orders: list[Order], new_fills: list[Fill]) -> None:
    """Orders and their fills as ledger rows, linked by the order's id."""
    for order, fill, status in order_outcomes(new_orders, new_fills):
        common = dict(**where, ts=order.ts, market=order.market, order_id=f"paper-{uuid.uuid4().hex}", token=order.token,
                      token_id=order.token_id, side=order.side)
        rows[orders].append(dict(**common, shares=order.shares, limit_price=order.limit_price, status=status, reason=order.reason))
        if fill is not None:
            rows[fills].append(dict(**common, shares=fill.shares, price=fill.price, fee=fill.fee))


def _abandoned(lease, now: datetime) -> bool:
    """Expired, or held by a process that no longer exists on this host."""
    if lease["expires_at"] < now:
        return True
    if lease["host"] != socket.gethostname():
        return False
    try:
        os.kill(lease["pid"], 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def _run(row) -> Run:
    return Run(row["run_id"], row["feed"], row["execution"], row["model_name"], row["span_start"], row["span_end"],
               row["status"], row["last_step_at"])


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    """WAL lets `sentitrade ledger` read while the trader writes; FULL sync makes each round durable."""
    cursor = dbapi_connection.cursor()
    cursor.execute("pragma journal_mode=wal")
    cursor.execute("pragma synchronous=full")
    cursor.execute("pragma foreign_keys=on")
    cursor.close()


def _unusable(url: str, exc: sa.exc.DatabaseError) -> LedgerError:
    text = str(exc.orig) if exc.orig is not None else str(exc)
    if "not a database" in text or "malformed" in text:
        return LedgerError(f"the ledger {redact(url)} is not a SQLite database: move that file away or set SENTITRADE_LEDGER_URL")
    return LedgerError(f"cannot use the ledger {redact(url)}: {text.splitlines()[0][:200]}")
