"""The trader process: champion model -> same scoring and features -> risk -> execution -> ledger.

The replay feed walks the held-out days in time order as a live feed would deliver them: at each
decision time the trader has seen only tweets created before it and prices up to it. It scores
them with `models.sentiment`, computes features with the dbt macros (`models.features`), asks
the champion for P(up) and lets the shared `TradingEngine` decide, size and execute.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import duckdb
import pandas as pd
from rich.progress import Progress

from connectors.replay import ReplaySource
from models import registry
from models.engine import MarketInfo, PaperExchange, TradingEngine
from models.features import FEATURE_COLUMNS, compute_features, decision_grid
from models.ingest import BadRecord, parse_gamma_market, parse_tweet
from models.sentiment import score_tweets
from sentitrade.settings import Settings
from trader.ledger import Ledger

TWEET_LOOKBACK = timedelta(hours=24)  # the longest feature window
PRICE_LOOKBACK = timedelta(hours=4, minutes=5)


@dataclass(frozen=True)
class TradeSummary:
    run_id: str
    model_version: str
    decisions: int
    fills: int
    fees: float
    starting_cash: float
    final_equity: float

    @property
    def pnl(self) -> float:
        return self.final_equity - self.starting_cash


class ReplayFeed:
    """Tweets and prices revealed in time order: `advance(t)` returns what arrived before `t`."""

    def __init__(self, source: ReplaySource, markets: dict[str, MarketInfo], start: datetime, end: datetime):
        self._lines = self._tweet_lines(source, start - TWEET_LOOKBACK, end)
        self._pending: dict | None = None
        first, last = start - PRICE_LOOKBACK, end
        epoch = lambda t: int(t.replace(tzinfo=UTC).timestamp())  # noqa: E731
        frames = [
            pd.DataFrame(source.prices_history(m.yes_token_id, epoch(first), epoch(last) + 1)["history"]).assign(market=name)
            for name, m in markets.items()
        ]
        prices = pd.concat(frames, ignore_index=True)
        prices["ts"] = pd.to_datetime(prices["t"], unit="s")
        self._prices = prices.rename(columns={"p": "price"})[["market", "ts", "price"]].sort_values("ts", kind="stable")
        self.bad_lines = 0

    @staticmethod
    def _tweet_lines(source: ReplaySource, first: datetime, end: datetime) -> Iterator[str]:
        day = first.date()
        while day <= end.date():
            yield from source.tweet_lines(day)
            day += timedelta(days=1)

    def tweets_before(self, t: datetime, since: datetime) -> list[dict]:
        """Parsed tweets with since <= created_at < t (the feed is time-ordered, as the stream is)."""
        rows = []
        while True:
            if self._pending is None:
                line = next(self._lines, None)
                if line is None:
                    return rows
                try:
                    self._pending = parse_tweet(line)
                except BadRecord:
                    self.bad_lines += 1
                    continue
            if self._pending["created_at"] >= t:
                return rows
            if self._pending["created_at"] >= since:
                rows.append(self._pending)
            self._pending = None

    def prices_until(self, t: datetime) -> pd.DataFrame:
        return self._prices[(self._prices["ts"] <= t) & (self._prices["ts"] > t - PRICE_LOOKBACK)]


def load_markets(source: ReplaySource) -> dict[str, MarketInfo]:
    rows = [parse_gamma_market(raw) for raw in source.gamma_markets()]
    return {row["market"]: MarketInfo.from_row(row) for row in rows}


def run_paper_replay(settings: Settings, model_name: str, quiet: bool = False) -> TradeSummary:
    """Paper-trade the champion over its held-out span; every step lands in the ledger."""
    registry.configure(settings.tracking_uri, settings.artifact_root)
    champion = registry.load_champion(model_name)
    source = ReplaySource(settings.replay_dir)
    markets = load_markets(source)
    start, end = champion.holdout_start.to_pydatetime(), champion.holdout_end.to_pydatetime()
    feed = ReplayFeed(source, markets, start, end)
    engine = TradingEngine(markets, settings, PaperExchange(markets, settings.costs))
    ledger = Ledger(settings.ledger)
    run_id = ledger.start_run("paper", model_name, champion.version, start, end)
    con = duckdb.connect()
    buffer = pd.DataFrame()
    times = decision_grid(start, end - timedelta(seconds=1))
    decisions = fills = 0
    fees = 0.0
    with Progress(disable=quiet, transient=True) as progress:
        task = progress.add_task(f"paper trading v{champion.version}", total=len(times))
        for t in times:
            t = t.to_pydatetime()
            arrived = feed.tweets_before(t, since=start - TWEET_LOOKBACK)
            if arrived:
                buffer = pd.concat([buffer, score_tweets(pd.DataFrame(arrived)).to_pandas()], ignore_index=True)
            buffer = buffer[buffer["created_at"] >= t - TWEET_LOOKBACK] if len(buffer) else buffer
            if buffer.empty:
                progress.advance(task)
                continue
            grid = pd.DataFrame({"market": list(markets), "ts": t})
            rows = compute_features(con, buffer, feed.prices_until(t), grid).dropna(subset=["price"])
            if len(rows):
                rows["p_up"] = champion.predict_proba(rows)
            for row in rows.to_dict("records"):
                step = engine.on_decision(t, row["market"], float(row["p_up"]), int(row["n_tweets_1h"]), float(row["price"]))
                ledger.record_step(run_id, step, {k: row[k] for k in ("market", "ts", *FEATURE_COLUMNS)})
                decisions += 1
                fills += len(step.fills)
                fees += sum(f.fee for f in step.fills)
            ledger.record_equity(run_id, t, engine.mark(t, {}))
            progress.advance(task)
    orders, closing = engine.close_all(times[-1].to_pydatetime(), "end of replay")
    ledger.record_orders(run_id, orders, closing)
    final = engine.mark(end, {})
    ledger.record_equity(run_id, end, final)
    summary = TradeSummary(run_id, champion.version, decisions, fills + len(closing), fees + sum(f.fee for f in closing),
                           settings.risk.starting_cash, final)
    if not quiet:
        print(
            f"paper trader: {model_name} v{champion.version} over {start:%Y-%m-%d %H:%M} -> {end:%Y-%m-%d %H:%M}: "
            f"{summary.decisions} decisions, {summary.fills} fills, fees {summary.fees:.2f}, "
            f"PnL {summary.pnl:+.2f} USDC (equity {summary.final_equity:.2f}); ledger {settings.ledger}"
        )
    return summary
