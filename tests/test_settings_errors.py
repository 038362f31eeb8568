"""Bad settings and bad sizes, through the real entry point: one line naming the variable or flag, exit 2, quickly.

Every settings class counts (Settings and its risk/costs/strategy, sentiment, tweet landing, X,
Polymarket), whichever command reads it, and the value is never echoed: it may be a secret.
"""

from __future__ import annotations

import pytest

from tests.conftest import REPO, one_line_error, run_cli

# (command, environment, the variable or flag the line must name)
CASES = [
    # demo reads every setting the pipeline's steps read before it starts
    (["demo"], {"SENTITRADE_HOLDOUT_DAYS": "three"}, "SENTITRADE_HOLDOUT_DAYS"),
    (["demo"], {"SENTITRADE_HOLDOUT_DAYS": "0"}, "SENTITRADE_HOLDOUT_DAYS"),
    (["demo"], {"SENTITRADE_ENV": "staging"}, "SENTITRADE_ENV"),
    (["demo"], {"SENTITRADE_HISTORY_START": "yesterday"}, "SENTITRADE_HISTORY_START"),
    (["demo"], {"SENTITRADE_MIN_HOLDOUT_AUC": "1.5"}, "SENTITRADE_MIN_HOLDOUT_AUC"),
    (["demo"], {"SENTITRADE_RISK_STARTING_CASH": "-100"}, "SENTITRADE_RISK_STARTING_CASH"),
    (["demo"], {"SENTITRADE_RISK_KELLY_FRACTION": "lots"}, "SENTITRADE_RISK_KELLY_FRACTION"),
    (["demo"], {"SENTITRADE_COST_HALF_SPREAD": "0.9"}, "SENTITRADE_COST_HALF_SPREAD"),
    (["demo"], {"SENTITRADE_STRATEGY_BUY_ABOVE": "0.4"}, "SENTITRADE_STRATEGY_BUY_ABOVE"),
    (["demo"], {"SENTITRADE_STRATEGY_MIN_TWEETS": "-1"}, "SENTITRADE_STRATEGY_MIN_TWEETS"),
    (["demo"], {"SENTITRADE_SENTIMENT_BATCH_SIZE": "0"}, "SENTITRADE_SENTIMENT_BATCH_SIZE"),
    (["demo"], {"SENTITRADE_TWEETS_MAX_DEAD_LETTER_RATE": "2"}, "SENTITRADE_TWEETS_MAX_DEAD_LETTER_RATE"),
    (["demo"], {"SENTITRADE_POLYMARKET_FIDELITY_MINUTES": "0"}, "SENTITRADE_POLYMARKET_FIDELITY_MINUTES"),
    (["demo", "--seed", "-1"], {}, "--seed"),
    (["demo", "--tweets-per-day", "1000000000000"], {}, "--tweets-per-day"),
    (["demo", "--tweets-per-day", "1e12"], {}, "--tweets-per-day"),
    (["replay", "generate"], {"SENTITRADE_HISTORY_START": "2026-13-01"}, "SENTITRADE_HISTORY_START"),
    (["replay", "generate"], {"SENTITRADE_RISK_MAX_DRAWDOWN": "1"}, "SENTITRADE_RISK_MAX_DRAWDOWN"),
    (["replay", "generate", "--seed", "-1"], {}, "--seed"),
    (["replay", "generate", "--tweets-per-day", "1000000000000"], {}, "--tweets-per-day"),
    (["replay", "generate", "--days", "24", "--tweets-per-day", "100000"], {}, "--tweets-per-day"),
    (["trade"], {"SENTITRADE_HOLDOUT_DAYS": "three"}, "SENTITRADE_HOLDOUT_DAYS"),
    (["trade"], {"SENTITRADE_RISK_STARTING_CASH": "-100"}, "SENTITRADE_RISK_STARTING_CASH"),
    (["ingest", "tweets"], {"SENTITRADE_X_MARKETS": '{"m": "hunter2'}, "SENTITRADE_X_MARKETS"),
    (["ingest", "tweets"], {"SENTITRADE_X_MARKETS": '{"m": 1}'}, "SENTITRADE_X_MARKETS"),
    (["ingest", "tweets", "--query", "q"], {"SENTITRADE_X_PAGE_SIZE": "5"}, "SENTITRADE_X_PAGE_SIZE"),
    (["ingest", "tweets", "--query", "q"], {"SENTITRADE_TWEETS_DEFAULT_MARKET": ""}, "SENTITRADE_TWEETS_DEFAULT_MARKET"),
    (["ingest", "tweets", "--from", str(REPO / "README.md")], {"SENTITRADE_HOLDOUT_DAYS": "many"}, "SENTITRADE_HOLDOUT_DAYS"),
    (["ingest", "stream"], {"SENTITRADE_X_STALL_TIMEOUT_S": "-1"}, "SENTITRADE_X_STALL_TIMEOUT_S"),
    (["ingest", "stream"], {"SENTITRADE_X_MAX_RETRIES": "twice"}, "SENTITRADE_X_MAX_RETRIES"),
    (["ingest", "stream", "--duration", "inf"], {}, "--duration"),
    (["ingest", "stream", "--duration", "nan"], {}, "--duration"),
    (["markets", "discover", "-k", "x"], {"SENTITRADE_POLYMARKET_CHUNK_DAYS": "99"}, "SENTITRADE_POLYMARKET_CHUNK_DAYS"),
    (["markets", "book", "some-slug"], {"SENTITRADE_POLYMARKET_MAX_RETRIES": "-1"}, "SENTITRADE_POLYMARKET_MAX_RETRIES"),
    (["sentiment", "score", "up"], {"SENTITRADE_SENTIMENT_BATCH_SIZE": "0"}, "SENTITRADE_SENTIMENT_BATCH_SIZE"),
    (["sentiment", "score", "up"], {"SENTITRADE_SENTIMENT_DEVICE": "tpu"}, "SENTITRADE_SENTIMENT_DEVICE"),
    (["sentiment", "score", "up"], {"SENTITRADE_SENTIMENT_MAX_TOKENS": "4"}, "SENTITRADE_SENTIMENT_MAX_TOKENS"),
    (["sentiment", "score", "up"], {"SENTITRADE_SENTIMENT_VADER_WEIGHT": "0", "SENTITRADE_SENTIMENT_TRANSFORMER_WEIGHT": "0"}, "SENTITRADE_SENTIMENT_"),
]


@pytest.mark.parametrize("args, env, named", CASES, ids=[" ".join(a) + " " + ",".join(e) for a, e, _ in CASES])
def test_bad_setting_or_size_is_one_line_naming_it(tmp_path, args, env, named):
    line = one_line_error(run_cli(*args, "--data-dir", str(tmp_path), env=env, timeout=90))
    assert named in line
    for value in env.values():
        assert len(value) < 4 or value not in line  # named, never echoed


def test_two_bad_variables_are_both_named(tmp_path):
    line = one_line_error(run_cli("replay", "generate", "--data-dir", str(tmp_path), env={"SENTITRADE_ENV": "x", "SENTITRADE_HOLDOUT_DAYS": "x"}))
    assert "SENTITRADE_ENV" in line and "SENTITRADE_HOLDOUT_DAYS" in line


@pytest.mark.parametrize("command", [["trade"], ["demo"]])
@pytest.mark.parametrize("store, variable", [("ledger.db", "SENTITRADE_LEDGER_URL"), ("mlflow/mlflow.db", "SENTITRADE_MLFLOW_TRACKING_URI")])
def test_a_store_that_is_not_a_database_is_named_before_any_work(tmp_path, command, store, variable):
    assert run_cli("replay", "generate", "--days", "3", "--tweets-per-day", "200", "--data-dir", str(tmp_path)).returncode == 0
    (tmp_path / store).parent.mkdir(exist_ok=True)
    (tmp_path / store).write_bytes(bytes(range(256)) * 16)
    line = one_line_error(run_cli(*command, "--data-dir", str(tmp_path), timeout=90))
    assert f"{tmp_path / store} is not a SQLite database" in line and "move it aside" in line and variable in line
