"""The ledger: runs, books, decisions, orders, fills, equity, events and the writer lease.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _per_step() -> list[sa.Column]:
    return [
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.String(36), sa.ForeignKey("runs.run_id"), nullable=False, index=True),
        sa.Column("book_id", sa.String(120), sa.ForeignKey("books.book_id"), nullable=False, index=True),
        sa.Column("model_version", sa.String(20), nullable=False),
        sa.Column("ts", sa.DateTime, nullable=False),
        sa.Column("market", sa.String(200), nullable=False),
    ]


def _trade() -> list[sa.Column]:
    return [
        sa.Column("order_id", sa.String(80), nullable=False),
        sa.Column("token", sa.String(4), nullable=False),
        sa.Column("token_id", sa.String(100), nullable=False),
        sa.Column("side", sa.String(4), nullable=False),
        sa.Column("shares", sa.Float, nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "runs",
        sa.Column("run_id", sa.String(36), primary_key=True),
        sa.Column("started_at", sa.DateTime, nullable=False),
        sa.Column("feed", sa.String(16), nullable=False),
        sa.Column("execution", sa.String(16), nullable=False),
        sa.Column("model_name", sa.String(200), nullable=False),
        sa.Column("span_start", sa.DateTime),
        sa.Column("span_end", sa.DateTime),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("last_step_at", sa.DateTime),
        sa.Column("ended_at", sa.DateTime),
        sa.Column("stop_reason", sa.Text),
    )
    op.create_table(
        "books",
        sa.Column("book_id", sa.String(120), primary_key=True),
        sa.Column("run_id", sa.String(36), sa.ForeignKey("runs.run_id"), nullable=False, index=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("alias", sa.String(100), nullable=False),
        sa.Column("model_version", sa.String(20)),
        sa.Column("starting_cash", sa.Float, nullable=False),
        sa.Column("state", sa.Text),
        sa.Column("updated_at", sa.DateTime),
    )
    op.create_table(
        "decisions",
        *_per_step(),
        sa.Column("p_up", sa.Float, nullable=False),
        sa.Column("n_tweets", sa.Integer, nullable=False),
        sa.Column("mid_yes", sa.Float, nullable=False),
        sa.Column("signal", sa.String(8), nullable=False),
        sa.Column("target_token", sa.String(4)),
        sa.Column("reason", sa.Text),
        sa.Column("features", sa.Text, nullable=False),
    )
    op.create_table(
        "orders",
        *_per_step(),
        *_trade(),
        sa.Column("limit_price", sa.Float, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text),
    )
    op.create_table("fills", *_per_step(), *_trade(), sa.Column("price", sa.Float, nullable=False), sa.Column("fee", sa.Float, nullable=False))
    op.create_table(
        "equity",
        sa.Column("book_id", sa.String(120), sa.ForeignKey("books.book_id"), primary_key=True),
        sa.Column("ts", sa.DateTime, primary_key=True),
        sa.Column("run_id", sa.String(36), sa.ForeignKey("runs.run_id"), nullable=False, index=True),
        sa.Column("model_version", sa.String(20), nullable=False),
        sa.Column("equity", sa.Float, nullable=False),
    )
    op.create_table(
        "events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.String(36), sa.ForeignKey("runs.run_id"), nullable=False, index=True),
        sa.Column("at", sa.DateTime, nullable=False),
        sa.Column("event_ts", sa.DateTime),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("message", sa.Text, nullable=False),
    )
    op.create_table(
        "leases",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("holder", sa.String(36), nullable=False),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer, nullable=False),
        sa.Column("acquired_at", sa.DateTime, nullable=False),
        sa.Column("expires_at", sa.DateTime, nullable=False),
    )


def downgrade() -> None:
    for table in ("leases", "events", "equity", "fills", "orders", "decisions", "books", "runs"):
        op.drop_table(table)
