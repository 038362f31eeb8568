"""Orders as a state machine and fills as exchange trades: signed orders, their refusals, trade ids.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.add_column(sa.Column("order_type", sa.String(4)))
        batch.add_column(sa.Column("signed", sa.Text))
        batch.add_column(sa.Column("error", sa.Text))
        batch.add_column(sa.Column("updated_at", sa.DateTime))
        batch.create_unique_constraint("uq_orders_order_id", ["order_id"])
    with op.batch_alter_table("fills") as batch:
        batch.add_column(sa.Column("trade_id", sa.String(100)))
        batch.add_column(sa.Column("status", sa.String(16), nullable=False, server_default="paper"))
        batch.create_unique_constraint("uq_fills_trade_id", ["trade_id"])


def downgrade() -> None:
    with op.batch_alter_table("fills") as batch:
        batch.drop_constraint("uq_fills_trade_id", type_="unique")
        batch.drop_column("status")
        batch.drop_column("trade_id")
    with op.batch_alter_table("orders") as batch:
        batch.drop_constraint("uq_orders_order_id", type_="unique")
        for column in ("updated_at", "error", "signed", "order_type"):
            batch.drop_column(column)
