"""Train and backtest assets, one pair per kind: the learned models and the baselines they must beat, alike.

Each asset is a thin call into `models.research`; what it logs to MLflow is what promotion reads.
"""

import tempfile
from pathlib import Path

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

from models import registry, research
from models.backtest import BacktestResult, plot_equity
from models.engine import MarketInfo
from models.ingest.imports import stored_resolutions
from models.sentiment import scorer_version
from models.train import feature_importances, plot_calibration
from orchestration.resources import LakeResource, MlflowResource, WarehouseResource
from sentitrade.settings import Settings

TRAINING_SET = AssetKey("training_set")
FEATURES = AssetKey("features")
PRICES = AssetKey("stg_prices")
DAGSTER_RUN_TAG = "dagster_run_id"  # on each version a model asset registers: the new-versions sensor waits for its run


def market_infos(lake: LakeResource) -> dict[str, MarketInfo]:
    return MarketInfo.by_name(lake.get().read("markets").to_pylist())


def _evaluation_files(trained: research.Trained, validation: pd.DataFrame, data: research.ResearchData, folder: Path) -> dict[str, Path]:
    """The per-fold table, the calibration curve of the out-of-fold predictions and the feature importances."""
    files = {"evaluation/folds.csv": folder / "folds.csv", "evaluation/feature_importances.csv": folder / "importances.csv"}
    trained.cv.metrics.to_csv(files["evaluation/folds.csv"], index=False)
    feature_importances(trained.estimator).to_csv(files["evaluation/feature_importances.csv"], index=False)
    scored = data.development.merge(validation[["market", "ts", "p_up"]], on=["market", "ts"])
    if len(scored):
        files["evaluation/calibration.png"] = plot_calibration(
            scored["label"].to_numpy(), scored["p_up"].to_numpy(), folder / "calibration.png",
            f"{trained.kind}: out-of-fold calibration on {len(trained.cv.folds)} validation fold(s)")
    return files


def _model_asset(kind: str):
    name = f"{kind}_model"
    baseline = kind in research.BASELINE_KINDS

    @asset(
        name=name,
        deps=[TRAINING_SET, FEATURES],
        group_name="baselines" if baseline else "train",
        kinds={"mlflow", "baseline" if baseline else kind},
        check_specs=[AssetCheckSpec("validation_auc_above_floor", asset=name, description="Ranks better than the promotion floor on the validation folds.")],
    )
    def model(context: AssetExecutionContext, warehouse: WarehouseResource, mlflow: MlflowResource):
        """Walk-forward validate on the folds, refit on the development span, score the test span once, register a version."""
        settings = Settings()
        data = research.prepare(warehouse.table("training_set"), settings)
        trained = research.train(kind, data, settings)
        validation = research.validation_decisions(trained, warehouse.table("features"))
        summary = {f"validation_{k}": v for k, v in trained.cv.summary.items()}
        metrics = {**summary, **{f"test_{k}": v for k, v in trained.test_metrics.items()}}
        with tempfile.TemporaryDirectory() as tmp:
            ref = registry.register_version(
                trained.estimator, model_name=mlflow.model_name, train=data.development, test_span=data.test_span,
                horizon=research.label_horizon(), scorer_version=scorer_version(), metrics=metrics,
                artifacts=_evaluation_files(trained, validation, data, Path(tmp)), tags={DAGSTER_RUN_TAG: context.run_id},
            )
        auc = summary["validation_auc_mean"]
        context.log.info(f"{kind}: validation AUC {auc:.3f} ± {summary['validation_auc_std']:.3f} over {len(data.folds)} folds, "
                         f"registered {ref.name} v{ref.version}")
        yield Output(
            {"ref": ref, "validation": validation, "metrics": metrics, "folds": trained.cv.metrics, "baseline": baseline,
             "test_span": data.test_span},
            metadata={
                "model_version": ref.version,
                "run_id": ref.run_id,
                "validation_auc_mean": auc,
                "validation_auc_std": summary["validation_auc_std"],
                "test_auc": trained.test_metrics["auc"],
                "test_span": registry.span_text(data.test_span),
                "folds": MetadataValue.md(trained.cv.metrics.to_markdown(index=False, floatfmt=".4g")),
            },
        )
        yield AssetCheckResult(
            check_name="validation_auc_above_floor",
            passed=bool(baseline or auc >= mlflow.min_holdout_auc),
            severity=AssetCheckSeverity.WARN,
            metadata={"validation_auc_mean": auc, "floor": mlflow.min_holdout_auc},
        )

    return model


def backtest_files(test: BacktestResult, costs: pd.DataFrame, equity_png: Path, folder: Path) -> dict[str, Path]:
    """A version's backtest files under the names MLflow keeps them by: the equity curve, its trades, the cost table."""
    files = {"backtest/equity.png": equity_png, "backtest/trades.csv": folder / "trades.csv",
             "backtest/cost_sensitivity.csv": folder / "costs.csv"}
    test.fills.to_csv(files["backtest/trades.csv"], index=False)
    costs.to_csv(files["backtest/cost_sensitivity.csv"], index=False)
    return files


def _backtest_asset(kind: str):
    @asset(name=f"{kind}_backtest", ins={"trained": AssetIn(f"{kind}_model")}, deps=[FEATURES, PRICES],
           group_name="backtest", kinds={"mlflow"})
    def backtest(context: AssetExecutionContext, trained: dict, warehouse: WarehouseResource, lake: LakeResource, mlflow: MlflowResource) -> Output:
        """Backtest the out-of-fold validation decisions and the registered version on the test span: the trader's engine and costs,
        settling at 1 or 0 each market the resolutions table says resolved (imported by `sentitrade ingest resolutions`)."""
        settings = Settings()
        ref = trained["ref"]
        loaded = registry.load_version(mlflow.model_name, ref.version)
        test = research.test_decisions(loaded.predict_proba, warehouse.table("features"), (loaded.holdout_start, loaded.holdout_end))
        runs = research.backtest(trained["validation"], test, market_infos(lake), warehouse.table("stg_prices"), settings,
                                 resolutions=stored_resolutions(lake.get()))
        metrics = runs.metrics()
        png = plot_equity(runs.test, settings.data_dir / "reports" / f"{kind}-v{ref.version}-test-equity.png", f"{kind} v{ref.version}: untouched test span")
        with tempfile.TemporaryDirectory() as tmp:
            registry.log_evaluation(ref.run_id, metrics, backtest_files(runs.test, runs.cost_sensitivity, png, Path(tmp)), settings=settings)
        context.log.info(f"{kind} v{ref.version}: validation return {metrics['validation_return']:+.2%}, test return {metrics['test_return']:+.2%}")
        return Output(
            {"kind": kind, "version": ref.version, "baseline": trained["baseline"], "metrics": metrics,
             "validation": runs.validation.metrics, "test": runs.test.metrics,
             "cost_sensitivity": runs.cost_sensitivity, "model": trained["metrics"], "equity_png": str(png)},
            metadata={**metrics, "model_version": ref.version, "run_id": ref.run_id, "equity_curve": MetadataValue.path(str(png)),
                      "cost_sensitivity": MetadataValue.md(runs.cost_sensitivity.to_markdown(index=False, floatfmt=".4g"))},
        )

    return backtest


model_assets = [_model_asset(kind) for kind in research.KINDS]
backtest_assets = [_backtest_asset(kind) for kind in research.KINDS]
