"""The trader's ledger: every run, decision, order, fill and equity mark, in SQL.

SQLite on one machine, PostgreSQL in production: the same SQLAlchemy Core tables on both. Each
step is written in one transaction, so a killed process leaves whole steps only.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import asdict
from datetime import UTC, datetime

import sqlalchemy as sa

metadata = sa.MetaData()

runs = sa.Table(
    "runs",
    metadata,
    sa.Column("run_id", sa.String(36), primary_key=True),
    sa.Column("started_at", sa.DateTime, nullable=False),
    sa.Column("mode", sa.String(8), nullable=False),
    sa.Column("model_name", sa.String(200), nullable=False),
    sa.Column("model_version", sa.String(20), nullable=False),
    sa.Column("span_start", sa.DateTime),
    sa.Column("span_end", sa.DateTime),
)

decisions = sa.Table(
    "decisions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.ForeignKey("runs.run_id"), nullable=False, index=True),
    sa.Column("ts", sa.DateTime, nullable=False),
    sa.Column("market", sa.String(200), nullable=False),
    sa.Column("p_up", sa.Float, nullable=False),
    sa.Column("n_tweets", sa.Integer, nullable=False),
    sa.Column("mid_yes", sa.Float, nullable=False),
    sa.Column("signal", sa.String(8), nullable=False),
    sa.Column("target_token", sa.String(4)),
    sa.Column("reason", sa.Text),
    sa.Column("features", sa.Text, nullable=False),  # JSON: the exact row the model saw
)

def _trade_columns() -> list[sa.Column]:
    """What orders and fills both record (fresh Column objects: a column belongs to one table)."""
    return [
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.ForeignKey("runs.run_id"), nullable=False, index=True),
        sa.Column("ts", sa.DateTime, nullable=False),
        sa.Column("market", sa.String(200), nullable=False),
        sa.Column("token", sa.String(4), nullable=False),
        sa.Column("token_id", sa.String(100), nullable=False),
        sa.Column("side", sa.String(4), nullable=False),
        sa.Column("shares", sa.Float, nullable=False),
    ]


orders = sa.Table(
    "orders",
    metadata,
    *_trade_columns(),
    sa.Column("limit_price", sa.Float, nullable=False),
    sa.Column("reason", sa.Text),
)

fills = sa.Table(
    "fills",
    metadata,
    *_trade_columns(),
    sa.Column("price", sa.Float, nullable=False),
    sa.Column("fee", sa.Float, nullable=False),
)

equity = sa.Table(
    "equity",
    metadata,
    sa.Column("run_id", sa.ForeignKey("runs.run_id"), primary_key=True),
    sa.Column("ts", sa.DateTime, primary_key=True),
    sa.Column("equity", sa.Float, nullable=False),
)


class Ledger:
    def __init__(self, url: str):
        self.engine = sa.create_engine(url)
        metadata.create_all(self.engine)

    def start_run(self, mode: str, model_name: str, model_version: str, span_start, span_end) -> str:
        run_id = str(uuid.uuid4())
        with self.engine.begin() as con:
            con.execute(
                runs.insert().values(
                    run_id=run_id,
                    started_at=datetime.now(UTC).replace(tzinfo=None),
                    mode=mode,
                    model_name=model_name,
                    model_version=model_version,
                    span_start=span_start,
                    span_end=span_end,
                )
            )
        return run_id

    def record_step(self, run_id: str, step, features: dict) -> None:
        """One decision with its orders and fills, atomically."""
        decision = asdict(step.decision)
        with self.engine.begin() as con:
            con.execute(
                decisions.insert().values(
                    run_id=run_id,
                    ts=decision["ts"],
                    market=decision["market"],
                    p_up=float(decision["p_up"]),
                    n_tweets=int(decision["n_tweets"]),
                    mid_yes=float(decision["mid_yes"]),
                    signal=str(decision["signal"]),
                    target_token=decision["target_token"],
                    reason=decision["reason"],
                    features=json.dumps(features, default=str),
                )
            )
            self._insert_orders(con, run_id, step.orders, step.fills)

    def record_orders(self, run_id: str, new_orders, new_fills) -> None:
        """Orders and fills outside a decision (closing out at shutdown), atomically."""
        with self.engine.begin() as con:
            self._insert_orders(con, run_id, new_orders, new_fills)

    @staticmethod
    def _insert_orders(con, run_id: str, new_orders, new_fills) -> None:
        for order in new_orders:
            con.execute(orders.insert().values(run_id=run_id, **_columns(orders, asdict(order))))
        for fill in new_fills:
            con.execute(fills.insert().values(run_id=run_id, **_columns(fills, asdict(fill))))

    def record_equity(self, run_id: str, ts, value: float) -> None:
        with self.engine.begin() as con:
            con.execute(equity.insert().values(run_id=run_id, ts=ts, equity=float(value)))

    def read(self, table: sa.Table, run_id: str) -> list[dict]:
        with self.engine.connect() as con:
            rows = con.execute(sa.select(table).where(table.c.run_id == run_id)).mappings()
            return [dict(row) for row in rows]


def _columns(table: sa.Table, values: dict) -> dict:
    return {key: value for key, value in values.items() if key in table.c and key not in ("id", "run_id")}
