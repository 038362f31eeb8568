"""`sentitrade`: one console script for the demo, the trader and the replay data set.

Usage errors (an unknown flag, a bad value, a missing data directory, no champion yet) print one
line that says what to do next and exit with code 2; they never print a traceback.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from typer._click.exceptions import NoArgsIsHelpError, UsageError

from sentitrade.commands.common import DataDir, UserError

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
    """The ingest, markets and sentiment command groups live in sentitrade/commands/ (mounted once)."""
    if any(group.name == "ingest" for group in app.registered_groups):
        return
    from sentitrade.commands.ingest import app as ingest_app
    from sentitrade.commands.markets import app as markets_app
    from sentitrade.commands.sentiment import app as sentiment_app
    from sentitrade.commands.trade import app as trade_app
    from sentitrade.commands.trade import ledger

    app.add_typer(ingest_app, name="ingest", help="Land tweets: X API backfill, the live stream, or your own file.")
    app.add_typer(markets_app, name="markets", help="Polymarket markets, price history and order books.")
    app.add_typer(sentiment_app, name="sentiment", help="The sentiment engine: score, fine-tune.")
    app.add_typer(trade_app, name="trade")
    app.command("ledger")(ledger)



def _use_data_dir(data_dir: Path):
    """Point every component at DATA_DIR before anything reads its settings."""
    os.environ["SENTITRADE_DATA_DIR"] = str(data_dir.expanduser().resolve())
    from sentitrade.settings import Settings

    return Settings()


@app.command()
def demo(
    seed: Annotated[int, typer.Option(help="Seed of the replay generator: same seed, same data.")] = 7,
    markets: Annotated[int, typer.Option(min=1, max=24, help="Markets to simulate.")] = 2,
    days: Annotated[int, typer.Option(min=3, max=24, help="Days of data; the last `holdout_days` are held out.")] = 7,
    tweets_per_day: Annotated[int, typer.Option(min=100, help="Tweets per day across all markets.")] = 7200,
    no_signal: Annotated[bool, typer.Option("--no-signal", help="Control set: tweets and prices independent.")] = False,
    data_dir: DataDir = Path("data"),
):
    """Run the whole pipeline end to end on a synthetic replay data set and print a report.

    Stages: replay data -> Dagster assets (ingest, score, dbt features, labels, training set, XGBoost and LightGBM models, backtests, promotion) -> paper trader on the held-out days. The last line is one JSON object with the figures.
    """
    from sentitrade.demo import DemoOptions, run_demo

    settings = _use_data_dir(data_dir)
    run_demo(settings, DemoOptions(seed, markets, days, tweets_per_day, not no_signal))


@replay_app.command("generate")
def replay_generate(
    seed: Annotated[int, typer.Option(help="Seed: same seed, same data.")] = 7,
    markets: Annotated[int, typer.Option(min=1, max=24)] = 2,
    days: Annotated[int, typer.Option(min=1, max=24)] = 7,
    tweets_per_day: Annotated[int, typer.Option(min=1)] = 7200,
    no_signal: Annotated[bool, typer.Option("--no-signal")] = False,
    data_dir: DataDir = Path("data"),
):
    """Write the replay data set (X API v2 payloads, Gamma markets, CLOB price history) to DATA_DIR/replay."""
    from connectors.replay import ReplayConfig, generate_replay

    settings = _use_data_dir(data_dir)
    manifest = generate_replay(settings.replay_dir, ReplayConfig(seed, markets, days, tweets_per_day, not no_signal))
    typer.echo(f"wrote {manifest['tweets']:,} tweets over {days} days for {markets} markets to {settings.replay_dir}")


def main() -> None:
    """Entry point: run the app, turning every user error into one line and exit code 2."""
    from connectors.replay.source import ReplayNotFoundError
    from models.registry import NoChampionError
    from sentitrade.demo import DemoError

    _mount_commands()
    try:
        app(standalone_mode=False)
    except NoArgsIsHelpError:
        sys.exit(0)
    except UsageError as exc:
        hint = f" (see `{exc.ctx.command_path} --help`)" if exc.ctx is not None and not isinstance(exc, UserError) else ""
        print(f"error: {exc.format_message()}{hint}", file=sys.stderr)
        sys.exit(2)
    except (NoChampionError, ReplayNotFoundError) as exc:
        print(f"error: {str(exc).strip(chr(39))}", file=sys.stderr)
        sys.exit(2)
    except DemoError as exc:  # a pipeline stage failed: one line naming it, not the user's fault
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)
    except typer.Abort:
        print("aborted", file=sys.stderr)
        sys.exit(130)
