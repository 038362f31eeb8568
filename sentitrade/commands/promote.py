"""`sentitrade promote`: move the `champion` alias by hand, by the promotion rule, or back; list the evidence."""

from __future__ import annotations

import math
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from sentitrade.commands.common import DataDir, UserError


class Metric(StrEnum):
    validation_return = "validation_return"
    validation_sharpe_daily = "validation_sharpe_daily"


def promote(
    version: Annotated[str | None, typer.Argument(help="Make this version champion (it needs a backtest on the current test span).")] = None,
    best: Annotated[bool, typer.Option("--best", help="Apply the promotion rule to every version's recorded evidence.")] = False,
    metric: Annotated[Metric | None, typer.Option(help="With --best: what ranks versions on the validation folds (default: SENTITRADE_RESEARCH_PROMOTION_METRIC).")] = None,
    rollback: Annotated[bool, typer.Option("--rollback", help="Swap `champion` and `previous` (run twice: back where you were).")] = False,
    list_: Annotated[bool, typer.Option("--list", help="A table of versions: kind, aliases, evidence, promotable or why not.")] = False,
    model_name: Annotated[str | None, typer.Option(help="Registered model (default: SENTITRADE_MODEL_NAME).")] = None,
    data_dir: DataDir = Path("data"),
):
    """Choose the version the trader runs (`models:/<name>@champion`); the one it replaces becomes `previous`.

    --best promotes the learned version with the highest validation metric (the out-of-fold walk-forward backtest across the validation folds), if its mean validation AUC reaches SENTITRADE_MIN_HOLDOUT_AUC and it beats every baseline (the sentiment rule, buy-and-hold, the one-feature logistic) on that metric; otherwise the champion stays. The test span's return is shown, never used to decide. A running trader picks up the new champion at its next registry poll.

    Examples: `sentitrade promote --list`, `sentitrade promote 7`, `sentitrade promote --best`, `sentitrade promote --rollback`.
    """
    chosen = [name for name, given in (("VERSION", version is not None), ("--best", best), ("--rollback", rollback), ("--list", list_)) if given]
    if len(chosen) != 1:
        raise UserError("give exactly one of VERSION, --best, --rollback or --list (see `sentitrade promote --help`)")
    if metric is not None and not best:
        raise UserError("--metric applies only with --best")
    from sentitrade.cli import _use_data_dir

    settings = _use_data_dir(data_dir)
    name = model_name or settings.model_name
    from models import promote as promotion
    from models import registry

    store = settings.tracking_uri
    if store.startswith("sqlite:///") and not Path(store.removeprefix("sqlite:///").split("?")[0]).is_file():
        raise UserError(f"no MLflow registry under {settings.mlflow_dir}: run `sentitrade demo --data-dir {data_dir}` first, or set SENTITRADE_MLFLOW_TRACKING_URI")
    registry.configure(store, settings.artifact_root)
    found = promotion.candidates(name)
    if not found:
        raise UserError(f"registered model {name!r} has no versions: train and register some first (`sentitrade demo`), or pass --model-name")
    try:
        if list_:
            _print_table(name, found, settings.research.promotion_metric, settings.min_holdout_auc)
        elif best:
            _promote_best(name, (metric or settings.research.promotion_metric), settings.min_holdout_auc)
        elif rollback:
            former = registry.champion_version(name)
            typer.echo(f"champion: v{promotion.rollback(name)} (rolled back from v{former}; run --rollback again to undo)")
        else:
            former = promotion.promote(name, version)
            undo = f"; `sentitrade promote --rollback` brings back v{former}" if former else ""
            typer.echo(f"champion: v{version}{undo}")
    except promotion.PromotionError as exc:
        raise UserError(str(exc)) from None


def _promote_best(name: str, metric: str, min_auc: float) -> None:
    from models import promote as promotion
    from models import registry

    former = registry.champion_version(name)
    choice = promotion.promote_best(name, metric, min_auc)
    for version, reason in choice.reasons.items():
        typer.echo(f"v{version}: {reason}")
    if choice.champion is None:
        typer.echo(f"no version qualifies on {metric}; champion stays {f'v{former}' if former else 'unset'}")
    elif choice.champion == former:
        typer.echo(f"champion: v{former} (unchanged)")
    else:
        typer.echo(f"champion: v{choice.champion}" + (f" (was v{former}; `sentitrade promote --rollback` undoes it)" if former else ""))


def _print_table(name: str, found: list, metric: str, min_auc: float) -> None:
    """One row a version; the verdict is worked out now, on the current test span and the configured metric."""
    from models import promote as promotion
    from models import registry

    choice = promotion.choose(found, metric, min_auc, registry.current_test_span(name))
    by_version: dict[str, list[str]] = {}
    for alias, version in registry.aliases(name).items():
        by_version.setdefault(version, []).append(alias)

    def number(x: float, fmt: str) -> str:
        return "-" if math.isnan(x) else format(x, fmt)

    header = f"{'version':>7}  {'kind':<20} {'aliases':<18} {'val AUC':>7} {'val return':>10} {'test return':>11} {'margin':>8}  verdict"
    typer.echo(f"{name}: promotion metric {metric}, AUC floor {min_auc:g}")
    typer.echo(header)
    for c in found:
        typer.echo(
            f"{'v' + c.version:>7}  {c.kind:<20} {','.join(sorted(by_version.get(c.version, []))) or '-':<18} "
            f"{number(c.validation_auc, '.3f'):>7} {number(c.validation_return, '+.2%'):>10} "
            f"{number(c.test_return, '+.2%'):>11} {number(choice.margins.get(c.version, math.nan), '+.4f'):>8}  "
            f"{choice.reasons[c.version]}"
        )
