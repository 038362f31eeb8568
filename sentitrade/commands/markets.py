"""`sentitrade markets`: find Polymarket markets, land their price history and order books; the rules that
say which tweets are about which market, and the re-tagging of landed tweets by them (`models.ingest.rules`).

Talks to the live APIs through `connectors.polymarket` (SENTITRADE_POLYMARKET_* settings). What it
lands goes into the same lake tables the Dagster assets write, merged by key, never clobbering them.
The SDK is imported inside the commands, so mounting this group costs `sentitrade --help` nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from sentitrade.commands.common import DataDir, UserError, load_settings

app = typer.Typer(help="Polymarket markets: discover them, land price history and order-book snapshots, map tweets to them.", no_args_is_help=True)

DATE_FORMATS = ["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S"]


@contextmanager
def _polymarket() -> Iterator:
    """The live source; a failed request becomes a one-line user error naming its endpoint."""
    from connectors.polymarket import (
        PolymarketApiError,
        PolymarketSettings,
        PolymarketSource,
    )

    try:
        with PolymarketSource(load_settings(PolymarketSettings)) as source:
            yield source
    except PolymarketApiError as exc:
        raise UserError(str(exc)) from None


def _lake(data_dir: Path):
    from connectors.lake import Lake
    from sentitrade.settings import Settings

    return Lake(Settings(data_dir=data_dir).lake_dir)


def _land(lake, table: str, rows, keys: list[str]) -> list:
    """Upsert rows into the daily partitions of their `ts`; returns the days touched."""
    import pyarrow.compute as pc

    days = sorted({ts.date() for ts in rows["ts"].to_pylist()})
    for day in days:
        lake.upsert(table, rows.filter(pc.equal(pc.cast(rows["ts"], "date32"), day)), keys, day)
    return days


def _one_market(source, slug: str):
    batch = source.markets([slug])
    if not batch.markets:
        reason = batch.skipped[0][1] if batch.skipped else "Gamma knows no market with that slug"
        raise UserError(f"cannot use market {slug!r}: {reason}")
    return batch.markets[0]


@app.command()
def discover(
    keyword: Annotated[str | None, typer.Option("--keyword", "-k", help="Words in the event title.")] = None,
    tag: Annotated[str | None, typer.Option("--tag", "-t", help="Gamma tag slug, e.g. politics.")] = None,
    closed: Annotated[bool, typer.Option("--closed/--active", help="Closed markets instead of open ones.")] = False,
    limit: Annotated[int, typer.Option(min=1, help="Most markets to look at.")] = 50,
    land: Annotated[bool, typer.Option("--land", help="Also land the Yes/No markets found into the lake's markets table.")] = False,
    data_dir: DataDir = Path("data"),
):
    """Find markets through Gamma by keyword and/or tag; non-Yes/No markets are skipped with a reason."""
    from rich.console import Console
    from rich.table import Table

    from models.ingest.markets import markets_table

    if not keyword and not tag:
        raise UserError("say what to look for: --keyword WORDS and/or --tag SLUG")
    console = Console()
    with _polymarket() as source, console.status("asking Gamma..."):
        batch = source.discover(keyword=keyword, tag=tag, closed=closed, limit=limit)
    table = Table("slug", "question", "yes", "volume", "ends", "fee rate")
    for m in batch.markets:
        schedule = m.trading.fee_schedule
        table.add_row(m.slug, m.question, str(m.outcomes.yes.price), f"{m.metrics.volume or 0:,.0f}",
                      f"{m.state.end_date:%Y-%m-%d}", str(schedule.rate) if m.trading.fees_enabled and schedule else "0")
    console.print(table)
    for slug, reason in batch.skipped:
        console.print(f"skipped {slug}: {reason}", style="yellow")
    console.print(f"{len(batch.markets)} Yes/No markets, {len(batch.skipped)} skipped")
    if land and batch.markets:
        path = _lake(data_dir).upsert("markets", markets_table(batch.markets), ["market"])
        console.print(f"landed {len(batch.markets)} markets into {path}")


@app.command()
def prices(
    slug: Annotated[str, typer.Argument(help="The market's Gamma slug; its YES token's prices are fetched.")],
    start: Annotated[datetime, typer.Option(formats=DATE_FORMATS, help="UTC date or time, inclusive.")],
    end: Annotated[datetime | None, typer.Option(formats=DATE_FORMATS, help="UTC date or time, exclusive (default: now).")] = None,
    fidelity: Annotated[int | None, typer.Option(min=1, max=1440, help="Minutes per point (default SENTITRADE_POLYMARKET_FIDELITY_MINUTES).")] = None,
    data_dir: DataDir = Path("data"),
):
    """Fetch a market's YES-price history over a range and land it in price_history, one partition per day."""
    from rich.progress import Progress

    from models.ingest.markets import parse_gamma_market, prices_table

    start_ts = int(start.replace(tzinfo=UTC).timestamp())
    end_ts = int((end.replace(tzinfo=UTC) if end else datetime.now(UTC)).timestamp())
    if end_ts <= start_ts:
        raise UserError("--end must come after --start")
    with _polymarket() as source:
        token = parse_gamma_market(_one_market(source, slug))["yes_token_id"]
        with Progress() as progress:
            task = progress.add_task(f"{slug} prices", total=None)
            history = source.prices_history(token, start_ts, end_ts, fidelity, lambda done, total: progress.update(task, completed=done, total=total))
    rows = prices_table(slug, token, history)
    days = _land(_lake(data_dir), "price_history", rows, ["token_id", "ts"])
    typer.echo(f"landed {rows.num_rows} points of {slug} into price_history ({len(days)} days)")


@app.command()
def book(
    slug: Annotated[str, typer.Argument(help="The market's Gamma slug; both outcome books are snapshot.")],
    data_dir: DataDir = Path("data"),
):
    """Snapshot the CLOB order books of a market's YES and NO tokens into order_books."""
    import pyarrow as pa

    from models.ingest.markets import book_table, parse_gamma_market

    with _polymarket() as source:
        row = parse_gamma_market(_one_market(source, slug))
        books = [(name, source.order_book(row[f"{name}_token_id"])) for name in ("yes", "no")]
    fetched = datetime.now(UTC)
    _land(_lake(data_dir), "order_books", pa.concat_tables([book_table(slug, b, fetched) for _, b in books]), ["token_id", "ts", "side", "level"])
    for name, b in books:
        bid, ask = (b.bids[-1].price if b.bids else "-"), (b.asks[-1].price if b.asks else "-")
        typer.echo(f"{name.upper()}: best bid {bid}, best ask {ask} ({len(b.bids)} bids, {len(b.asks)} asks)")


@app.command()
def wallet():
    """Show the wallet address live trading would use, from SENTITRADE_POLYMARKET_PRIVATE_KEY; the key is never shown."""
    from eth_account import Account

    from connectors.polymarket import PolymarketSettings

    key = load_settings(PolymarketSettings).private_key
    if key is None:
        raise UserError("SENTITRADE_POLYMARKET_PRIVATE_KEY is not set: export it (or put it in .env) to trade live")
    try:
        address = Account.from_key(key.get_secret_value()).address
    except Exception:  # the library's message may quote the key: say nothing of it
        raise UserError("SENTITRADE_POLYMARKET_PRIVATE_KEY is not a valid private key (32 bytes of hex)") from None
    typer.echo(address)


@app.command()
def rules(
    from_path: Annotated[Path, typer.Option("--from", dir_okay=False, help="YAML: markets: {<slug>: {keywords: [...], regex: [...], query: <X rule>}}.")],
    data_dir: DataDir = Path("data"),
):
    """Store the tracked markets' keyword and regex rules: `markets map` tags landed tweets by them, and the live stream and search follow their queries."""
    from models.ingest.rules import BadRules, read_rules, store_rules

    if not from_path.is_file():
        raise UserError(f"--from {from_path}: no such file")
    try:
        found = read_rules(from_path)
    except BadRules as exc:
        raise UserError(f"{exc}; the stored rules are unchanged") from None
    lake = _lake(data_dir)
    store_rules(lake, found)
    for rule in found:
        typer.echo(f"{rule.market}: {len(rule.keywords)} keywords, {len(rule.regex)} regex; stream rule: {rule.query}")
    typer.echo(f"stored {len(found)} markets' rules; run `sentitrade markets map` to re-tag the landed tweets by them")


@app.command("map")
def map_tweets(data_dir: DataDir = Path("data")):
    """Re-tag every landed tweet by the current rules (a tweet matching two markets counts for both); `sentitrade research` scores and trains on the new tags."""
    import json

    from models.ingest.rules import map_tweets as retag, stored_rules

    lake = _lake(data_dir)
    current = stored_rules(lake)
    if not current:
        raise UserError("no rules stored yet: write a rules.yaml and run `sentitrade markets rules --from rules.yaml`")
    counts = retag(lake, current)
    typer.echo(f"tagged {counts['matched']:,} of {counts['tweets']:,} tweets over {counts['days']} days by {len(current)} markets' rules; "
               f"{counts['unmatched']:,} matched none and keep the market they landed with")
    typer.echo(json.dumps(counts))
