"""Following the registry: a real MLflow store, aliases moved under the trader, and a registry that
goes away (a closed port) and comes back."""

from __future__ import annotations

import logging
import socket
from datetime import timedelta

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient

from models import registry
from models.features import FEATURE_COLUMNS
from models.registry import NoChampionError
from models.train import BoostedTrees
from trader.lifecycle import ModelChange, ModelLifecycle

NAME = "lifecycle-test"


@pytest.fixture(scope="module")
def store(tmp_path_factory, monkeypatch_module):
    """Two registered XGBoost versions in a private SQLite store."""
    root = tmp_path_factory.mktemp("mlflow")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    registry.configure(uri, (root / "artifacts").as_uri())
    rng = np.random.default_rng(3)
    ts = pd.date_range("2026-10-01", periods=3 * 288, freq="5min")
    rows = pd.DataFrame(rng.normal(size=(len(ts), len(FEATURE_COLUMNS))), columns=FEATURE_COLUMNS)
    rows = rows.assign(market="m", ts=ts, price_fwd_ts=ts + timedelta(minutes=5), label=(rows["sent_mean_1h"] > 0).astype(int))
    span = (pd.Timestamp("2026-10-03"), pd.Timestamp("2026-10-04"))
    train = rows[rows["ts"] < span[0]]
    versions = [registry.register_version(BoostedTrees("xgboost").fit(train), model_name=NAME, train=train, test_span=span,
                                          horizon=timedelta(minutes=5), scorer_version="vader").version for _ in range(2)]
    return uri, versions


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")  # a refused connection fails at once, not after minutes
        patch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "2")
        yield patch


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_no_champion_is_said_with_what_to_run(store):
    uri, _ = store
    mlflow.set_tracking_uri(uri)
    with pytest.raises(NoChampionError, match="sentitrade demo"):
        ModelLifecycle("no-such-model", [], 0).start()


def test_aliases_are_followed_and_an_unreachable_registry_keeps_the_last_good_models(store, caplog):
    uri, (first, second) = store
    mlflow.set_tracking_uri(uri)
    client = MlflowClient(uri)
    client.set_registered_model_alias(NAME, "champion", first)
    lifecycle = ModelLifecycle(NAME, ["challenger"], poll_interval_s=0)
    lifecycle.start()
    assert lifecycle.champion.version == first and lifecycle.shadows == {}

    client.set_registered_model_alias(NAME, "challenger", second)
    assert lifecycle.poll() == [ModelChange("challenger", None, second)]
    client.set_registered_model_alias(NAME, "champion", second)
    client.set_registered_model_alias(NAME, "challenger", first)
    assert lifecycle.poll() == [ModelChange("champion", first, second), ModelChange("challenger", second, first)]
    assert lifecycle.poll() == []  # nothing moved

    caplog.set_level(logging.WARNING, logger="trader.lifecycle")
    mlflow.set_tracking_uri(f"http://127.0.0.1:{_closed_port()}")
    for _ in range(3):
        assert lifecycle.poll() == []
    assert lifecycle.champion.version == second and lifecycle.shadows["challenger"].version == first
    unreachable = [r for r in caplog.records if "unreachable" in r.getMessage()]
    assert len(unreachable) == 1 and f"champion v{second}" in unreachable[0].getMessage()
    assert lifecycle.failures == 3

    mlflow.set_tracking_uri(uri)
    client.set_registered_model_alias(NAME, "champion", first)
    assert lifecycle.poll() == [ModelChange("champion", second, first), ModelChange("challenger", first, None)]
    assert any("reachable again" in r.getMessage() for r in caplog.records)
