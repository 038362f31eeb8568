"""The main job: replay data -> every Dagster asset -> paper trader -> report, on embedded stores.

It runs the code location's own jobs (`daily_ingest` per day, then `research`) against a real
Dagster instance in DATA_DIR/dagster, so `dagster dev` opened on it afterwards shows every asset
materialized, and MLflow's UI shows the runs, the registered versions and the champion.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import time
from dataclasses import dataclass
from datetime import date, timedelta

import pandas as pd
from rich.console import Console
from rich.table import Table

from connectors.replay import ReplayConfig, generate_replay
from sentitrade.commands.common import UserError
from sentitrade.redact import redact
from sentitrade.settings import Settings

QUIET_LOGS = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


@dataclass(frozen=True)
class DemoOptions:
    seed: int = 7
    markets: int = 2
    days: int = 7
    tweets_per_day: int = 7200
    signal: bool = True


class DemoError(RuntimeError):
    """A stage failed; the message names it and where to look."""


def prepare_dagster_home(settings: Settings):
    """A real Dagster instance under DATA_DIR/dagster (SQLite storage), without telemetry."""
    home = settings.dagster_home
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        config.write_text("telemetry:\n  enabled: false\n")
    os.environ["DAGSTER_HOME"] = str(home)
    from dagster import DagsterInstance

    return DagsterInstance.get()


def _run_job(defs, name: str, instance, hint: str = "", **kwargs):
    """Execute one of the code location's jobs in process; a failure names its steps and the run."""
    result = defs.resolve_job_def(name).execute_in_process(instance=instance, run_config=QUIET_LOGS, raise_on_error=False, **kwargs)
    if not result.success:
        failed = ", ".join(e.step_key for e in result.all_events if e.is_step_failure) or "an asset check"
        where = f" for {kwargs['partition_key']}" if "partition_key" in kwargs else ""
        raise DemoError(f"{name}{where} failed at {failed}: see {hint}run {result.run_id} in the Dagster UI (make ui)")
    return result


def materialize_all(settings: Settings, days: list[date], console: Console, started: float) -> dict:
    """Run `discover_markets`, `daily_ingest` for each day, then `research`; return research's asset values by key."""
    from orchestration.definitions import build_definitions

    instance = prepare_dagster_home(settings)
    defs = build_definitions(settings)
    _run_job(defs, "discover_markets", instance)
    for day in days:
        _run_job(defs, "daily_ingest", instance, partition_key=day.isoformat())
    console.print(f"[2/4] ingest + score: {len(days)} daily partitions of raw_tweets, scored_tweets, price_history ({time.perf_counter() - started:.0f} s)")
    return run_research_job(settings, defs, instance, console, started)


def run_research_job(settings: Settings, defs, instance, console: Console, started: float, stage: str = "[3/4]") -> dict:
    """The `research` job (dbt features and labels, every version trained, backtested, promotion); its asset values by key."""
    from dagster import AssetKey

    from models.research import KINDS

    log = settings.data_dir / "logs" / "research.log"
    log.parent.mkdir(exist_ok=True)
    with log.open("w") as sink, contextlib.redirect_stdout(sink):  # dbt's own progress lines go to the log
        research = _run_job(defs, "research", instance, hint=f"{log} and ")
    console.print(f"{stage} dbt features + net-of-cost labels; {len(KINDS)} versions (2 learned, {len(KINDS) - 2} baselines) walk-forward "
                  f"validated, backtested, promotion decided ({time.perf_counter() - started:.0f} s)")
    keys = [f"{kind}_{stage}" for kind in KINDS for stage in ("model", "backtest")] + ["promotion"]
    return {key: research.asset_value(AssetKey(key)) for key in keys}


def run_research(settings: Settings) -> dict:
    """`sentitrade research`: the demo's path on whatever the lake holds (imports, a backfill, the stream),
    no replay generated and no tweet or price source asked: each day of tweets is scored, then the research
    job runs. Prints the demo's report; the last line is its JSON object."""
    from connectors.lake import Lake
    from orchestration.definitions import build_definitions

    console = Console(width=max(110, shutil.get_terminal_size().columns))
    started = time.perf_counter()
    lake = Lake(settings.lake_dir)
    days = lake.days("raw_tweets")
    for table, how in (("raw_tweets", "tweets (`sentitrade ingest tweets --from FILE`)"), ("markets", "markets (`sentitrade ingest markets --from FILE`)"),
                       ("price_history", "prices (`sentitrade ingest prices --from FILE --market SLUG`)")):
        if not (lake.days(table) if table != "markets" else lake.exists(table)):
            raise UserError(f"the lake at {settings.lake_dir} holds no {table}: import your {how} first")
    research = settings.research
    needed = settings.holdout_days + research.folds * research.validation_days + 1
    if len(days) < needed:
        raise UserError(f"the lake holds {len(days)} days of tweets; the {settings.holdout_days} test days, {research.folds} validation "
                        f"fold(s) and 1 day to train on need {needed}: import more days (or lower SENTITRADE_HOLDOUT_DAYS, SENTITRADE_RESEARCH_FOLDS)")
    instance = prepare_dagster_home(settings)
    defs = build_definitions(settings)
    for day in days:
        _run_job(defs, "score_tweets", instance, partition_key=day.isoformat())
    console.print(f"[1/2] score: {len(days)} daily partitions of scored_tweets, {days[0]} to {days[-1]} ({time.perf_counter() - started:.0f} s)")
    values = run_research_job(settings, defs, instance, console, started, stage="[2/2]")
    report = build_report(values, None, time.perf_counter() - started)
    print_report(console, settings, values, report, "sentitrade research: learned models against the baselines (the lake's data)")
    print(json.dumps(report))
    return report


def run_demo(settings: Settings, options: DemoOptions) -> dict:
    console = Console(width=max(110, shutil.get_terminal_size().columns))  # a piped log keeps the table whole
    started = time.perf_counter()
    config = ReplayConfig(options.seed, options.markets, options.days, options.tweets_per_day, options.signal, start=settings.history_start)
    last_day = config.start + timedelta(days=config.days - 1)
    if last_day >= date.today():
        raise UserError(f"--days {options.days} from {config.start} reaches {last_day}, past yesterday: use fewer days")
    research = settings.research
    needed = settings.holdout_days + research.folds * research.validation_days + 1
    if options.days < needed:
        raise UserError(f"--days {options.days} is too few: the {settings.holdout_days} test days, {research.folds} validation "
                        f"fold(s) of {research.validation_days} day(s) and 1 day to train on need {needed} (or lower "
                        "SENTITRADE_HOLDOUT_DAYS, SENTITRADE_RESEARCH_FOLDS)")
    manifest = generate_replay(settings.replay_dir, config)
    kind = "with a planted signal" if options.signal else "control set, no signal"
    console.print(f"[1/4] replay data: {manifest['tweets']:,} synthetic tweets, {options.markets} markets, {options.days} days, {kind}")
    values = materialize_all(settings, [config.start + timedelta(days=i) for i in range(config.days)], console, started)

    champion = values["promotion"]["champion_version"]
    trade = None
    if champion is not None:
        trade = paper_trade(settings, console)
        console.print(f"      {trade.decisions} decisions, {trade.fills} fills on the test span ({time.perf_counter() - started:.0f} s)")
    else:
        console.print("[4/4] paper trader skipped: no learned version beat every baseline on the validation folds, so none was promoted")
    report = build_report(values, trade, time.perf_counter() - started)
    print_report(console, settings, values, report)
    print(json.dumps(report))
    return report


def paper_trade(settings: Settings, console: Console):
    """The trader itself (`sentitrade trade --fresh`), replaying the champion's test span at full speed."""
    from trader.ledger import LedgerError
    from trader.run import TradeOptions, run_trader

    console.print("[4/4] paper trader: replaying the test span through the trader process (progress below)")
    try:
        return run_trader(settings, settings.model_name, TradeOptions(feed="replay", speed=0.0, fresh=True))
    except LedgerError as exc:
        raise UserError(str(exc)) from None


def _backtests(values: dict) -> list[dict]:
    return [value for key, value in values.items() if key.endswith("_backtest")]


def build_report(values: dict, trade, seconds: float) -> dict:
    """The last JSON line: the champion's figures on the untouched test span, and every baseline's on the same span."""
    champion = values["promotion"]["champion_version"]
    backtests = _backtests(values)
    best = next((b for b in backtests if b["version"] == champion), None)
    test = best["test"] if best else {}
    return {
        "champion_version": champion,
        "auc_holdout": {b["kind"]: round(b["model"]["test_auc"], 4) for b in backtests if not b["baseline"]},
        "backtest_return": round(test["total_return"], 6) if best else None,
        "champion_test_return": round(test["total_return"], 6) if best else None,
        "baselines": {b["kind"]: round(b["test"]["total_return"], 6) for b in backtests if b["baseline"]},
        "sharpe": test.get("sharpe_daily"),
        "max_drawdown": round(test["max_drawdown"], 6) if best else None,
        "paper_pnl": round(trade.pnl, 4) if trade else None,
        "fills": trade.fills if trade else 0,
        "equity_png": best["equity_png"] if best else None,
        "seconds": round(seconds, 1),
    }


def _verdict(backtest: dict, champion: str | None, reason: str) -> str:
    """One or two words for the table; the full reason of each learned version is printed under it."""
    if backtest["baseline"]:
        return "baseline"
    if backtest["version"] == champion:
        return "champion"
    return "promotable" if reason.startswith("promotable") else "rejected"


def print_report(console: Console, settings: Settings, values: dict, report: dict,
                 title: str = "sentitrade demo: learned models against the baselines (synthetic replay data)") -> None:
    """Every version side by side: what decided (validation folds) apart from what is only reported (test span)."""
    backtests = _backtests(values)
    table = Table(title=title,
                  caption="val: the walk-forward validation folds, out of fold (promotion decides on these) · "
                          "test: the untouched trailing days (reported only) · sd: spread over the folds")
    columns = ("version", "val AUC ± sd", "val ret", "test AUC", "test ret", "trades", "hit", "max DD", "verdict")
    for column in columns:
        table.add_column(column, justify="left" if column in ("version", "verdict") else "right", no_wrap=True)
    reasons = values["promotion"]["reasons"]
    for bt in backtests:
        model, test = bt["model"], bt["test"]
        hit = "n/a" if test.get("hit_rate") is None else f"{test['hit_rate']:.0%}"
        table.add_row(
            f"v{bt['version']} {bt['kind']}", f"{model['validation_auc_mean']:.3f} ± {model['validation_auc_std']:.3f}",
            f"{bt['metrics']['validation_return']:+.2%}", f"{model['test_auc']:.3f}", f"{test['total_return']:+.2%}",
            f"{test['n_trades']}", hit, f"{test['max_drawdown']:.2%}",
            _verdict(bt, report["champion_version"], reasons.get(bt["version"], "")),
        )
    model = next((v for k, v in values.items() if k.endswith("_model")), None)
    if model is not None:
        start, end = model["test_span"]
        folds = ", ".join(f"{f:%m-%d}" for f in model["folds"]["validation_start"])
        console.print(f"validation folds (a day each, trained on the days before, purged and embargoed): {folds}; "
                      f"test span: {start:%Y-%m-%d} to {end - pd.Timedelta(microseconds=1):%Y-%m-%d}")
    console.print(table)
    for bt in backtests:
        if bt["version"] != report["champion_version"] and not bt["baseline"]:
            console.print(f"  v{bt['version']} {bt['kind']}: {reasons.get(bt['version'], '')}")
    champion = next((b for b in backtests if b["version"] == report["champion_version"]), None)
    if champion is not None:
        costs = champion["cost_sensitivity"]
        line = ", ".join(f"x{row.scale:g} {row.total_return:+.2%}" for row in costs.itertuples())
        console.print(f"champion v{champion['version']} ({champion['kind']}) on the test span: costs {line}; "
                      f"Sharpe: {champion['test'].get('sharpe_note') or format(champion['test']['sharpe_daily'], '.2f')}")
    else:
        console.print("no version promoted: none beat every baseline on the validation folds (see the verdicts above)")
    if report["paper_pnl"] is not None:
        console.print(f"paper trader: PnL {report['paper_pnl']:+.2f} USDC with {report['fills']} fills; ledger {redact(settings.ledger)}")
    if report["equity_png"]:
        console.print(f"champion's equity curve: {report['equity_png']}")
    data = settings.data_dir
    console.print(
        "open what this run made:\n"
        f"  Dagster UI: DAGSTER_HOME={settings.dagster_home} SENTITRADE_DATA_DIR={data} dagster dev -w workspace.yaml\n"
        f"  MLflow UI:  {mlflow_ui(settings)}\n"
        f"  (or `make ui DATA_DIR={data}`)"
    )


def mlflow_ui(settings: Settings) -> str:
    """How to open the runs: a server's address, or the command serving a store (its password left to the variable)."""
    uri = settings.tracking_uri
    if uri.startswith(("http://", "https://")):
        return redact(uri)
    store = uri if redact(uri) == uri else '"$SENTITRADE_MLFLOW_TRACKING_URI"'
    return f"mlflow ui --backend-store-uri {store} --port 5000"
