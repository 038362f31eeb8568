"""The ledger's tables, as SQLAlchemy Core: SQLite on one machine, PostgreSQL in production.

Alembic migrations in `trader/migrations/versions/` create and upgrade them; this module is what the
code reads and writes with (and what a new migration is checked against).

A run is one trader session over a span (a replay's, or open-ended live). It holds books: the
champion's (the one that trades for real, whatever version is champion at the time) and one paper
book per shadow version. Every decision, order, fill and equity mark names its book and the model
version that made it. A book's `state` is the engine snapshot after its last whole step, which a
restarted trader continues from.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

runs = sa.Table(
    "runs",
    metadata,
    sa.Column("run_id", sa.String(36), primary_key=True),
    sa.Column("started_at", sa.DateTime, nullable=False),
    sa.Column("feed", sa.String(16), nullable=False),  # replay | stream
    sa.Column("execution", sa.String(16), nullable=False),  # paper | dry-run | live
    sa.Column("model_name", sa.String(200), nullable=False),
    sa.Column("span_start", sa.DateTime),
    sa.Column("span_end", sa.DateTime),  # None: until stopped
    sa.Column("status", sa.String(16), nullable=False),  # running | finished | aborted
    sa.Column("last_step_at", sa.DateTime),  # event time of the last whole decision round
    sa.Column("ended_at", sa.DateTime),
    sa.Column("stop_reason", sa.Text),
)

books = sa.Table(
    "books",
    metadata,
    sa.Column("book_id", sa.String(120), primary_key=True),
    sa.Column("run_id", sa.ForeignKey("runs.run_id"), nullable=False, index=True),
    sa.Column("role", sa.String(16), nullable=False),  # champion | shadow
    sa.Column("alias", sa.String(100), nullable=False),
    sa.Column("model_version", sa.String(20)),  # a shadow's fixed version; None for the champion's book
    sa.Column("starting_cash", sa.Float, nullable=False),
    sa.Column("state", sa.Text),  # JSON engine snapshot after the last whole step
    sa.Column("updated_at", sa.DateTime),
)


def _step_columns() -> list[sa.Column]:
    """What every per-step record carries (fresh Column objects: a column belongs to one table)."""
    return [
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.ForeignKey("runs.run_id"), nullable=False, index=True),
        sa.Column("book_id", sa.ForeignKey("books.book_id"), nullable=False, index=True),
        sa.Column("model_version", sa.String(20), nullable=False),
        sa.Column("ts", sa.DateTime, nullable=False),
        sa.Column("market", sa.String(200), nullable=False),
    ]


decisions = sa.Table(
    "decisions",
    metadata,
    *_step_columns(),
    sa.Column("p_up", sa.Float, nullable=False),
    sa.Column("n_tweets", sa.Integer, nullable=False),
    sa.Column("mid_yes", sa.Float, nullable=False),
    sa.Column("signal", sa.String(8), nullable=False),
    sa.Column("target_token", sa.String(4)),
    sa.Column("reason", sa.Text),
    sa.Column("features", sa.Text, nullable=False),  # JSON: the exact row the model saw
)


def _trade_columns() -> list[sa.Column]:
    return [
        sa.Column("order_id", sa.String(80), nullable=False),
        sa.Column("token", sa.String(4), nullable=False),
        sa.Column("token_id", sa.String(100), nullable=False),
        sa.Column("side", sa.String(4), nullable=False),
        sa.Column("shares", sa.Float, nullable=False),
    ]


orders = sa.Table(
    "orders",
    metadata,
    *_step_columns(),
    *_trade_columns(),
    sa.Column("limit_price", sa.Float, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # see ORDER_STATUSES
    sa.Column("reason", sa.Text),
    sa.Column("order_type", sa.String(4)),  # FAK | FOK | GTC | GTD (signed orders only)
    sa.Column("signed", sa.Text),  # JSON: the signed order as built, before it was sent
    sa.Column("error", sa.Text),  # the exchange's refusal, or why the outcome is unknown
    sa.Column("updated_at", sa.DateTime),
    sa.UniqueConstraint("order_id", name="uq_orders_order_id"),
)

# An order's life. Paper orders are born final (filled, partial, unfilled). A live order the trader
# chose not to sign is `declined` (price protection, balance, an earlier order unresolved). A signed order is an
# `intent` (written, with its exchange id, before anything is sent), then `dry-run` (never sent), or
# `rejected` (the exchange refused it: final, never re-sent), or `unknown` (a timeout, a 5xx or a lost
# connection: resolved by asking the exchange before anything else is sent for its market), or
# `unsent` (the exchange never saw it), or accepted: `filled`, `partial`, `unfilled`, `live` (resting),
# `cancelled`.
ORDER_STATUSES = ("filled", "partial", "unfilled", "declined", "intent", "dry-run", "rejected", "unknown", "unsent", "live", "cancelled")
UNRESOLVED = ("intent", "unknown")

fills = sa.Table(
    "fills",
    metadata,
    *_step_columns(),
    *_trade_columns(),
    sa.Column("price", sa.Float, nullable=False),
    sa.Column("fee", sa.Float, nullable=False),
    sa.Column("trade_id", sa.String(100)),  # the exchange's trade (live); None for paper and dry-run fills
    sa.Column("status", sa.String(16), nullable=False, server_default="paper"),  # see FILL_STATUSES
    sa.UniqueConstraint("trade_id", name="uq_fills_trade_id"),
)

# paper and simulated (dry-run) fills are final; an exchange trade is provisional (matched, mined,
# retrying) until confirmed, and one that failed is reversed: it counts for no position.
FILL_STATUSES = ("paper", "simulated", "matched", "mined", "retrying", "confirmed", "failed")

equity = sa.Table(
    "equity",
    metadata,
    sa.Column("book_id", sa.ForeignKey("books.book_id"), primary_key=True),
    sa.Column("ts", sa.DateTime, primary_key=True),
    sa.Column("run_id", sa.ForeignKey("runs.run_id"), nullable=False, index=True),
    sa.Column("model_version", sa.String(20), nullable=False),
    sa.Column("equity", sa.Float, nullable=False),
)

events = sa.Table(
    "events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.ForeignKey("runs.run_id"), nullable=False, index=True),
    sa.Column("at", sa.DateTime, nullable=False),  # wall clock, UTC
    sa.Column("event_ts", sa.DateTime),  # the trader's event clock, when it has one
    sa.Column("kind", sa.String(32), nullable=False),  # started, resumed, model, registry, kill, stop, ...
    sa.Column("message", sa.Text, nullable=False),
)

leases = sa.Table(
    "leases",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("holder", sa.String(36), nullable=False),
    sa.Column("host", sa.String(255), nullable=False),
    sa.Column("pid", sa.Integer, nullable=False),
    sa.Column("acquired_at", sa.DateTime, nullable=False),
    sa.Column("expires_at", sa.DateTime, nullable=False),
)
