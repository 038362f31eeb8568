"""Alembic environment for the trader ledger: the connection comes from `trader.ledger.migrate`."""

from alembic import context

from trader.schema import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, render_as_batch=connection.dialect.name == "sqlite")
with context.begin_transaction():
    context.run_migrations()
