"""Reads a replay data set back the way the live APIs answer: per day, per market, per token."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date, timedelta
from functools import cached_property
from pathlib import Path


class ReplayNotFoundError(FileNotFoundError):
    """The data directory holds no replay data set."""


class ReplaySource:
    def __init__(self, replay_dir: Path):
        self.dir = Path(replay_dir)
        if not (self.dir / "manifest.json").is_file():
            raise ReplayNotFoundError(
                f"no replay data set in {self.dir}: run `sentitrade demo` (or `sentitrade replay generate`) first"
            )

    @cached_property
    def manifest(self) -> dict:
        return json.loads((self.dir / "manifest.json").read_text())

    @property
    def days(self) -> list[date]:
        start = date.fromisoformat(self.manifest["start"])
        return [start + timedelta(days=i) for i in range(self.manifest["days"])]

    def tweet_lines(self, day: date) -> Iterator[str]:
        """The raw filtered-stream lines of one UTC day, in arrival order."""
        path = self.dir / "tweets" / f"{day.isoformat()}.jsonl"
        if not path.exists():
            return
        with path.open(encoding="utf-8") as handle:
            for line in handle:
                if line.strip():
                    yield line

    def gamma_markets(self) -> list[dict]:
        return json.loads((self.dir / "markets.json").read_text())

    def prices_history(self, token_id: str, start_ts: int, end_ts: int) -> dict:
        """Like CLOB `GET /prices-history?market=<token>&startTs=&endTs=`: points with start <= t < end."""
        path = self.dir / "prices" / f"{token_id}.json"
        if not path.exists():
            return {"history": []}
        history = json.loads(path.read_text())["history"]
        return {"history": [point for point in history if start_ts <= point["t"] < end_ts]}
