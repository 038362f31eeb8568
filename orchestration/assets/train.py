"""Train and backtest assets, one pair per model kind, each version tracked in MLflow."""

from datetime import timedelta

import pandas as pd
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetIn,
    AssetKey,
    MetadataValue,
    Output,
    asset,
)

from models import registry
from models.backtest import plot_equity, run_backtest
from models.engine import MarketInfo
from models.features import dbt_vars
from models.train import MODEL_KINDS, evaluate, fit, walk_forward_split
from orchestration.resources import LakeResource, MlflowResource, WarehouseResource
from sentitrade.settings import Settings

TRAINING_SET = AssetKey("training_set")
FEATURES = AssetKey("features")


def label_horizon() -> timedelta:
    return timedelta(minutes=dbt_vars()["horizon_minutes"])


def market_infos(lake: LakeResource) -> dict[str, MarketInfo]:
    return MarketInfo.by_name(lake.get().read("markets").to_pylist())


def _model_asset(kind: str):
    name = f"{kind}_model"

    @asset(
        name=name,
        deps=[TRAINING_SET],
        group_name="train",
        kinds={kind, "mlflow"},
        check_specs=[AssetCheckSpec("holdout_auc_above_floor", asset=name, description="Ranks better than the promotion floor on unseen days.")],
    )
    def model(context: AssetExecutionContext, warehouse: WarehouseResource, mlflow: MlflowResource):
        """Fit on the walk-forward training span, evaluate on the later held-out days, register a version."""
        split = walk_forward_split(warehouse.table("training_set"), mlflow.holdout_days, label_horizon())
        estimator = fit(kind, split.train)
        metrics = evaluate(estimator, split.holdout)
        extra = {"label_horizon_minutes": dbt_vars()["horizon_minutes"]}
        ref = registry.log_and_register(kind, estimator, split, metrics, mlflow.model_name, extra)
        context.log.info(f"{kind}: holdout AUC {metrics['auc']:.3f}, registered {ref.name} v{ref.version}")
        yield Output(
            {"ref": ref, "holdout": metrics},
            metadata={
                "model_version": ref.version,
                "run_id": ref.run_id,
                "holdout_auc": metrics["auc"],
                "holdout_rows": metrics["n_rows"],
                "holdout_start": split.holdout_start.isoformat(),
            },
        )
        yield AssetCheckResult(
            check_name="holdout_auc_above_floor",
            passed=bool(metrics["auc"] >= mlflow.min_holdout_auc),
            severity=AssetCheckSeverity.WARN,
            metadata={"holdout_auc": metrics["auc"], "floor": mlflow.min_holdout_auc},
        )

    return model


def _backtest_asset(kind: str):
    @asset(name=f"{kind}_backtest", ins={"trained": AssetIn(f"{kind}_model")}, deps=[FEATURES], group_name="backtest", kinds={"mlflow"})
    def backtest(context: AssetExecutionContext, trained: dict, warehouse: WarehouseResource, lake: LakeResource, mlflow: MlflowResource) -> Output:
        """Trade the held-out days with this version: same strategy, risk rules and costs as the trader."""
        ref = trained["ref"]
        loaded = registry.load_version(mlflow.model_name, ref.version)
        frame = decision_frame(warehouse.table("features"), loaded)
        result = run_backtest(frame, market_infos(lake), Settings())
        png = plot_equity(result, Settings().data_dir / "reports" / f"{kind}-v{ref.version}-equity.png", f"{kind} v{ref.version}: held-out backtest")
        registry.log_backtest(ref.run_id, result.metrics, png)
        metrics = result.metrics
        context.log.info(f"{kind} v{ref.version}: return {metrics['total_return']:+.2%}, Sharpe {metrics['sharpe']:.2f}")
        candidate = registry.Candidate(ref.version, trained["holdout"]["auc"], metrics["sharpe"], metrics["total_return"])
        return Output(
            {"candidate": candidate, "metrics": metrics, "equity_png": str(png), "kind": kind},
            metadata={**{k: float(v) for k, v in metrics.items()}, "equity_curve": MetadataValue.path(str(png))},
        )

    return backtest


def decision_frame(features: pd.DataFrame, loaded: registry.ChampionModel) -> pd.DataFrame:
    """The held-out feature rows with the model's P(up): what the backtest decides on."""
    span = features[(features["ts"] >= loaded.holdout_start) & (features["ts"] < loaded.holdout_end)].copy()
    span["p_up"] = loaded.predict_proba(span)
    return span[["market", "ts", "p_up", "n_tweets_1h", "price"]]


model_assets = [_model_asset(kind) for kind in MODEL_KINDS]
backtest_assets = [_backtest_asset(kind) for kind in MODEL_KINDS]
