"""`sentitrade ingest`: land tweets from the X API (recent search, the live stream) or from a file,
and a user's own markets, prices and resolutions (`models.ingest.imports`).

Everything lands through `models.ingest.landing` into the same raw_tweets partitions the Dagster
asset writes: one per UTC day, each tweet id once in the whole store, bad lines in a dead-letter
file. X settings come from SENTITRADE_X_* (see `connectors.x_api.XSettings`); the bearer token is
never printed. The X client is imported inside the commands, so mounting this group costs `sentitrade --help` nothing.
"""

from __future__ import annotations

import json
import signal
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from sentitrade.commands.common import DataDir, UserError, load_settings, utc_moment

YEAR_S = 366 * 86_400  # --duration's bound: a timer of inf seconds overflows and never fires
MARKETS_JSON_HINT = 'SENTITRADE_X_MARKETS is not valid JSON: set it to {"<market tag>": "<X query>", ...}'

app = typer.Typer(help="Land tweets (X API search, the live stream, your own file) and your own markets, prices and resolutions.", no_args_is_help=True)
FromFile = Annotated[Path, typer.Option("--from", help="The file to import.")]

Market = Annotated[
    str | None,
    typer.Option(
        help="Market tag. With --from: the tag of payloads that matched no rule (CSV rows always), default "
        "SENTITRADE_TWEETS_DEFAULT_MARKET ('unassigned'). With --query: the tag of its tweets. Alone: search "
        "only this configured market."
    ),
]


@contextmanager
def _x_errors() -> Iterator[None]:
    """X API failures as one-line user errors; none of them carries the token."""
    import tweepy

    from connectors.x_api import TRANSIENT, MissingSetting
    from connectors.x_stream import StreamError

    try:
        yield
    except MissingSetting as exc:
        raise UserError(str(exc)) from None
    except (tweepy.Unauthorized, tweepy.Forbidden) as exc:
        status = exc.response.status_code
        raise UserError(f"X refused the request (HTTP {status}): check SENTITRADE_X_BEARER_TOKEN and the app's access level") from None
    except StreamError as exc:
        raise UserError(str(exc)) from None
    except (tweepy.HTTPException, *TRANSIENT) as exc:
        raise UserError(f"the X API failed after retries: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}") from None


def _lake(data_dir: Path):
    from connectors.lake import Lake
    from sentitrade.settings import Settings

    return Lake(Settings(data_dir=data_dir).lake_dir)


def _landing(data_dir: Path, dead_letter_name: str, source: str, default_market: str = ""):
    from models.ingest.landing import landing_into

    return landing_into(_lake(data_dir), dead_letter_name, source, default_market)


def _progress(in_bytes: bool = False):
    """Progress on standard error (on a terminal only), so standard output stays the summary and its JSON line."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    console = Console(stderr=True)
    amount = DownloadColumn() if in_bytes else MofNCompleteColumn()
    return Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), amount, TimeElapsedColumn(),
                    console=console, transient=True, disable=not console.is_terminal)


def _counting(lines: Iterable, progress, task) -> Iterator:
    for line in lines:
        progress.advance(task)
        yield line


def _finish(landing, report, what: str, extra: list[str] = ()) -> None:
    """The readable summary, then the figures as one JSON object on the last line."""
    days = sorted(report.days)
    span = f", {len(days)} days from {days[0]} to {days[-1]}" if days else ""
    typer.echo(f"landed {report.landed:,} of {report.read:,} tweets read {what} into {landing.lake.root / 'raw_tweets'}{span}")
    typer.echo(f"  duplicates: {report.duplicates:,} (already stored, or repeated in the input)")
    letters = f" -> {landing.dead_letters.path}" if report.dead_lettered else ""
    typer.echo(f"  dead-lettered: {report.dead_lettered:,}{letters}")
    for line in extra:
        typer.echo(f"  {line}")
    typer.echo(json.dumps(report.summary()))


@app.command()
def tweets(
    from_path: Annotated[
        Path | None, typer.Option("--from", dir_okay=False, help="Land this file instead of searching: JSON Lines of X API v2 payloads (stream objects or search pages), or a CSV with created_at and text columns.")
    ] = None,
    query: Annotated[str | None, typer.Option(help="Search this X query instead of the configured markets.")] = None,
    market: Market = None,
    start_time: Annotated[str | None, typer.Option(help="Oldest creation time, UTC (recent search reaches back 7 days).")] = None,
    end_time: Annotated[str | None, typer.Option(help="Newest creation time, UTC, exclusive.")] = None,
    since_id: Annotated[int | None, typer.Option(min=0, help="Only tweets with a larger id.")] = None,
    until_id: Annotated[int | None, typer.Option(min=0, help="Only tweets with a smaller id.")] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="At most this many tweets per query (X bills every post read).")] = None,
    resume: Annotated[bool, typer.Option("--resume/--no-resume", help="Without --since-id or --start-time, start after the newest tweet stored for the market.")] = True,
    time_format: Annotated[str | None, typer.Option(help="strptime format of a CSV's created_at, if not ISO-8601 or a common one.")] = None,
    data_dir: DataDir = Path("data"),
):
    """Backfill tweets by X API recent search (each configured market, or --query) over a time or id range, paging through every result; or land your own file with --from.

    Prints a summary and, as its last line, {"read", "landed", "duplicates", "dead_lettered"} as JSON. Running it again lands nothing twice: tweets are deduplicated by id across the whole store.
    """
    if from_path is not None:
        if query or start_time or end_time or since_id is not None or until_id is not None or limit:
            raise UserError("--from lands a file: it takes no --query, --start-time, --end-time, --since-id, --until-id or --limit")
        return _from_file(from_path, market, time_format, data_dir)
    window_args = dict(since_id=since_id, until_id=until_id, start_time=utc_moment(start_time, "--start-time"), end_time=utc_moment(end_time, "--end-time"))
    from connectors.x_api import XSettings
    from models.ingest.rules import with_stored_rules

    settings = with_stored_rules(load_settings(XSettings, on_parse_error=MARKETS_JSON_HINT), _lake(data_dir))
    if query is not None:
        from models.ingest.landing import TweetIngestSettings

        targets = {market or TweetIngestSettings().default_market: query}
    elif market is not None:
        if market not in settings.markets:
            raise UserError(f"market {market!r} is not in SENTITRADE_X_MARKETS ({', '.join(settings.markets) or 'empty'}): pass --query too")
        targets = {market: settings.markets[market]}
    elif settings.markets:
        targets = dict(settings.markets)
    else:
        raise UserError('no markets to search: set SENTITRADE_X_MARKETS to {"<market tag>": "<X query>"} or pass --query')
    _search(settings, targets, window_args, limit, resume and since_id is None and start_time is None, data_dir)


def _search(settings, targets: dict[str, str], window_args: dict, limit: int | None, resume: bool, data_dir: Path) -> None:
    from connectors.x_api import SearchWindow, XSearch
    from models.ingest.landing import LandingReport, newest_stored_id, spooled

    landing = _landing(data_dir, "search", "recent search")
    total, notes = LandingReport(), []
    with _x_errors():
        search = XSearch(settings)
        with _progress() as progress:
            for tag, query in targets.items():
                since = window_args["since_id"]
                if resume:
                    since = newest_stored_id(landing.lake, tag)
                    notes.append(f"{tag}: resumed after id {since}" if since else f"{tag}: nothing stored yet, searched the last 7 days")
                task = progress.add_task(f"searching {tag}", total=limit)
                lines = search.lines(tag, query, SearchWindow(**{**window_args, "since_id": since}), limit)
                total.add(landing.land(spooled(_counting(lines, progress, task))))
    waits = sum(seconds for _, seconds in search.retry.waits)
    _finish(landing, total, f"by searching {len(targets)} {'query' if len(targets) == 1 else 'queries'}",
            notes + ([f"waited {waits:.0f} s on rate limits and retries"] if waits else []))


def _from_file(path: Path, market: str | None, time_format: str | None, data_dir: Path) -> None:
    from models.ingest.files import FileStats, UnreadableFile, file_lines
    from models.ingest.landing import TweetIngestSettings

    if not path.is_file():
        raise UserError(f"--from {path}: no such file")
    tag = market or TweetIngestSettings().default_market
    landing = _landing(data_dir, f"import-{path.stem}", str(path), default_market=tag)
    stats = FileStats()
    try:
        with _progress(in_bytes=True) as progress:
            task = progress.add_task(f"landing {path.name}", total=path.stat().st_size)
            report = landing.land(file_lines(path, tag, stats, time_format, lambda n: progress.advance(task, n)))
    except UnreadableFile as exc:
        raise UserError(str(exc)) from None
    repaired = [f"repaired: {stats.repaired_lines:,} lines with bytes that are not UTF-8 ({stats.replaced_bytes:,} bytes replaced by U+FFFD)"]
    _finish(landing, report, f"from {path.name} (untagged tweets: {tag})", repaired if stats.repaired_lines else [])


@app.command()
def stream(
    duration: Annotated[float | None, typer.Option(min=1, max=YEAR_S, help="Stop after this many seconds, at most a year (default: until Ctrl-C).")] = None,
    data_dir: DataDir = Path("data"),
):
    """Follow the X filtered stream of the tracked markets (the rules file's queries, `sentitrade markets rules`; else SENTITRADE_X_MARKETS) and land it.

    Keeps one rule per market in sync first. Survives dropped connections, 429s (waits for the rate-limit reset), 5xx and stalls (no data or keep-alive for SENTITRADE_X_STALL_TIMEOUT_S), reconnecting with backoff; after each reconnect it searches the gap, so nothing is missed. Starts after the newest tweet stored.

    Ctrl-C stops cleanly: it lands what arrived and, once search has indexed it (SENTITRADE_X_SEARCH_LAG_S), searches the last gap; twice: at once.
    """
    from connectors.x_api import XSettings
    from connectors.x_stream import LiveStream
    from models.ingest.landing import newest_stored_id

    from models.ingest.rules import with_stored_rules

    landing = _landing(data_dir, "stream", "filtered stream")
    settings = with_stored_rules(load_settings(XSettings, on_parse_error=MARKETS_JSON_HINT), landing.lake)
    with _x_errors():
        live = LiveStream(settings, landing, resume_from=newest_stored_id(landing.lake))
        previous = signal.getsignal(signal.SIGINT)

        def stop(*_):
            typer.echo("stopping: landing what arrived, then searching the last gap (Ctrl-C again to quit now)", err=True)
            signal.signal(signal.SIGINT, previous)
            live.stop()

        signal.signal(signal.SIGINT, stop)
        try:
            with _progress() as progress:
                task = progress.add_task("following the stream", total=None)
                ticker = threading.Thread(target=_tick, args=(live, progress, task), daemon=True)
                ticker.start()
                report = live.run(duration)
        finally:
            signal.signal(signal.SIGINT, previous)
    failures = ", ".join(f"{n} {kind}" for kind, n in sorted(report.failures.items())) or "none"
    rules = report.rules
    _finish(landing, report.landing, "from the filtered stream", [
        f"rules: {len(settings.markets)} markets, {len(rules.added) if rules else 0} added, {len(rules.deleted) if rules else 0} deleted",
        f"connections: {report.connects}; interruptions: {failures}; gap searches returned {report.backfilled:,} tweets",
    ])


def _tick(live, progress, task) -> None:
    """Refresh the spinner's counts while the stream runs in the main thread."""
    while not live.wait(1.0):
        r = live.report
        progress.update(task, description=f"following the stream: {r.landing.landed:,} landed, {r.connects} connections", completed=r.landing.landed)


def _import(what: str, table: str, data_dir: Path, run) -> None:
    """Run one import on the lake; a refused file is one line and leaves the store as it was."""
    from models.ingest.imports import BadFile

    lake = _lake(data_dir)
    try:
        report = run(lake)
    except BadFile as exc:
        raise UserError(f"{exc}; nothing was stored") from None
    typer.echo(f"landed {report.landed:,} of {report.read:,} {what} read into {lake.root / table}")
    typer.echo(f"  duplicates: {report.duplicates:,} (already stored, or repeated in the input)")
    typer.echo(f"  dead-lettered: {report.dead_lettered:,}{f' -> {report.dead_letters}' if report.dead_letters else ''}")
    typer.echo(json.dumps(report.summary()))


def _existing(path: Path) -> Path:
    if not path.exists():
        raise UserError(f"--from {path}: no such file")
    return path


@app.command()
def markets(from_path: FromFile, data_dir: DataDir = Path("data")):
    """Land Gamma market objects (a JSON array or JSON Lines, either id encoding) into the markets table; non-Yes/No markets are dead-lettered with the reason.

    Prints a summary and, as its last line, {"read", "landed", "duplicates", "dead_lettered"} as JSON; a second run lands nothing.
    """
    from models.ingest.imports import import_markets

    path = _existing(from_path)
    _import("markets", "markets", data_dir, lambda lake: import_markets(lake, path))


@app.command()
def prices(
    from_path: Annotated[Path, typer.Option("--from", help="A CSV of timestamp,price (ISO-8601 or unix seconds; the YES price), a CLOB prices-history JSON, or Pancake's polymarket-history folder (markets, daily bars and resolutions at once).")],
    market: Annotated[str | None, typer.Option(help="The market's slug, already in the markets table (not with Pancake's folder).")] = None,
    data_dir: DataDir = Path("data"),
):
    """Land a market's YES-price history into price_history, one partition per UTC day.

    A file with a price outside [0, 1], timestamps out of order or repeated, or a market not imported yet is refused whole. Prints a summary and, last, {"read", "landed", "duplicates", "dead_lettered"} as JSON.
    """
    from models.ingest.imports import import_daily_bars, import_prices

    path = _existing(from_path)
    if path.is_dir():
        if market is not None:
            raise UserError("--market goes with a price file: Pancake's folder names its own markets")
        return _import("markets, daily bars and resolutions", "price_history", data_dir, lambda lake: import_daily_bars(lake, path))
    if market is None:
        raise UserError("say which market these prices are: --market SLUG (see the markets table, or `sentitrade ingest markets`)")
    _import(f"prices of {market}", "price_history", data_dir, lambda lake: import_prices(lake, path, market))


@app.command()
def resolutions(from_path: FromFile, data_dir: DataDir = Path("data")):
    """Land market,resolved_at,outcome (YES or NO) rows into the resolutions table, which the backtest settles on.

    Prints a summary and, last, {"read", "landed", "duplicates", "dead_lettered"} as JSON.
    """
    from models.ingest.imports import import_resolutions

    path = _existing(from_path)
    _import("resolutions", "resolutions", data_dir, lambda lake: import_resolutions(lake, path))
