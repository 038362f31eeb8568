"""Run `sentitrade ingest ...` through the real console entry point, in process (fast, no subprocess)."""

from __future__ import annotations

import json
import os
import sys
import tempfile
from dataclasses import dataclass

import pytest

import sentitrade.cli as cli


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str

    @property
    def summary(self) -> dict:
        return json.loads(self.stdout.strip().splitlines()[-1])


@pytest.fixture
def sentitrade(capsys, monkeypatch):
    """`sentitrade.cli.main` (which mounts `sentitrade ingest`), with SENTITRADE_* from the test only."""
    for name in [n for n in os.environ if n.startswith("SENTITRADE_")]:
        monkeypatch.delenv(name)
    monkeypatch.chdir(tempfile.gettempdir())  # no stray .env is read

    def run(*args: str, env: dict | None = None) -> Run:
        for name, value in (env or {}).items():
            monkeypatch.setenv(name, value)
        monkeypatch.setattr(sys, "argv", ["sentitrade", *args])
        try:
            cli.main()
            code = 0
        except SystemExit as exc:
            code = exc.code or 0
        out = capsys.readouterr()
        return Run(code, out.out, out.err)

    return run
