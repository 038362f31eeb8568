"""`sentitrade`: one console script for the demo, the trader and the replay data set.

Usage errors (an unknown flag, a bad value, a bad SENTITRADE_* variable, a missing data directory,
no champion yet) print one line that says what to do next and exit with code 2; they never print a
traceback, nor a variable's value (it may be a secret). A bug prints its traceback, URL passwords
masked, and exits with code 1.
"""

from __future__ import annotations

import os
import sys
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer
from pydantic import ValidationError
from pydantic_settings import SettingsError
from typer._click.exceptions import NoArgsIsHelpError, UsageError

from sentitrade.commands.common import DataDir, UserError, check_sqlite_store, load_settings, settings_error
from sentitrade.redact import redact

if TYPE_CHECKING:
    from sentitrade.settings import Settings

app = typer.Typer(
    help="Trade Polymarket prediction markets on the sentiment of tweets.\n\n"
    "Start with `sentitrade demo`: it generates a synthetic replay data set, materializes every "
    "Dagster asset, trains and promotes a model in MLflow, and paper-trades the held-out days.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
replay_app = typer.Typer(help="The synthetic replay data set the demo runs on.", no_args_is_help=True)
app.add_typer(replay_app, name="replay")


def _mount_commands() -> None:
    """The ingest, markets, sentiment and trade groups and the ledger, promote and sandbox commands live in sentitrade/commands/ (mounted once)."""
    if any(group.name == "ingest" for group in app.registered_groups):
        return
    from sentitrade.commands.ingest import app as ingest_app
    from sentitrade.commands.markets import app as markets_app
    from sentitrade.commands.promote import promote
    from sentitrade.commands.sandbox import sandbox
    from sentitrade.commands.sentiment import app as sentiment_app
    from sentitrade.commands.trade import app as trade_app
    from sentitrade.commands.trade import ledger

    app.add_typer(ingest_app, name="ingest", help="Land tweets: X API backfill, the live stream, or your own file.")
    app.add_typer(markets_app, name="markets", help="Polymarket markets, price history and order books.")
    app.add_typer(sentiment_app, name="sentiment", help="The sentiment engine: score, fine-tune.")
    app.add_typer(trade_app, name="trade")
    app.command("ledger")(ledger)
    app.command("promote")(promote)
    app.command("sandbox")(sandbox)


Seed = Annotated[int, typer.Option(min=0, help="Seed of the replay generator: same seed, same data.")]


def _use_data_dir(data_dir: Path, stores: bool = True) -> Settings:
    """Point every component at DATA_DIR, then read every setting at once: a bad one stops the command here.

    With `stores`, the ledger and MLflow's SQLite files are checked too, before any work is done.
    """
    os.environ["SENTITRADE_DATA_DIR"] = str(data_dir.expanduser().resolve())
    from sentitrade.settings import Settings

    settings = load_settings(Settings)
    if stores:
        check_sqlite_store(settings.ledger, "move it aside to start a new ledger, or set SENTITRADE_LEDGER_URL to another")
        check_sqlite_store(settings.tracking_uri, "restore it or move it aside (`sentitrade demo` makes a new one), or set SENTITRADE_MLFLOW_TRACKING_URI")
    return settings


def _load_pipeline_settings(settings: Settings) -> None:
    """Read the settings the Dagster assets read inside their steps, so a bad one is a one-line error, not a failed step."""
    from connectors.polymarket import PolymarketSettings
    from connectors.x_api import XSettings
    from models.ingest.landing import TweetIngestSettings
    from models.sentiment import SentimentSettings

    for cls in (PolymarketSettings, TweetIngestSettings, SentimentSettings, *([XSettings] if settings.env == "production" else [])):
        load_settings(cls)


@app.command()
def demo(
    seed: Seed = 7,
    markets: Annotated[int, typer.Option(min=1, max=24, help="Markets to simulate.")] = 2,
    days: Annotated[int, typer.Option(min=3, max=24, help="Days of data: the last SENTITRADE_HOLDOUT_DAYS (2) are the untouched test span, the 3 before them the validation folds.")] = 7,
    tweets_per_day: Annotated[int, typer.Option(min=100, help="Tweets per day across all markets.")] = 7200,
    no_signal: Annotated[bool, typer.Option("--no-signal", help="Control set: tweets and prices independent.")] = False,
    data_dir: DataDir = Path("data"),
):
    """Run the whole pipeline end to end on a synthetic replay data set and print a report.

    Stages: replay data -> Dagster assets (ingest, score, dbt features, labels, training set, XGBoost and LightGBM models, backtests, promotion) -> paper trader on the held-out days. The last line is one JSON object with the figures.
    """
    from sentitrade.demo import DemoOptions, run_demo

    settings = _use_data_dir(data_dir)
    _load_pipeline_settings(settings)
    run_demo(settings, DemoOptions(seed, markets, days, tweets_per_day, not no_signal))


@app.command()
def research(data_dir: DataDir = Path("data")):
    """Run the research loop on what the lake holds: score each day of tweets, dbt features and labels, train every version, backtest, decide promotion.

    Your own data: land it first with `sentitrade ingest tweets|markets|prices|resolutions --from FILE`. Prints the demo's report; the last line is one JSON object (champion_version, auc_holdout, backtest_return, seconds, ...).
    """
    from sentitrade.demo import run_research

    settings = _use_data_dir(data_dir)
    _load_pipeline_settings(settings)
    run_research(settings)


@replay_app.command("generate")
def replay_generate(
    seed: Seed = 7,
    markets: Annotated[int, typer.Option(min=1, max=24)] = 2,
    days: Annotated[int, typer.Option(min=1, max=24)] = 7,
    tweets_per_day: Annotated[int, typer.Option(min=1)] = 7200,
    no_signal: Annotated[bool, typer.Option("--no-signal")] = False,
    data_dir: DataDir = Path("data"),
):
    """Write the replay data set (X API v2 payloads, Gamma markets, CLOB price history) to DATA_DIR/replay."""
    from connectors.replay import ReplayConfig, generate_replay

    settings = _use_data_dir(data_dir, stores=False)
    config = ReplayConfig(seed, markets, days, tweets_per_day, not no_signal, start=settings.history_start)
    manifest = generate_replay(settings.replay_dir, config)
    typer.echo(f"wrote {manifest['tweets']:,} tweets over {days} days for {markets} markets to {settings.replay_dir}")


def main() -> None:
    """Entry point: every user error is one line and exit code 2; a bug prints its traceback, passwords masked."""
    _mount_commands()
    try:
        app(standalone_mode=False)
    except NoArgsIsHelpError:
        sys.exit(0)
    except UsageError as exc:
        hint = f" (see `{exc.ctx.command_path} --help`)" if exc.ctx is not None and not isinstance(exc, UserError) else ""
        _fail(f"{exc.format_message()}{hint}")
    except (typer.Abort, KeyboardInterrupt):
        print("aborted", file=sys.stderr)
        sys.exit(130)
    except Exception as exc:
        _known_failure(exc)
        print(redact(traceback.format_exc()), file=sys.stderr, end="")  # a bug: its traceback, passwords masked
        sys.exit(1)


def _known_failure(exc: Exception) -> None:
    """Exit with one line for bad settings and the project's own failures.

    Settings some module read on its own, outside `load_settings`, are named here too. The other
    types are imported only once a failure happened: mlflow is slow to import.
    """
    if isinstance(exc, (ValidationError, SettingsError)) and (line := settings_error(exc)):
        _fail(line)
    from mlflow.exceptions import MlflowException

    from connectors.replay import ReplayConfigError
    from connectors.replay.source import ReplayNotFoundError
    from models.registry import NoChampionError
    from sentitrade.demo import DemoError
    from trader.outage import LedgerDown

    if isinstance(exc, (NoChampionError, ReplayNotFoundError, ReplayConfigError)):
        _fail(str(exc).strip(chr(39)))
    if isinstance(exc, LedgerDown):  # the trader gave up on an unreachable ledger: start it again once the database is back
        _fail(str(exc), code=LedgerDown.exit_code)
    if isinstance(exc, DemoError):  # a pipeline stage failed: one line naming it, not the user's fault
        _fail(str(exc), code=1)
    if isinstance(exc, MlflowException):  # its message quotes the tracking URI, password and all
        _fail(f"MLflow failed (check SENTITRADE_MLFLOW_TRACKING_URI): {redact(str(exc).splitlines()[0])}", code=1)


def _fail(line: str, code: int = 2) -> NoReturn:
    print(f"error: {line}", file=sys.stderr)
    sys.exit(code)
