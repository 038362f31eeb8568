"""The trader process: feed -> event clock -> scorer -> feature SQL -> champion and shadows -> risk
-> execution -> ledger, metrics and logs, until the feed ends, a signal, or the kill file.

One loop, one thread. Events arrive in event-time order; a decision round at grid time T runs when
the first event after T arrives (or a live feed's clock passes T), so it has seen every tweet
created before T and every price up to T, and nothing later: the same rows dbt's `features` holds.
Between two rounds, and only there, the trader follows the registry (a new champion or shadow is
swapped in), renews its ledger lease and looks for the kill file. Every round is one ledger
transaction, and a restarted trader continues its run from the last one; while the ledger's database
is unreachable, trading pauses on the round it could not write (`trader.outage`).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import NamedTuple

import pandas as pd

from models.engine import MarketInfo, TradingEngine, token_mid
from models.features import FEATURE_COLUMNS, LiveFeatures, decision_grid
from models.registry import CHAMPION, ChampionModel
from models.sentiment import score_tweets
from sentitrade.settings import Settings
from trader.execution import Execution, OrderBooks, build_execution
from trader.feeds.events import BookEvent, Event, Feed, PriceEvent, TickSizeEvent, TweetEvent
from trader.heartbeat import Heartbeat
from trader.kill import read_kill
from trader.ledger import BookRound, Ledger, Run, order_outcomes
from trader.lifecycle import ModelLifecycle
from trader.live import BookRef, SignedExecution
from trader.metrics import TraderMetrics
from trader.outage import LedgerWrites
from trader.reconcile import reconcile

log = logging.getLogger("trader")

LOOKBACK = timedelta(hours=24, minutes=5)  # the longest window (a day of tweets), and a price before it, for the feed to replay
PRICE_LOOKBACK = timedelta(hours=4)  # the longest price window (ret_4h): its anchor is the last price at or before it
SCORE_BATCH = 64  # tweets scored together as they arrive (VADER's per-call overhead amortized)
BARS_BATCH = 2048  # scored tweets added to the bars between rounds once this many wait
HOUSEKEEPING_S = 0.5  # wall-clock seconds between looks at the kill file, the registry and the lease
EXCHANGE_POLL_S = 5.0  # signed orders: wall-clock seconds between asking the exchange about provisional trades


class TraderRefused(RuntimeError):
    """The trader will not start as asked; the message says why and what to do."""


@dataclass(frozen=True)
class TradeOptions:
    feed: str = "replay"  # replay | stream
    execution: str = "paper"
    start: datetime | None = None  # replay span; default: the champion's held-out days
    end: datetime | None = None
    speed: float = 0.0  # replay: N-fold compressed time; 0 as fast as possible
    fresh: bool = False  # abandon an unfinished run instead of continuing it


@dataclass(frozen=True)
class TradeSummary:
    run_id: str
    status: str  # running (stopped, resumable) | finished | aborted
    model_version: str
    rounds: int
    decisions: int
    fills: int
    fees: float
    starting_cash: float
    final_equity: float

    @property
    def pnl(self) -> float:
        return self.final_equity - self.starting_cash


class RoundTiming(NamedTuple):
    """Seconds a round took: in all (the event that closed it in, orders out, ledger written), and by stage."""

    total: float
    features: float  # scoring what was left and the feature SQL
    decide: float  # every book's model, strategy, risk and execution
    ledger: float


class BookRunner:
    """One book: an engine with its own cash and positions, and the model that decides for it."""

    def __init__(self, book_id: str, label: str, engine: TradingEngine, model: Callable[[], ChampionModel]):
        self.book_id, self.label, self.engine, self._model = book_id, label, engine, model
        self.decisions = self.fills = 0
        self.fees = 0.0

    @property
    def model(self) -> ChampionModel:
        return self._model()

    @property
    def equity(self) -> float:
        """The last marked equity; before this process's first mark, the (restored) book at its last mids."""
        engine = self.engine
        return engine.equity_curve[-1][1] if engine.equity_curve else engine.portfolio.equity(engine.mids)


class MarketState:
    """What the feed has delivered, kept only as far back as a window reaches: tweets as bars
    (`LiveFeatures`), prices back to the last one at or before the 4-hour return's anchor."""

    def __init__(self) -> None:
        self.features = LiveFeatures()
        self.pending: list[dict] = []  # tweets not scored yet
        self.scored: list[pd.DataFrame] = []  # scored, not in the bars yet
        self.prices: dict[str, deque[tuple[datetime, float]]] = {}
        self.last_tweet_at: dict[str, datetime] = {}
        self.last_price_at: dict[str, datetime] = {}

    def add_tweet(self, event: TweetEvent) -> None:
        """Tweets are scored in small batches as they arrive, so a round scores only the last few; the
        round then adds them all to the bars at once (one statement, whatever the batch count)."""
        self.pending.append(event.row)
        market = event.row["market"]
        self.last_tweet_at[market] = max(event.at, self.last_tweet_at.get(market, event.at))
        if len(self.pending) >= SCORE_BATCH:
            self._score()

    def _score(self) -> None:
        if self.pending:
            self.scored.append(score_tweets(pd.DataFrame(self.pending)).to_pandas())
            self.pending = []
            if sum(map(len, self.scored)) >= BARS_BATCH:  # a backlog (a replay's warm-up day) goes in before the round
                self._add_bars()

    def _add_bars(self) -> None:
        if self.scored:
            self.features.add_tweets(pd.concat(self.scored, ignore_index=True))
            self.scored = []

    def add_price(self, market: str, at: datetime, price: float) -> None:
        self.prices.setdefault(market, deque()).append((at, price))
        self.last_price_at[market] = max(at, self.last_price_at.get(market, at))

    def features_at(self, t: datetime, markets: list[str]) -> pd.DataFrame:
        """Feature rows at `t` for the markets that have a price by then."""
        self._score()
        self._add_bars()
        rows = []
        for market, series in self.prices.items():
            while len(series) > 1 and series[1][0] <= t - PRICE_LOOKBACK:
                series.popleft()
            rows.extend((market, at, price) for at, price in series if at <= t)
        prices = pd.DataFrame(rows, columns=["market", "ts", "price"])
        return self.features.at(t, prices, markets).dropna(subset=["price"])

    def latest_prices(self, t: datetime) -> dict[str, float]:
        latest = {}
        for market, series in self.prices.items():
            known = [price for at, price in series if at <= t]
            if known:
                latest[market] = known[-1]
        return latest


class Trader:
    def __init__(self, settings: Settings, options: TradeOptions, ledger: Ledger, lifecycle: ModelLifecycle,
                 markets: dict[str, MarketInfo], open_feed: Callable[[datetime, datetime | None, datetime], Feed],
                 metrics: TraderMetrics | None = None, stop: threading.Event | None = None,
                 progress: Callable[[int], Callable[[datetime, str], None]] | None = None, execution: Execution | None = None):
        self.settings, self.options, self.ledger, self.lifecycle = settings, options, ledger, lifecycle
        self.markets, self.open_feed = markets, open_feed
        self.metrics = metrics or TraderMetrics()
        self.stop = stop or threading.Event()
        self.writes = LedgerWrites(ledger, settings.trader.ledger_outage_s, self.metrics, self.stop,
                                   lambda: read_kill(settings.data_dir) is not None)
        self.progress = progress
        self.cadence = timedelta(minutes=settings.trader.decision_minutes)
        self.books = OrderBooks()
        self.execution: Execution = execution or build_execution(options.execution, markets, settings.costs, self.books)
        self.signed = isinstance(self.execution, SignedExecution)  # the champion's orders are signed: its book lives in the journal
        self.journal = self.execution.journal if self.signed else None
        if self.journal is not None:
            self.journal.write = self.writes.write
        self.exchange_polled = 0.0
        self.state = MarketState()
        self.runners: dict[str, BookRunner] = {}
        self.run_record: Run | None = None
        self.rounds = self.tweets_in = 0
        self.feed_began = self.feed_seconds = 0.0  # wall clock of the event loop (after start-up), for throughput
        self.round_seconds: deque[RoundTiming] = deque(maxlen=100_000)  # each round's latency, newest last

    # --- start-up ---------------------------------------------------------------------------------

    def run(self) -> TradeSummary:
        kill = read_kill(self.settings.data_dir)
        if kill is not None:
            raise TraderRefused(f"the kill file is set ({kill.reason}, {kill.written_at}): clear it with `sentitrade trade kill --clear` to start")
        self.ledger.acquire()
        try:
            self.lifecycle.start()
            run = self._open_run()
            return self._trade(run)
        finally:
            if not self.writes.down:
                self.ledger.release()

    def _open_run(self) -> Run:
        """Continue the model's unfinished run, or start a new one on the span asked for."""
        model_name = self.lifecycle.model_name
        run = self.ledger.unfinished_run(model_name)
        if run is not None and self.options.fresh:
            self.ledger.end_run(run.run_id, "aborted", "abandoned: a new run was started with --fresh")
            log.warning("abandoned unfinished run %s (--fresh)", run.run_id)
            run = None
        if run is not None:
            if (run.feed, run.execution) != (self.options.feed, self.options.execution):
                raise TraderRefused(
                    f"run {run.run_id} ({run.feed} feed, {run.execution} execution) is unfinished: continue it with "
                    f"--feed {run.feed} --execution {run.execution}, or pass --fresh to abandon it"
                )
            if self.options.start is not None or self.options.end is not None:
                log.warning("continuing unfinished run %s over its own span; --start/--end apply to a new run (--fresh)", run.run_id)
            return run
        start, end = self._span()
        return self.ledger.start_run(self.options.feed, self.options.execution, model_name, start, end)

    def _span(self) -> tuple[datetime, datetime | None]:
        if self.options.feed == "stream":
            now = pd.Timestamp.now("UTC").tz_localize(None).to_pydatetime()
            return self.options.start or now, self.options.end
        champion = self.lifecycle.champion
        start = self.options.start or champion.holdout_start.to_pydatetime()
        end = self.options.end or champion.holdout_end.to_pydatetime()
        if end <= start:
            raise TraderRefused(f"--end {end} is not after --start {start}")
        return start, end

    def _first_decision(self, run: Run) -> datetime:
        """The grid time after the last whole round; live, never one in the past (nothing replays it)."""
        first = run.last_step_at + self.cadence if run.last_step_at else pd.Timestamp(run.span_start).ceil(self.cadence).to_pydatetime()
        if run.feed == "stream":
            first = max(first, pd.Timestamp.now("UTC").tz_localize(None).ceil(self.cadence).to_pydatetime())
        return first

    # --- the loop ---------------------------------------------------------------------------------

    def _trade(self, run: Run) -> TradeSummary:
        self.run_record = run
        resumed = run.last_step_at
        next_t = self._first_decision(run)
        what = f"resumed after {resumed:%Y-%m-%d %H:%M}" if resumed else f"started at {next_t:%Y-%m-%d %H:%M}"
        self._say("resumed" if resumed else "started", f"run {run.run_id} {what}: {run.feed} feed, {run.execution} execution, "
                  f"champion {self.lifecycle.model_name} v{self.lifecycle.champion.version}", next_t)
        self._sync_runners()
        if self.signed:
            for line in reconcile(self.execution, self.journal, self.markets):
                self._say("reconcile", line, next_t)
            self._rebuild_champion()
            self._say_unowned(next_t)
        heartbeat = None
        if self.signed and self.execution.rests:
            heartbeat = Heartbeat(self.execution.client, lambda: bool(self.journal.resting()),
                                  on_error=self.metrics.errors.labels("heartbeat").inc).start()
            self.execution.on_rest, self.execution.arm = heartbeat.wake, heartbeat.beat
        end = run.span_end
        total = len(decision_grid(next_t, end - timedelta(microseconds=1))) if end and next_t < end else 0
        advance = self.progress(total) if self.progress else None
        try:
            feed = self.open_feed(next_t - LOOKBACK, end, next_t)
        except Exception as exc:
            if resumed is None:  # nothing traded yet: this run never started
                self.ledger.end_run(run.run_id, "aborted", f"the feed could not start: {type(exc).__name__}")
            raise
        grace = timedelta(seconds=self.settings.trader.stream_grace_s if run.feed == "stream" else 0)
        status, reason = "running", "stopped by a signal; the next start continues this run"
        housekeeping, self.feed_began = 0.0, time.perf_counter()
        def round_at(t: datetime) -> datetime:
            self._round(t)
            if advance:
                advance(t, self._status_line())
            return t + self.cadence

        try:
            for event in feed.events():
                while event.at > next_t + grace and (end is None or next_t < end):
                    next_t = round_at(next_t)
                self._apply(event)
                if time.monotonic() >= housekeeping:
                    housekeeping = time.monotonic() + HOUSEKEEPING_S
                    if (kill := read_kill(self.settings.data_dir)) is not None:
                        status, reason = self._kill(kill.reason, next_t - self.cadence)
                        break
                    self._housekeeping(next_t)
                if self.stop.is_set():
                    break
                self.metrics.feed_lag.set(feed.feed_lag)
            else:
                while end is not None and next_t < end and not self.stop.is_set():
                    next_t = round_at(next_t)
                if end is not None and next_t >= end:
                    status, reason = "finished", "end of the span"
        finally:
            feed.close()
            if heartbeat is not None:
                self.execution.withdraw_resting()  # nothing is left resting once the beats stop
                heartbeat.stop()
            self.feed_seconds = time.perf_counter() - self.feed_began
        if status != "running":
            self.writes.write("the run's end", lambda: self.ledger.end_run(run.run_id, status, reason))
        self._say("stop", f"run {run.run_id} {status}: {reason}", next_t - self.cadence)
        return self._summary(run, status)

    def _apply(self, event: Event) -> None:
        if isinstance(event, TweetEvent):
            self.tweets_in += 1
            self.state.add_tweet(event)
        elif isinstance(event, PriceEvent):
            self.state.add_price(event.market, event.at, event.price)
        elif isinstance(event, BookEvent):
            self.books.update(event)
        elif isinstance(event, TickSizeEvent) and event.market in self.markets:
            old = self.markets[event.market].tick_size
            self.markets[event.market] = replace(self.markets[event.market], tick_size=event.tick_size)
            log.info("%s: tick size %g -> %g", event.market, old, event.tick_size)

    def _housekeeping(self, t: datetime) -> None:
        """Between two rounds: follow the registry, keep the lease."""
        failed = self.lifecycle.failures
        changes = self.lifecycle.poll()
        self.metrics.errors.labels("registry").inc(self.lifecycle.failures - failed)
        for change in changes:
            self._say("model", f"{change} (from the decision after {t - self.cadence:%Y-%m-%d %H:%M})", t)
        if changes:
            self._sync_runners()
        if self.signed and time.monotonic() >= self.exchange_polled + EXCHANGE_POLL_S:
            self.exchange_polled = time.monotonic()
            self.execution.resolve_unknown()
            self.execution.confirm_trades()
            self._rebuild_champion()
        self.writes.write("the lease renewal", self.ledger.renew)

    def _sync_runners(self) -> None:
        """One runner for the champion's book and one per shadow version the lifecycle runs now."""
        cash = self.settings.risk.starting_cash
        wanted = {CHAMPION: (CHAMPION, None)} | {alias: (alias, m.version) for alias, m in self.lifecycle.shadows.items()}
        for key, (alias, version) in wanted.items():
            role = CHAMPION if key == CHAMPION else "shadow"
            book = self.writes.write(f"the {alias} book", lambda: self.ledger.book(self.run_record.run_id, role, alias, version, cash))
            if key in self.runners and self.runners[key].book_id == book.book_id:
                continue
            engine = TradingEngine(self.markets, self.settings, self.execution if role == CHAMPION else build_execution(
                "paper", self.markets, self.settings.costs, self.books))
            if book.state:
                engine.restore(book.state)
            if role == CHAMPION and self.signed:
                self.execution.book = BookRef(self.run_record.run_id, book.book_id, lambda: self.lifecycle.champion.version)
                self._book_from_journal(engine, book.book_id)
            model = (lambda: self.lifecycle.champion) if role == CHAMPION else (lambda m=self.lifecycle.shadows[alias]: m)
            self.runners[key] = BookRunner(book.book_id, CHAMPION if role == CHAMPION else f"{alias}:v{version}", engine, model)
        for key in set(self.runners) - set(wanted):
            del self.runners[key]
        self.metrics.set_versions({CHAMPION: self.lifecycle.champion.version} | {a: m.version for a, m in self.lifecycle.shadows.items()})

    def _say_unowned(self, t: datetime) -> None:
        """Shares the wallet holds (by the ledger) that this run's book does not own: an earlier run's, left alone."""
        engine = self.runners[CHAMPION].engine
        owned = {self.markets[m].token_id(p.token): p.shares for m, p in engine.portfolio.positions.items()}
        names = {info.token_id(token): f"{market} {token}" for market, info in self.markets.items() for token in ("YES", "NO")}
        minimum = {info.token_id(token): info.min_order_size for info in self.markets.values() for token in ("YES", "NO")}
        unowned = [f"{names.get(token, token[:12])} {shares - owned.get(token, 0.0):g}" for token, shares in self.journal.net_shares().items()
                   if shares - owned.get(token, 0.0) >= minimum.get(token, 0.01)]  # dust no order can sell is not said
        if unowned:
            self._say("reconcile", f"the wallet holds shares this run does not own (an earlier run's), left as they are: {', '.join(unowned)}", t)

    def _book_from_journal(self, engine: TradingEngine, book_id: str) -> None:
        """The engine's cash and positions from the book's fills; a position whose market has no mark
        yet (bought in a round the last process never committed) is marked at its cost until a price comes."""
        engine.portfolio = self.journal.portfolio(book_id, self.settings.risk.starting_cash,
                                                  {market: info.min_order_size for market, info in self.markets.items()})
        for market, held in engine.portfolio.positions.items():
            engine.mids.setdefault(market, held.avg_cost if held.token == "YES" else 1.0 - held.avg_cost)

    def _rebuild_champion(self) -> None:
        """A signed book's cash and positions are its fills in the ledger: rebuilt after fills found late
        (an unknown order resolved, a trade recorded at start) or a trade that failed on chain."""
        if self.execution.late_changes:
            runner = self.runners[CHAMPION]
            self._book_from_journal(runner.engine, runner.book_id)
            self.execution.late_changes = 0

    def _round(self, t: datetime) -> None:
        """One decision round at `t`: features once, then every book decides on them; one transaction."""
        began = time.perf_counter()
        if self.signed and self.execution.rests:  # decide on a book no resting order can still change
            self.execution.withdraw_resting()
            self._rebuild_champion()
        rows = self.state.features_at(t, list(self.markets))
        columns = ["market", "ts", *FEATURE_COLUMNS]
        records = [dict(zip(columns, values, strict=True)) for values in rows[columns].itertuples(index=False, name=None)]
        featured = time.perf_counter()
        latest = self.state.latest_prices(t)
        parts = []
        for runner in self.runners.values():
            model = runner.model
            part = BookRound(runner.book_id, model.version, journaled=self.signed and runner is self.runners[CHAMPION])
            if len(rows):
                p_up = model.predict_proba(rows)
                for row, p in zip(records, p_up, strict=True):
                    market = row["market"]
                    step = runner.engine.on_decision(
                        t, market, float(p), int(row["n_tweets_1h"]), float(row["price"]),
                        last_tweet_at=self.state.last_tweet_at.get(market), last_price_at=self.state.last_price_at.get(market),
                    )
                    part.steps.append((step, row))
            part.equity = runner.engine.mark(t, latest)
            part.state = runner.engine.snapshot()
            parts.append(part)
        decided = time.perf_counter()
        self._record(f"the round at {t:%Y-%m-%d %H:%M}", t, parts)
        done = time.perf_counter()
        self.rounds += 1
        self.metrics.exposure.clear()
        for runner, part in zip(self.runners.values(), parts, strict=True):
            self._count(runner, part)
        self.round_seconds.append(RoundTiming(done - began, featured - began, decided - featured, done - decided))
        self.metrics.latency.observe(done - began)
        self.metrics.event_time.set(pd.Timestamp(t).timestamp())
        if self.run_record.feed == "stream":
            log.info(self._status_line(t))

    def _count(self, runner: BookRunner, part: BookRound) -> None:
        label = runner.label
        for step, _ in part.steps:
            runner.decisions += 1
            self.metrics.decisions.labels(label).inc()
            for _order, _fill, status in order_outcomes(step.orders, step.fills):
                self.metrics.orders.labels(label, status).inc()
                if status == "unfilled":
                    self.metrics.rejects.labels(label).inc()
            runner.fills += len(step.fills)
            runner.fees += sum(f.fee for f in step.fills)
            self.metrics.fills.labels(label).inc(len(step.fills))
        engine = runner.engine
        self.metrics.equity.labels(label).set(part.equity)
        self.metrics.pnl.labels(label).set(part.equity - self.settings.risk.starting_cash)
        for market, position in engine.portfolio.positions.items():
            self.metrics.exposure.labels(label, market).set(position.shares * token_mid(position.token, engine.mids.get(market, math.nan)))

    def _status_line(self, t: datetime | None = None) -> str:
        cash = self.settings.risk.starting_cash
        engine = self.runners[CHAMPION].engine
        exposure = engine.portfolio.exposure(engine.mids)
        equity = self.runners[CHAMPION].equity
        shadows = ", ".join(f"{r.label} {r.equity - cash:+.2f}" for key, r in self.runners.items() if key != CHAMPION and r.engine.equity_curve)
        when = f"{t:%Y-%m-%d %H:%M} " if t else ""
        return (f"{when}v{self.lifecycle.champion.version}: {len(engine.portfolio.positions)}/{len(self.markets)} markets held, "
                f"exposure {exposure:.2f}, PnL {equity - self.settings.risk.starting_cash:+.2f} USDC" + (f"; shadows {shadows}" if shadows else ""))

    # --- stopping ---------------------------------------------------------------------------------

    def _kill(self, reason: str, t: datetime) -> tuple[str, str]:
        """Cancel what rests, then flatten or freeze every book, all in the ledger; the run is aborted."""
        cancelled = self.execution.cancel_all()
        if self.signed:
            self._rebuild_champion()
        mode = self.settings.trader.on_kill
        parts = []
        for runner in self.runners.values():
            part = BookRound(runner.book_id, runner.model.version, journaled=self.signed and runner is self.runners[CHAMPION])
            if mode == "flatten":
                part.orders, part.fills = runner.engine.close_all(t, f"kill: {reason}")
                runner.fills += len(part.fills)
                runner.fees += sum(f.fee for f in part.fills)
            part.state = runner.engine.snapshot()
            parts.append(part)
        self._record("the kill round", t, parts)
        closed = sum(len(p.fills) for p in parts)
        message = f"kill file: {reason}; {cancelled} open orders cancelled, " + (
            f"{closed} positions sold" if mode == "flatten" else "positions frozen as they are")
        self._say("kill", message, t)
        return "aborted", message

    def _say(self, kind: str, message: str, t: datetime | None) -> None:
        log.warning(message) if kind in ("kill", "model") else log.info(message)
        self.writes.write(f"the {kind} event", lambda: self.ledger.event(self.run_record.run_id, kind, message, t))

    def _record(self, what: str, t: datetime, parts: list[BookRound]) -> None:
        """A round in one transaction; through an outage, kept pending and written once (its orders went out)."""
        run_id = self.run_record.run_id
        self.writes.write(what, lambda: self.ledger.record_round(run_id, t, parts), lambda: self.ledger.has_round(run_id, t, parts))

    def _summary(self, run: Run, status: str) -> TradeSummary:
        champion, cash = self.runners[CHAMPION], self.settings.risk.starting_cash
        return TradeSummary(run.run_id, status, self.lifecycle.champion.version, self.rounds, champion.decisions, champion.fills,
                            champion.fees, cash, champion.equity)

