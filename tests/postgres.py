"""A throwaway database on the machine's PostgreSQL (127.0.0.1:5432, trust auth) for production-path tests."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

ADMIN_URL = os.environ.get("SENTITRADE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")


@contextmanager
def scratch_database() -> Iterator[str]:
    """Create a fresh database, yield its name, drop it afterwards."""
    name = f"sentitrade_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as con:
        con.execute(f'create database "{name}"')
    try:
        yield name
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as con:
            con.execute(f'drop database "{name}" with (force)')
