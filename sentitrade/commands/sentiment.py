"""`sentitrade sentiment`: score texts with the configured scorer, fine-tune a transformer scorer."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from sentitrade.commands.common import DataDir, UserError

app = typer.Typer(help="Tweet sentiment: score texts, fine-tune a transformer scorer.", no_args_is_help=True)



@app.command()
def score(
    texts: Annotated[list[str] | None, typer.Argument(help="Texts to score; none: one per line from standard input.")] = None,
    data_dir: DataDir = Path("data"),
):
    """Score texts with the configured scorer (SENTITRADE_SENTIMENT_*): sentiment, confidence, scorer, note."""
    import os

    from models.sentiment import SentimentSettings, engine_for

    os.environ["SENTITRADE_DATA_DIR"] = str(data_dir.expanduser().resolve())  # where a `models:/` URI is looked up
    lines = texts or [line.rstrip("\n") for line in sys.stdin]
    if not lines:
        raise UserError("no text to score: pass texts as arguments or one per line on standard input")
    scores = engine_for(SentimentSettings()).score(lines)
    for s, c, who, note in zip(scores.sentiment, scores.confidence, scores.scorer, scores.notes, strict=True):
        typer.echo(f"{s:+.4f}\t{c:.3f}\t{who}" + (f"\t{note}" if note else ""))


@app.command()
def finetune(
    data: Annotated[Path, typer.Option(help="Labeled tweets: tweets_GroundTruth.txt (VADER paper) or CSV/Parquet with text,label[,id].")],
    base: Annotated[str, typer.Option(help="Base encoder or classifier: a local directory or a hub id already in the cache.")],
    epochs: Annotated[int, typer.Option(min=1)] = 1,
    max_steps: Annotated[int | None, typer.Option(min=1, help="Stop after this many optimizer steps.")] = None,
    batch_size: Annotated[int, typer.Option(min=1)] = 32,
    learning_rate: Annotated[float, typer.Option(min=0)] = 1e-4,
    max_tokens: Annotated[int, typer.Option(min=8, max=512)] = 64,
    seed: int = 0,
    name: Annotated[str | None, typer.Option(help="Registered model (default SENTITRADE_SENTIMENT_REGISTERED_MODEL).")] = None,
    alias: Annotated[str | None, typer.Option(help="Point this alias at the new version, e.g. `production`.")] = None,
    data_dir: DataDir = Path("data"),
):
    """Train a 3-class scorer on the training fold, report it on the held-out fold, log the run to
    MLflow and register it; then score with SENTITRADE_SENTIMENT_TRANSFORMER=models:/<name>/<version>."""
    from models.sentiment import SentimentSettings
    from models.sentiment.data import read_labeled
    from models.sentiment.finetune import FinetuneConfig
    from models.sentiment.finetune import finetune as run_finetune
    from sentitrade.settings import Settings

    if not data.is_file():
        raise UserError(f"labeled data {data} not found: give a tweets_GroundTruth.txt-style file or a CSV/Parquet with text,label")
    try:
        examples = read_labeled(data)
    except (ValueError, KeyError) as exc:
        raise UserError(f"cannot read labeled data {data}: {exc}") from exc
    settings = Settings(data_dir=data_dir)
    registered = name or SentimentSettings().registered_model
    config = FinetuneConfig(base, epochs, max_steps, batch_size, learning_rate, max_tokens, seed=seed)
    try:
        result = run_finetune(examples, config, registered, settings.tracking_uri, settings.artifact_root)
    except OSError as exc:
        reason = str(exc).splitlines()[0]
        raise UserError(f"cannot load base model {base!r} ({reason}): give a local directory or a cached hub id") from exc
    if alias:
        from mlflow import MlflowClient

        client = MlflowClient(settings.tracking_uri, registry_uri=settings.tracking_uri)
        client.set_registered_model_alias(registered, alias, result.version)
    metrics = ", ".join(f"{k} {v:.3f}" for k, v in result.metrics.items())
    typer.echo(f"trained {result.steps} steps on {data.name}; {metrics}")
    typer.echo(f"registered {result.model_uri} (run {result.run_id}); score with it:")
    typer.echo(f"  SENTITRADE_SENTIMENT_TRANSFORMER={result.model_uri if not alias else f'models:/{registered}@{alias}'}")
