"""Promotion: the `champion` alias goes to the version with the better held-out backtest."""

from dagster import AssetCheckResult, AssetCheckSpec, AssetExecutionContext, Output, asset

from models import registry
from orchestration.resources import MlflowResource


@asset(
    group_name="promote",
    kinds={"mlflow"},
    check_specs=[AssetCheckSpec("champion_alias_resolves", asset="promotion", description="`models:/<name>@champion` points at a version.")],
)
def promotion(context: AssetExecutionContext, mlflow: MlflowResource, xgboost_backtest: dict, lightgbm_backtest: dict):
    """Among versions whose holdout AUC clears the floor, alias the best backtest (Sharpe, then return) `champion`."""
    candidates = [bt["candidate"] for bt in (xgboost_backtest, lightgbm_backtest)]
    champion = registry.promote(mlflow.model_name, candidates, mlflow.min_holdout_auc)
    if champion is None:
        context.log.warning(f"no version reached holdout AUC {mlflow.min_holdout_auc}; champion left unchanged")
    yield Output(
        {"champion_version": champion, "candidates": candidates},
        metadata={"champion_version": champion or "none", "floor_auc": mlflow.min_holdout_auc},
    )
    current = registry.champion_version(mlflow.model_name)
    yield AssetCheckResult(passed=current is not None, metadata={"champion_version": current or "none"})
