"""Throwaway PostgreSQL for production-path tests: a scratch database on the machine's server
(127.0.0.1:5432, trust auth), or a private server of the test's own that it may stop and start."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa

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


PASSWORD = "s3cret-pw"  # trust auth ignores it; it is in the private server's URL to be redacted


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PrivatePostgres:
    """A throwaway PostgreSQL server: its own data directory, socket directory and port. As root it
    runs as the `postgres` OS user (initdb refuses root), in a directory that user can write."""

    def __init__(self):
        bins = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
        if not bins:
            pytest.skip("no PostgreSQL server binaries under /usr/lib/postgresql/*/bin")
        self.bin = bins[-1].parent
        self.root = Path(tempfile.mkdtemp(prefix="sentitrade-pg-"))  # pytest's tmp dirs are private to root
        self.as_user: list[str] = []
        if os.geteuid() == 0:
            try:
                pwd.getpwnam("postgres")
            except KeyError:
                pytest.skip("running as root, and there is no `postgres` OS user to run initdb as")
            if shutil.which("runuser") is None:
                pytest.skip("running as root, and no `runuser` to run initdb as the `postgres` user")
            shutil.chown(self.root, "postgres")
            self.as_user = ["runuser", "-u", "postgres", "--"]
        self.data, self.port = self.root / "data", free_port()
        self._pg("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
        self.start()
        with sa.create_engine(self._url("postgres"), isolation_level="AUTOCOMMIT").connect() as con:
            con.execute(sa.text("create database ledger"))
        self.url = self._url("ledger", PASSWORD)
        self.engine = sa.create_engine(self.url, poolclass=sa.pool.NullPool)  # no connection kept across a stop

    def _url(self, database: str, password: str | None = None) -> str:
        secret = f":{password}" if password else ""
        return f"postgresql+psycopg://postgres{secret}@127.0.0.1:{self.port}/{database}"

    def _pg(self, tool: str, *args: str) -> None:
        done = subprocess.run([*self.as_user, str(self.bin / tool), *args], capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, f"{tool}: {done.stdout}{done.stderr}"

    def start(self) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._pg("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.root / "server.log"), "-w", "start")

    def stop(self) -> None:
        """As a crash does: no checkpoint, every connection cut."""
        self._pg("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def close(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self.stop()
        shutil.rmtree(self.root, ignore_errors=True)
