"""Passwords in the ledger and MLflow URLs never leave the process: not in what the CLI and the demo
print, not in log records, not in what Dagster stores for a run (its config, snapshots, event log)."""

import base64
import logging
import os
import sys
from pathlib import Path

import pandas as pd
import pytest
from dagster import AssetExecutionContext, DagsterInstance, Definitions, asset, define_asset_job, serialize_value
from rich.console import Console

from orchestration.resources import MlflowResource
from sentitrade.redact import RedactingFilter, redact
from tests.conftest import run_cli

PASSWORD = "pa55-w0rd-7d1e"


@pytest.mark.parametrize(
    "text, expected",
    [
        ("postgresql+psycopg://u:pa55@db.internal:5432/ledger", "postgresql+psycopg://u:***@db.internal:5432/ledger"),
        ("http://mlflow:pa55@tracking:5000", "http://mlflow:***@tracking:5000"),
        ("https://u:p%40ss@host/api?x=1", "https://u:***@host/api?x=1"),
        ("s3://AKIAKEY:wJal/rXUt+nFEMI@bucket/artifacts", "s3://AKIAKEY:***@bucket/artifacts"),
        ("postgresql://u:p@ss@host/db", "postgresql://u:***@host/db"),  # an unescaped "@" is masked whole
        ("redis://:pa55@cache:6379/0", "redis://:***@cache:6379/0"),
        ("mysql+pymysql://u@host/db?password=pa55&charset=utf8", "mysql+pymysql://u@host/db?password=***&charset=utf8"),
        ("ledger at postgresql://u:pa55@h/db, MLflow at http://m:pa55@t:5000.", "ledger at postgresql://u:***@h/db, MLflow at http://m:***@t:5000."),
        ("sqlite:////data/ledger.db", "sqlite:////data/ledger.db"),
        ("http://localhost:5000/#/experiments/1", "http://localhost:5000/#/experiments/1"),
        ("postgresql://u@host/db", "postgresql://u@host/db"),
        ("no URL: ratio 3:2 at user@example.com", "no URL: ratio 3:2 at user@example.com"),
    ],
)
def test_redact_masks_only_passwords(text, expected):
    assert redact(text) == expected


def test_redacting_filter_masks_messages_arguments_and_tracebacks():
    records: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: records.append(handler.format(record))
    handler.setFormatter(logging.Formatter("%(message)s"))
    handler.addFilter(RedactingFilter())
    log = logging.getLogger("tests.secrets.child")
    logging.getLogger("tests.secrets").addHandler(handler)  # a child's record, propagated: the handler's filter sees it
    try:
        log.warning("ledger %s unreachable", f"postgresql+psycopg://u:{PASSWORD}@db/ledger")
        try:
            raise ConnectionError(f"API request to http://u:{PASSWORD}@mlflow:5000/api failed")
        except ConnectionError:
            log.exception("MLflow failed")
    finally:
        logging.getLogger("tests.secrets").removeHandler(handler)
    assert records[0] == "ledger postgresql+psycopg://u:***@db/ledger unreachable"
    assert "http://u:***@mlflow:5000/api" in records[1] and "Traceback" in records[1]
    assert not any(PASSWORD in r for r in records)


def test_demo_report_and_ui_commands_hide_passwords(tmp_path):
    from sentitrade.demo import print_report
    from sentitrade.settings import Settings

    settings = Settings(data_dir=tmp_path, ledger_url=f"postgresql+psycopg://u:{PASSWORD}@db/ledger", mlflow_tracking_uri=f"http://u:{PASSWORD}@mlflow:5000")
    test = {"total_return": 0.1, "sharpe_daily": None, "sharpe_note": "too short: 2 days < 30", "max_drawdown": 0.05,
            "n_trades": 3, "hit_rate": 0.5}
    model = {"validation_auc_mean": 0.6, "validation_auc_std": 0.01, "test_auc": 0.6}
    costs = pd.DataFrame({"scale": [0.0, 1.0, 2.0], "total_return": [0.2, 0.1, 0.0]})
    values = {f"{kind}_backtest": {"kind": kind, "version": str(i), "baseline": kind != "xgboost", "model": model, "test": test,
                                   "metrics": {"validation_return": 0.1}, "cost_sensitivity": costs}
              for i, kind in enumerate(("xgboost", "buy_and_hold"), start=1)}
    values["promotion"] = {"reasons": {"1": "promotable", "2": "baseline"}}
    console = Console(record=True, width=200)
    print_report(console, settings, values, {"champion_version": "1", "paper_pnl": 1.0, "fills": 3, "equity_png": None})
    text = console.export_text()
    assert PASSWORD not in text
    assert "ledger postgresql+psycopg://u:***@db/ledger" in text and "MLflow UI:  http://u:***@mlflow:5000" in text
    store = Settings(data_dir=tmp_path, mlflow_tracking_uri=f"postgresql://u:{PASSWORD}@db/mlflow")
    console = Console(record=True, width=200)
    print_report(console, store, values, {"champion_version": "1", "paper_pnl": None, "fills": 0, "equity_png": None})
    assert '--backend-store-uri "$SENTITRADE_MLFLOW_TRACKING_URI"' in console.export_text()


def test_cli_failure_against_unreachable_stores_hides_passwords(tmp_path):
    assert run_cli("replay", "generate", "--days", "3", "--tweets-per-day", "200", "--data-dir", str(tmp_path)).returncode == 0
    env = {
        "SENTITRADE_LEDGER_URL": f"postgresql+psycopg://u:{PASSWORD}@127.0.0.1:9/ledger",
        "SENTITRADE_MLFLOW_TRACKING_URI": f"http://u:{PASSWORD}@127.0.0.1:9",
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
    }
    result = run_cli("trade", "--data-dir", str(tmp_path), env=env, timeout=120)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "SENTITRADE_MLFLOW_TRACKING_URI" in result.stderr and "http://u:***@127.0.0.1:9" in result.stderr
    assert PASSWORD not in result.stdout + result.stderr


def test_an_unexpected_error_prints_its_traceback_with_passwords_masked(monkeypatch, capsys):
    from sentitrade import cli

    def fails(**_):
        raise RuntimeError(f"cannot reach postgresql://u:{PASSWORD}@db/ledger")

    monkeypatch.setattr(cli, "_mount_commands", lambda: None)
    monkeypatch.setattr(cli, "app", fails)
    with pytest.raises(SystemExit) as exit:
        cli.main()
    err = capsys.readouterr().err
    assert exit.value.code == 1 and "Traceback" in err and "postgresql://u:***@db/ledger" in err
    assert PASSWORD not in err


@asset
def tracking_probe(context: AssetExecutionContext, mlflow: MlflowResource) -> None:
    """Needs the MLflow resource, so its config is part of the run; logs the URI the way code should."""
    context.log.info(f"tracking runs at {redact(mlflow.tracking_uri)}")


def _stored_run(instance: DagsterInstance, run_id: str) -> str:
    """Everything Dagster keeps for a run: its record and config, its job and plan snapshots, its events."""
    run = instance.get_run_by_id(run_id)
    parts = [serialize_value(run), str(run.run_config), serialize_value(instance.get_job_snapshot(run.job_snapshot_id)),
             serialize_value(instance.get_execution_plan_snapshot(run.execution_plan_snapshot_id))]
    return "\n".join(parts + [serialize_value(event) for event in instance.all_logs(run_id)])


def _run_probe(httpserver, monkeypatch, tmp_path: Path) -> tuple[bool, str, Path]:
    """Build the code location's Definitions with a password in SENTITRADE_MLFLOW_TRACKING_URI and run a job
    on its MLflow resource against a temporary instance; returns its success, what the instance stores, its home."""
    from orchestration.definitions import build_definitions
    from sentitrade.settings import Settings

    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")  # the dbt resource wants dbt on PATH
    monkeypatch.setenv("SENTITRADE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("SENTITRADE_MLFLOW_TRACKING_URI", f"http://u:{PASSWORD}@{httpserver.host}:{httpserver.port}")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    defs = Definitions.merge(build_definitions(Settings()), Definitions(assets=[tracking_probe], jobs=[define_asset_job("probe", [tracking_probe])]))
    home = tmp_path / "dagster"
    home.mkdir()
    with DagsterInstance.local_temp(str(home)) as instance:
        result = defs.resolve_job_def("probe").execute_in_process(instance=instance, raise_on_error=False)
        return result.success, _stored_run(instance, result.run_id), home


def _assert_nowhere(stored: str, home: Path) -> None:
    assert PASSWORD not in stored
    assert "SENTITRADE_MLFLOW_TRACKING_URI" in stored  # the variable's name is what the config holds
    for path in home.rglob("*"):
        assert not path.is_file() or PASSWORD.encode() not in path.read_bytes(), path


def test_dagster_stores_the_variable_name_and_resolves_the_secret_only_at_run_time(httpserver, monkeypatch, tmp_path):
    experiment = {"experiment": {"experiment_id": "1", "name": "sentitrade", "artifact_location": str(tmp_path), "lifecycle_stage": "active"}}
    httpserver.expect_request("/api/2.0/mlflow/experiments/get-by-name").respond_with_json(experiment)
    httpserver.expect_request("/api/2.0/mlflow/experiments/get").respond_with_json(experiment)
    success, stored, home = _run_probe(httpserver, monkeypatch, tmp_path)
    _assert_nowhere(stored, home)
    assert success and "tracking runs at http://u:***@" in stored
    basic = "Basic " + base64.b64encode(f"u:{PASSWORD}".encode()).decode()
    assert {request.headers.get("Authorization") for request, _ in httpserver.log} == {basic}  # the run did use the secret


def test_dagster_event_log_of_a_failed_mlflow_connection_hides_the_password(httpserver, monkeypatch, tmp_path):
    httpserver.expect_request("/api/2.0/mlflow/experiments/get-by-name").respond_with_data("down", status=503)
    success, stored, home = _run_probe(httpserver, monkeypatch, tmp_path)
    _assert_nowhere(stored, home)
    assert not success and "MLflow at http://u:***@" in stored
