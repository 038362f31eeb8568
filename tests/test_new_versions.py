"""The new-versions sensor: a version registered outside the research job (as from a notebook) is noticed,
backtested on its test span by the `backtest_version` job, and then left alone."""

from __future__ import annotations

import os
import shutil

import duckdb
import pandas as pd
import pytest
from dagster import DagsterInstance, RunRequest, SkipReason, build_sensor_context
from mlflow import MlflowClient

from models import registry, research
from models.baselines import BuyAndHold
from orchestration.definitions import build_definitions
from sentitrade.settings import Settings

MODEL = "sentitrade-signal"


@pytest.fixture
def demo_copy(signal_run, tmp_path, monkeypatch):
    """A copy of the small demo's data directory: the shared one must keep its five versions."""
    data = tmp_path / "data"
    shutil.copytree(signal_run[0], data)
    for name in [n for n in os.environ if n.startswith(("SENTITRADE_", "MLFLOW_"))]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("SENTITRADE_DATA_DIR", str(data))
    return Settings(data_dir=data)


def test_a_version_registered_by_hand_is_backtested_once(demo_copy):
    settings = demo_copy
    definitions = build_definitions(settings)
    sensor = definitions.get_sensor_def("new_versions")
    instance = DagsterInstance.from_config(str(settings.dagster_home))
    try:
        def evaluate():
            with build_sensor_context(instance=instance, resources=definitions.resources) as context:
                return sensor(context)

        assert isinstance(evaluate(), SkipReason)  # the demo backtested every version it registered

        registry.configure(settings.tracking_uri, settings.artifact_root)
        span = registry.current_test_span(MODEL)
        rows = research.prepare(_training_set(settings), settings).development
        ref = registry.register_version(BuyAndHold().fit(rows), model_name=MODEL, train=rows, test_span=span,
                                        horizon=research.label_horizon(), scorer_version="vader")
        requests = evaluate()
        assert [r.run_key for r in requests] == [f"{MODEL}-v{ref.version}"] and isinstance(requests[0], RunRequest)

        job = definitions.get_job_def("backtest_version")
        assert job.execute_in_process(run_config=requests[0].run_config, instance=instance).success
        version = MlflowClient().get_model_version(MODEL, ref.version)
        ran = MlflowClient().get_run(ref.run_id).data.metrics
        assert float(version.tags["test_return"]) == pytest.approx(ran["test_return"], rel=1e-5)
        assert version.tags["costs"] and "backtest/equity.png" in {a.path for a in MlflowClient().list_artifacts(ref.run_id, "backtest")}
        assert isinstance(evaluate(), SkipReason)
    finally:
        instance.dispose()


def _training_set(settings: Settings) -> pd.DataFrame:
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        return con.sql("select * from main.training_set").df()
