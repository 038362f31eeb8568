"""`sentitrade trade` (the long-running trader), `sentitrade trade kill`, and `sentitrade ledger`."""

from __future__ import annotations

import json
import logging
import math
import shutil
import signal
import threading
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from sentitrade.commands.common import DataDir, UserError, utc_moment

app = typer.Typer(
    help="The trader: runs until stopped, trading the champion (and shadows) on a replay or the live stream.",
    invoke_without_command=True,
)


class FeedKind(StrEnum):
    replay = "replay"
    stream = "stream"


class ExecutionKind(StrEnum):
    paper = "paper"
    dry_run = "dry-run"
    live = "live"


class LogFormat(StrEnum):
    text = "text"
    json = "json"


@app.callback()
def trade(
    ctx: typer.Context,
    feed: Annotated[FeedKind, typer.Option(help="replay: the data set's tweets and prices in event-time order (ends with its span). stream: the live X filtered stream and Polymarket's market stream (runs until stopped).")] = FeedKind.replay,
    execution: Annotated[ExecutionKind, typer.Option(help="paper (default): simulated taker fills (the book when the feed has one, else the replayed price and the cost model), with the taker fee. dry-run: real orders priced on the exchange's book, signed with SENTITRADE_POLYMARKET_PRIVATE_KEY and recorded, none posted. live: the same orders POSTED to SENTITRADE_POLYMARKET_CLOB_URL (production unless set): real money. Rehearse on `sentitrade sandbox` first.")] = ExecutionKind.paper,
    start: Annotated[str | None, typer.Option(help="Replay from this UTC time (default: the champion's held-out start).")] = None,
    end: Annotated[str | None, typer.Option(help="Replay until this UTC time (default: the champion's held-out end).")] = None,
    speed: Annotated[float, typer.Option(min=0, help="Replay N times faster than real time; 0: as fast as possible. Decisions are the same at any speed.")] = 0.0,
    fresh: Annotated[bool, typer.Option("--fresh", help="Abandon this model's unfinished run (marked aborted) and start a new one.")] = False,
    metrics_port: Annotated[int | None, typer.Option(min=0, max=65535, help="Serve Prometheus metrics on this port (on SENTITRADE_TRADER_METRICS_ADDRESS, 127.0.0.1 unless set).")] = None,
    log_format: Annotated[LogFormat, typer.Option(help="Logs on standard error: text lines, or one JSON object per line.")] = LogFormat.text,
    model_name: Annotated[str | None, typer.Option(help="Registered model to trade (default: SENTITRADE_MODEL_NAME).")] = None,
    data_dir: DataDir = Path("data"),
):
    """Trade `models:/<name>@champion` until stopped; versions under the shadow aliases (`challenger`) trade in shadow on their own paper books.

    Decisions run every SENTITRADE_TRADER_DECISION_MINUTES of event time. A new champion is picked up between two decisions (the registry is polled every SENTITRADE_TRADER_MODEL_POLL_S). Every decision, order and fill lands in the ledger, one transaction per round.

    Stop: Ctrl-C or SIGTERM stops after the current round (start again to continue the same run); `sentitrade trade kill` flattens (or freezes) and ends the run. Read it with `sentitrade ledger`.

    If the ledger's database becomes unreachable, trading pauses until it is back; after SENTITRADE_TRADER_LEDGER_OUTAGE_S the trader exits with code 75, and the next start continues the run from its last whole round.
    """
    if ctx.invoked_subcommand is not None:
        return
    if not math.isfinite(speed):
        raise UserError("--speed must be a finite number (0: as fast as possible)")
    from sentitrade.cli import _use_data_dir

    settings = _use_data_dir(data_dir)
    if not settings.data_dir.is_dir() or not any(settings.data_dir.iterdir()):
        raise UserError(f"data directory {settings.data_dir} is missing or empty: run `sentitrade demo --data-dir {data_dir}` first")
    from trader.logs import configure_logging
    from connectors.x_api import MissingSetting
    from trader.ledger import LedgerError
    from trader.run import TradeOptions, run_trader
    from trader.reconcile import Unreconciled
    from trader.service import TraderRefused

    configure_logging(log_format.value)
    options = TradeOptions(feed.value, execution.value, _naive(utc_moment(start, "--start")), _naive(utc_moment(end, "--end")), speed, fresh)
    stop = threading.Event()
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}

    def on_signal(signum, _frame):
        logging.getLogger("trader").warning("%s: stopping after the current round (again: at once)", signal.Signals(signum).name)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        stop.set()

    for sig in previous:
        signal.signal(sig, on_signal)
    try:
        summary = run_trader(settings, model_name or settings.model_name, options, stop=stop, metrics_port=metrics_port,
                             show_progress=log_format is LogFormat.text)
    except (TraderRefused, Unreconciled, LedgerError, FileNotFoundError, MissingSetting) as exc:
        raise UserError(str(exc)) from None
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    typer.echo(json.dumps({"run_id": summary.run_id, "status": summary.status, "model_version": summary.model_version,
                           "rounds": summary.rounds, "decisions": summary.decisions, "fills": summary.fills,
                           "pnl": round(summary.pnl, 4)}))


@app.command()
def kill(
    reason: Annotated[str, typer.Option(help="Why: recorded in the ledger.")] = "stopped by hand",
    clear: Annotated[bool, typer.Option("--clear", help="Remove the kill file, so a trader may start again.")] = False,
    data_dir: DataDir = Path("data"),
):
    """Stop every trader on DATA_DIR: it cancels open orders, flattens (or, with SENTITRADE_TRADER_ON_KILL=freeze, keeps) its positions, records why, and exits 0. No trader starts while the kill file is there (`--clear` removes it)."""
    from trader.kill import clear_kill, kill_path, write_kill

    root = data_dir.expanduser().resolve()
    if clear:
        typer.echo(f"kill file {'removed' if clear_kill(root) else 'was not set'}: {kill_path(root)}")
        return
    typer.echo(f"kill file written: {write_kill(root, reason)}; a running trader stops within a second of its next event")


def ledger(
    run: Annotated[str | None, typer.Option("--run", help="The run to show (default: the newest).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object: runs, books, positions {token_id: shares}, open orders, fills, events.")] = False,
    data_dir: DataDir = Path("data"),
):
    """Positions, open orders, fills and PnL of a trader run, per book (the champion and each shadow) and per model version."""
    from sentitrade.cli import _use_data_dir
    from sentitrade.redact import redact
    from trader.ledger import Ledger, LedgerError
    from trader.report import ledger_report

    settings = _use_data_dir(data_dir)
    if settings.ledger_url is None and not (settings.data_dir / "ledger.db").exists():
        raise UserError(f"no ledger in {settings.data_dir}: run `sentitrade trade --data-dir {data_dir}` first")
    try:
        store = Ledger(settings.ledger)
        report = ledger_report(store, run)
    except LedgerError as exc:
        raise UserError(str(exc)) from None
    except LookupError as exc:
        raise UserError(str(exc).strip("'\"")) from None
    if as_json:
        typer.echo(json.dumps(report, default=str))
        return
    _print_report(report, redact(settings.ledger))


def _print_report(report: dict, where: str) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=max(120, shutil.get_terminal_size().columns))  # a piped report keeps its tables whole
    if report["run"] is None:
        console.print(f"the ledger {where} holds no run yet")
        return
    runs = Table(title=f"runs in {where}")
    for column in ("run", "status", "feed", "execution", "span", "last round", "why it stopped"):
        runs.add_column(column)
    for r in report["runs"]:
        span = f"{_short(r['span_start'])} -> {_short(r['span_end']) if r['span_end'] else 'open'}"
        runs.add_row(r["run_id"][:8], r["status"], r["feed"], r["execution"], span, _short(r["last_step_at"]), r["stop_reason"] or "")
    console.print(runs)
    run = report["run"]
    book_table = Table(title=f"run {run['run_id']}: books and PnL per model version")
    for column in ("book", "version", "decisions", "fills", "PnL (USDC)", "equity", "positions"):
        book_table.add_column(column, justify="left" if column in ("book", "positions") else "right")
    for book in report["books"]:
        label = "champion" if book["role"] == "champion" else f"shadow {book['alias']}"
        positions = ", ".join(f"{name}: {shares:g}" for name, shares in book["holdings"].items()) or "flat"
        for i, (version, s) in enumerate(book["by_version"].items()):
            book_table.add_row(label if i == 0 else "", f"v{version}", str(s["decisions"]), str(s["fills"]), f"{s['pnl']:+.2f}",
                               f"{book['equity']:.2f}" if i == 0 else "", positions if i == 0 else "")
    console.print(book_table)
    console.print(f"open orders: {len(report['open_orders'])}; champion fills: {len(report['fills'])}")
    for event in report["events"]:
        console.print(f"  {_short(event['at'])}  {event['kind']:>8}  {event['message']}")


def _naive(moment: datetime | None) -> datetime | None:
    """UTC without a zone: the trader's clock, like the lake's timestamps."""
    return moment.replace(tzinfo=None) if moment else None


def _short(moment: str | None) -> str:
    """`2026-11-03 01:00:00.123` as `2026-11-03 01:00`: minutes are what a reader compares."""
    return moment[:16] if moment else "-"
