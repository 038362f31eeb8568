"""Bad input to the CLI: one line that says what to do next, exit code 2, never a traceback."""

from __future__ import annotations

import pytest

from tests.conftest import one_line_error, run_cli


def test_unknown_flag(tmp_path):
    line = one_line_error(run_cli("demo", "--bogus", "--data-dir", str(tmp_path)))
    assert "--bogus" in line and "--help" in line


@pytest.mark.parametrize(
    "args, named",
    [
        (["demo", "--markets", "-3"], "--markets"),
        (["demo", "--tweets-per-day", "-1"], "--tweets-per-day"),
        (["replay", "generate", "--days", "0"], "--days"),
    ],
)
def test_negative_or_zero_sizes(tmp_path, args, named):
    line = one_line_error(run_cli(*args, "--data-dir", str(tmp_path)))
    assert named in line


def test_demo_too_short_for_its_test_span_and_folds(tmp_path):
    line = one_line_error(run_cli("demo", "--days", "5", "--data-dir", str(tmp_path)))
    assert "--days 5 is too few: the 2 test days, 3 validation fold(s) of 1 day(s) and 1 day to train on need 6" in line


def test_trade_with_missing_data_directory(tmp_path):
    line = one_line_error(run_cli("trade", "--data-dir", str(tmp_path / "nowhere")))
    assert "sentitrade demo" in line


def test_trade_with_empty_data_directory(tmp_path):
    line = one_line_error(run_cli("trade", "--data-dir", str(tmp_path)))
    assert "empty" in line and "sentitrade demo" in line


def test_trade_with_no_champion_yet(tmp_path):
    assert run_cli("replay", "generate", "--days", "3", "--tweets-per-day", "200", "--data-dir", str(tmp_path)).returncode == 0
    line = one_line_error(run_cli("trade", "--data-dir", str(tmp_path)))
    assert "champion" in line and "sentitrade demo" in line


def test_help_explains_every_command():
    for command in ([], ["demo"], ["trade"], ["replay", "generate"]):
        result = run_cli(*command, "--help")
        assert result.returncode == 0
        assert "Usage" in result.stdout and "--data-dir" in result.stdout or command == []


@pytest.fixture(scope="module")
def registry_dir(tmp_path_factory):
    """A data directory whose registry holds buy-and-hold (v1), a tree model that beats it (v2), both
    backtested on the test span, and a tree model never backtested (v3)."""
    import mlflow

    from models import registry
    from models.baselines import BuyAndHold
    from sentitrade.settings import Settings
    from models.train import BoostedTrees
    from tests.train.conftest import _EXPORTED_ENV, HORIZON, TEST_SPAN, feature_rows

    data = tmp_path_factory.mktemp("promote")
    settings = Settings(data_dir=data)
    settings.mlflow_dir.mkdir(parents=True)
    train = feature_rows(5, 2)
    evidence = [(BuyAndHold(), 0.02), (BoostedTrees("xgboost"), 0.05), (BoostedTrees("xgboost"), None)]
    with pytest.MonkeyPatch.context() as mp:
        for var in _EXPORTED_ENV:
            mp.delenv(var, raising=False)
        registry.configure(settings.tracking_uri, settings.artifact_root)
        for estimator, validation_return in evidence:
            ref = registry.register_version(estimator.fit(train), model_name=settings.model_name, train=train, test_span=TEST_SPAN,
                                            horizon=HORIZON, scorer_version="vader", metrics={"validation_auc_mean": 0.6})
            if validation_return is not None:
                registry.log_evaluation(ref.run_id, {"validation_return": validation_return, "validation_sharpe_daily": 1.0, "test_return": -0.01})
        mlflow.set_tracking_uri(None)
    return data


def _table(data) -> dict[str, str]:
    result = run_cli("promote", "--list", "--data-dir", str(data))
    assert result.returncode == 0, result.stderr
    return {line.split()[0]: line for line in result.stdout.splitlines() if line.strip().startswith("v")}


def test_promote_refuses_what_it_cannot_do_in_one_line(registry_dir, tmp_path):
    # Runs before any promotion in this module: there is no `previous` yet.
    cases = [
        ([], "exactly one of VERSION, --best, --rollback or --list"),
        (["2", "--best"], "exactly one of"),
        (["2", "--metric", "validation_return"], "--metric applies only with --best"),
        (["3"], "v3 refused: no backtest on the current test span"),
        (["42"], "no version 42"),
        (["--rollback"], "no 'previous' version to roll back to"),
    ]
    for args, message in cases:
        assert message in one_line_error(run_cli("promote", *args, "--data-dir", str(registry_dir)))
    assert "no MLflow registry" in one_line_error(run_cli("promote", "--list", "--data-dir", str(tmp_path)))


def test_promote_lists_the_evidence_promotes_the_best_and_rolls_back(registry_dir):
    table = _table(registry_dir)
    assert "buy_and_hold" in table["v1"] and "baseline" in table["v1"]
    assert "+5.00%" in table["v2"] and "+0.0300" in table["v2"] and "promotable" in table["v2"]
    assert "no backtest" in table["v3"]

    best = run_cli("promote", "--best", "--metric", "validation_return", "--data-dir", str(registry_dir))
    assert best.returncode == 0 and "champion: v2" in best.stdout
    by_hand = run_cli("promote", "1", "--data-dir", str(registry_dir))
    assert by_hand.returncode == 0 and "champion: v1" in by_hand.stdout and "brings back v2" in by_hand.stdout

    back = run_cli("promote", "--rollback", "--data-dir", str(registry_dir))
    assert back.returncode == 0 and "champion: v2 (rolled back from v1" in back.stdout
    table = _table(registry_dir)
    assert "champion" in table["v2"] and "previous" in table["v1"]


def test_promote_help_explains_the_rule():
    result = run_cli("promote", "--help")
    assert result.returncode == 0
    for words in ("--best", "--rollback", "--list", "--metric", "beats every baseline", "never used to decide"):
        assert words in " ".join(result.stdout.split()), words
