"""Promotion: `champion` goes to the learned version that beats every baseline on the validation folds."""

from dagster import AssetCheckResult, AssetCheckSpec, AssetExecutionContext, MetadataValue, Output, asset

from models import promote, registry
from orchestration.assets.train import backtest_assets
from orchestration.resources import MlflowResource
from sentitrade.settings import Settings


@asset(
    group_name="promote",
    kinds={"mlflow"},
    deps=backtest_assets,
    check_specs=[AssetCheckSpec("champion_alias_resolves", asset="promotion", description="`models:/<name>@champion` points at a version.")],
)
def promotion(context: AssetExecutionContext, mlflow: MlflowResource):
    """The same rule as `sentitrade promote --best`: the validation metric decides, the test span never does."""
    metric = Settings().research.promotion_metric
    before = registry.champion_version(mlflow.model_name)
    choice = promote.promote_best(mlflow.model_name, metric, mlflow.min_holdout_auc)
    if choice.champion is None:
        context.log.warning(f"no learned version beat every baseline on {metric} with validation AUC >= {mlflow.min_holdout_auc}; "
                            f"champion left at {before or 'none'}")
    current = registry.champion_version(mlflow.model_name)
    reasons = "\n".join(f"| v{v} | {why} |" for v, why in sorted(choice.reasons.items(), key=lambda kv: int(kv[0])))
    yield Output(
        {"champion_version": choice.champion, "reasons": choice.reasons, "margins": choice.margins, "current": current},
        metadata={"promoted": choice.champion or "none", "champion_version": current or "none", "metric": metric,
                  "floor_auc": mlflow.min_holdout_auc, "verdicts": MetadataValue.md(f"| version | verdict |\n|---|---|\n{reasons}")},
    )
    yield AssetCheckResult(passed=current is not None, metadata={"champion_version": current or "none"})
