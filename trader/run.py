"""Wiring: settings -> ledger, registry, markets, feed, metrics -> the `Trader` loop.

The CLI (`sentitrade trade`) and the demo both start the trader here, so the two run the same thing.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime

from polymarket.errors import PolymarketError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from connectors.lake import Lake
from connectors.polymarket import SERVICE_URLS, PolymarketSettings, secure_client
from connectors.replay import ReplaySource
from connectors.x_api import XSettings
from models import registry
from models.engine import MarketInfo
from models.ingest import parse_gamma_market
from models.ingest.landing import landing_into, newest_stored_id
from sentitrade.redact import one_line, redact
from sentitrade.settings import Settings
from trader.feeds.events import Feed
from trader.execution import Execution
from trader.feeds.replay import ReplayFeed
from trader.journal import OrderJournal
from trader.ledger import Ledger
from trader.lifecycle import ModelLifecycle
from trader.live import SignedExecution
from trader.metrics import TraderMetrics
from trader.service import TradeOptions, Trader, TraderRefused, TradeSummary

__all__ = ["TradeOptions", "TradeSummary", "build_trader", "run_trader"]
log = logging.getLogger("trader")


def run_trader(settings: Settings, model_name: str, options: TradeOptions, *, stop: threading.Event | None = None,
               metrics_port: int | None = None, show_progress: bool = True) -> TradeSummary:
    """Run the trader until its feed ends or it is stopped; a replay shows a progress bar on a terminal."""
    console = Console(stderr=True)
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console, transient=True, disable=not show_progress or options.feed != "replay") as progress:

        def bar(total: int) -> Callable[[datetime, str], None]:
            task = progress.add_task("replay", total=total)
            return lambda t, status: progress.update(task, advance=1, description=status)

        trader = build_trader(settings, model_name, options, stop=stop, progress=bar)
        server = trader.metrics.serve(metrics_port, settings.trader.metrics_address) if metrics_port is not None else None
        try:
            summary = trader.run()
        finally:
            trader.ledger.dispose()
            if server is not None:
                server.shutdown()
    log.info("run %s %s: %s v%s, %d rounds, %d decisions, %d fills, fees %.2f, PnL %+.2f USDC; ledger %s (`sentitrade ledger`)",
             summary.run_id, summary.status, model_name, summary.model_version, summary.rounds, summary.decisions,
             summary.fills, summary.fees, summary.pnl, redact(settings.ledger))
    return summary


def build_trader(settings: Settings, model_name: str, options: TradeOptions, *, stop: threading.Event | None = None,
                 progress: Callable | None = None) -> Trader:
    """The trader with the ledger, registry, markets and feed the settings name (nothing started yet)."""
    registry.configure(settings.tracking_uri, settings.artifact_root)
    ledger = Ledger(settings.ledger, lease_ttl_s=settings.trader.lease_ttl_s)
    lifecycle = ModelLifecycle(model_name, settings.trader.shadow_aliases, settings.trader.model_poll_s)
    markets = _markets(settings, options.feed)
    return Trader(settings, options, ledger, lifecycle, markets, _feed_opener(settings, options, markets),
                  metrics=TraderMetrics(), stop=stop, progress=progress, execution=_signed_execution(settings, options, ledger, markets))


def _signed_execution(settings: Settings, options: TradeOptions, ledger: Ledger, markets: dict) -> Execution | None:
    """dry-run and live: the SDK's authenticated client on the configured environment (None for paper)."""
    if options.execution == "paper":
        return None
    polymarket = PolymarketSettings()
    try:
        client = secure_client(polymarket)
    except ValueError as exc:
        raise TraderRefused(f"--execution {options.execution}: {exc}") from None
    except PolymarketError as exc:
        where = polymarket.clob_url or "the production CLOB"
        raise TraderRefused(f"--execution {options.execution}: could not authenticate with {where} "
                            f"({type(exc).__name__}: {one_line(exc, 200)}); check SENTITRADE_POLYMARKET_CLOB_URL") from None
    live = options.execution == "live"
    execution = SignedExecution(client, OrderJournal(ledger), markets, post=live,
                                price_protection=settings.trader.price_protection, order_type=settings.trader.order_type,
                                rest_s=settings.trader.rest_s)
    _banner(settings, polymarket, client, markets, live)
    return execution


def _banner(settings: Settings, polymarket: PolymarketSettings, client, markets: dict, live: bool) -> None:
    """Said loudly at start: whose money, where, on what, within which limits, and how to stop it."""
    risk, trader = settings.risk, settings.trader
    urls = client.environment._config
    where = ", ".join(f"{name.removesuffix('_url')} {getattr(urls, name)}" for name in SERVICE_URLS if getattr(polymarket, name))
    lines = [
        (("LIVE TRADING: orders are signed and POSTED" + (" to a non-production exchange" if polymarket.clob_url else ", with REAL MONEY"))
         if live else "DRY RUN: orders are signed and recorded, none is posted"),
        f"wallet {client.wallet} ({client.wallet_type}), signer {client.signer}",
        f"exchange {urls.clob_url}" + (f" (overridden: {where})" if where else " (production)"),
        f"markets ({len(markets)}): {', '.join(sorted(markets))}",
        f"limits: bankroll {risk.starting_cash:g} USDC, {risk.max_position_fraction:.0%} of equity per market, "
        f"{risk.max_total_exposure:.0%} in all, halt at {risk.max_drawdown:.0%} drawdown, daily loss stop "
        f"{risk.daily_loss_limit:.0%}, price protection {trader.price_protection:g}, {trader.order_type} orders",
        f"stop: Ctrl-C or SIGTERM (after the current round), or `sentitrade trade kill --data-dir {settings.data_dir}` "
        f"({trader.on_kill} every position and end the run)",
    ]
    width = max(map(len, lines))
    log.warning("\n%s\n%s\n%s", "=" * width, "\n".join(lines), "=" * width)


def _markets(settings: Settings, feed: str) -> dict:
    """The replay's own markets; live, the tracked markets the `markets` asset landed in the lake."""
    if feed == "replay":
        return MarketInfo.by_name(parse_gamma_market(raw) for raw in ReplaySource(settings.replay_dir).gamma_markets())
    lake = Lake(settings.lake_dir)
    if not lake.exists("markets"):
        raise FileNotFoundError("no tracked markets in the lake: materialize the `markets` asset (or `sentitrade demo`) first")
    return MarketInfo.by_name(lake.read("markets").to_pylist())


def _feed_opener(settings: Settings, options: TradeOptions, markets: dict) -> Callable[[datetime, datetime | None, datetime], Feed]:
    def open_feed(start: datetime, end: datetime | None, pace_from: datetime) -> Feed:
        if options.feed == "replay":
            return ReplayFeed(ReplaySource(settings.replay_dir), markets, start, end, options.speed, pace_from)
        from models.ingest.rules import with_stored_rules
        from trader.feeds.stream import LiveFeed  # the X and Polymarket clients load only for a live run

        lake = Lake(settings.lake_dir)
        landing = landing_into(lake, "trader-stream", "filtered stream (trader)")
        return LiveFeed(markets, with_stored_rules(XSettings(), lake), landing, PolymarketSettings(), resume_from=newest_stored_id(lake))

    return open_feed
