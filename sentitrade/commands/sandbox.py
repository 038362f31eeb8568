"""`sentitrade sandbox`: a local Polymarket-compatible CLOB to rehearse live trading against, with no money."""

from __future__ import annotations

import signal
import threading
from decimal import Decimal
from pathlib import Path
from typing import Annotated

import typer

from sentitrade.commands.common import UserError


def sandbox(
    host: Annotated[str, typer.Option(help="Interface to listen on. The admin API (/_sandbox/) has no auth: keep it local.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port to listen on; 0 picks a free one (printed).")] = 8765,
    data_dir: Annotated[Path | None, typer.Option("--data-dir", file_okay=False, help="Serve a book per token of this data directory's replay markets, centred on the median replayed price (default: ./data).")] = None,
    books: Annotated[Path | None, typer.Option("--books", dir_okay=False, help="Serve these books instead: JSON token_id -> {bids and asks as (price, size) pairs, tick_size, min_order_size, neg_risk, fee_rate, fee_exponent}.")] = None,
    balance: Annotated[float, typer.Option(min=0, help="pUSD each new account starts with.")] = 1000.0,
    fault: Annotated[list[str] | None, typer.Option("--fault", help="Inject a POST /order failure with a probability, KIND:RATE; repeatable. Kinds: fill-then-500, fill-then-stall, 503, trade-fails, reject:<JSON body>.")] = None,
    seed: Annotated[int, typer.Option(min=0, help="Seed of the fault RNG: same seed, same faults.")] = 0,
    heartbeat_timeout: Annotated[float, typer.Option("--heartbeat-timeout", min=0.1, help="Seconds without a heartbeat, once a chain started, before every open order of that API key is cancelled.")] = 10.0,
    stall: Annotated[float, typer.Option(min=0, help="Seconds a fill-then-stall answer waits (the SDK's read timeout is 10 s).")] = 12.0,
    deplete: Annotated[bool, typer.Option("--deplete", help="Fills use up the quotes (default: the market maker re-quotes, so the book never runs dry).")] = False,
):
    """Run a local CLOB that the official Polymarket SDK talks to unchanged, until Ctrl-C or SIGTERM.

    It issues API keys (L1 auth), checks every L2 signature and every order's EIP-712 signature, matches FAK/FOK/GTC/GTD orders against a market maker's quotes with the taker fee, settles trades, runs the order-heartbeat dead-man switch, and injects faults.

    Point the trader at it with the printed SENTITRADE_POLYMARKET_CLOB_URL line; read what happened with `curl <url>/_sandbox/state`.
    """
    from trader.sandbox.books import BookError, books_from_file
    from trader.sandbox.faults import Fault, FaultError
    from trader.sandbox.server import SandboxServer

    if data_dir is not None and books is not None:
        raise UserError("give --data-dir or --books, not both")
    try:
        served = books_from_file(books) if books is not None else _replay_books(data_dir or Path("data"))
        faults = [Fault.parse(spec) for spec in fault or []]
    except (BookError, FaultError) as exc:
        raise UserError(str(exc)) from None
    try:
        server = SandboxServer(books=served, host=host, port=port, balance=Decimal(str(balance)), faults=faults,
                               seed=seed, heartbeat_timeout_s=heartbeat_timeout, stall_s=stall, deplete=deplete)
    except OSError as exc:
        raise UserError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    with server:
        _announce(server, served, faults)
        while not stop.wait(0.5):
            pass
    typer.echo("sandbox stopped")


def _replay_books(data_dir: Path) -> dict:
    """The books of DATA_DIR's replay markets (its replay directory as the settings place it)."""
    import os

    from connectors.replay.source import ReplayNotFoundError
    from sentitrade.commands.common import load_settings
    from trader.sandbox.books import books_from_replay

    os.environ["SENTITRADE_DATA_DIR"] = str(data_dir.expanduser().resolve())
    from sentitrade.settings import Settings

    try:
        return books_from_replay(load_settings(Settings).replay_dir)
    except ReplayNotFoundError as exc:
        raise UserError(str(exc).strip("'")) from None


def _announce(server, served, faults) -> None:
    lines = [f"sandbox CLOB listening on {server.url}", "use it with:", f"  SENTITRADE_POLYMARKET_CLOB_URL={server.url}", "books:"]
    for token, book in served.items():
        bid = book.bids[0][0] if book.bids else "-"
        ask = book.asks[0][0] if book.asks else "-"
        fee = f"fee {book.fee_rate} (exp {book.fee_exponent})" if book.fee_rate else "no fee"
        lines.append(f"  {token} {book.outcome:<4} bid {bid} / ask {ask}  tick {book.tick_size}  {fee}")
    if faults:
        lines.append("faults: " + ", ".join(f"{f.kind}:{f.rate}" for f in faults))
    lines.append(f"state: {server.url}/_sandbox/state    stop: Ctrl-C")
    typer.echo("\n".join(lines))
