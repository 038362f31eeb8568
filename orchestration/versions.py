"""Every registered version gets a backtest: a sensor watches the registry for versions without test-span
evidence (registered from a notebook, or by a research run that failed before its backtest) and runs
`backtest_version` on each, through the same engine, costs and MLflow files as the research job's
backtest assets. Versions the research job registered are left to its own backtest asset while its run
is still going."""

import tempfile
from pathlib import Path

from dagster import (
    Config,
    DefaultSensorStatus,
    OpExecutionContext,
    RunRequest,
    SensorEvaluationContext,
    SkipReason,
    job,
    op,
    sensor,
)

from models import registry, research
from models.backtest import plot_equity
from models.ingest.imports import stored_resolutions
from orchestration.assets.train import DAGSTER_RUN_TAG, backtest_files, market_infos
from orchestration.resources import LakeResource, MlflowResource, WarehouseResource
from sentitrade.settings import Settings


class VersionToBacktest(Config):
    version: str


@op
def backtest_registered_version(context: OpExecutionContext, config: VersionToBacktest, warehouse: WarehouseResource,
                                lake: LakeResource, mlflow: MlflowResource) -> None:
    """Backtest one version on its own test span at costs x0, x1, x2, and attach the figures and files to its run."""
    settings = Settings()
    loaded = registry.load_version(mlflow.model_name, config.version)
    test = research.test_decisions(loaded.predict_proba, warehouse.table("features"), (loaded.holdout_start, loaded.holdout_end))
    result, costs = research.backtest_test_span(test, market_infos(lake), warehouse.table("stg_prices"), settings,
                                                stored_resolutions(lake.get()))
    metrics = research.span_metrics(result, "test")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        png = plot_equity(result, folder / "equity.png", f"{loaded.kind} v{loaded.version}: untouched test span")
        registry.log_evaluation(loaded.run_id, metrics, backtest_files(result, costs, png, folder), settings=settings)
    context.log.info(f"{loaded.kind} v{loaded.version}: test return {metrics['test_return']:+.2%} over {len(test):,} decisions")


@job(description="Backtest one registered version on its test span (the new-versions sensor runs it for every version without one).")
def backtest_version():
    backtest_registered_version()


def _still_running(context: SensorEvaluationContext, tags: dict[str, str]) -> bool:
    run = context.instance.get_run_by_id(tags[DAGSTER_RUN_TAG]) if DAGSTER_RUN_TAG in tags else None
    return run is not None and not run.is_finished


def new_versions_sensor(default_status: DefaultSensorStatus):
    @sensor(job=backtest_version, minimum_interval_seconds=60, default_status=default_status,
            description="Backtest every registered version that has no test-span backtest yet.")
    def new_versions(context: SensorEvaluationContext, mlflow: MlflowResource):
        waiting = [(v, tags) for v, tags in registry.versions_without_backtest(mlflow.model_name) if not _still_running(context, tags)]
        if not waiting:
            return SkipReason(f"every version of {mlflow.model_name} has a backtest (or its research run is still going)")
        return [RunRequest(run_key=f"{mlflow.model_name}-v{version}",  # one backtest per version, whatever the ticks
                           run_config={"ops": {"backtest_registered_version": {"config": {"version": version}}}})
                for version, _ in waiting]

    return new_versions
