"""MLflow as the stack runs it: a tracking server on a PostgreSQL backend store, artifacts proxied to an
S3-compatible object store (moto's server on loopback standing in for MinIO); a version registered,
promoted, superseded and loaded back through `models:/` URIs."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import boto3
import mlflow
import psycopg
import pytest

from models.promote import PREVIOUS, promote
from models.registry import CHAMPION, aliases, configure, load_champion, log_evaluation, register_version
from models.train import BoostedTrees
from tests.postgres import scratch_database
from tests.train.conftest import _EXPORTED_ENV, HORIZON, TEST_SPAN, feature_rows

BIN = Path(sys.executable).parent
BUCKET, NAME = "mlflow-artifacts", "production-signal"
pytestmark = pytest.mark.postgres


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_until_up(url: str, process: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"{process.args[0]} exited with {process.returncode}: {process.stdout.read()[-3000:]}")
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"{url} did not answer within {timeout:.0f} s")


@pytest.fixture
def object_store(monkeypatch):
    """moto's S3 server on loopback with the artifacts bucket; the credentials the MLflow server uses."""
    port = _free_port()
    server = subprocess.Popen([str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    endpoint = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(endpoint, server)
        credentials = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": "us-east-1"}
        s3 = boto3.client("s3", endpoint_url=endpoint, **{k.lower(): v for k, v in credentials.items() if k != "AWS_DEFAULT_REGION"},
                          region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        yield s3, {**credentials, "MLFLOW_S3_ENDPOINT_URL": endpoint}
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.fixture
def tracking_server(object_store, monkeypatch):
    s3, credentials = object_store
    port = _free_port()
    with scratch_database() as database:
        env = {**os.environ, **credentials}
        server = subprocess.Popen(
            [str(BIN / "mlflow"), "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
             "--backend-store-uri", f"postgresql+psycopg://postgres@127.0.0.1:5432/{database}",
             "--artifacts-destination", f"s3://{BUCKET}"],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            _wait_until_up(f"http://127.0.0.1:{port}/health", server)
            for variable in _EXPORTED_ENV:
                monkeypatch.delenv(variable, raising=False)
            yield f"http://127.0.0.1:{port}", s3, database
        finally:
            mlflow.set_tracking_uri(None)
            server.terminate()
            server.wait(timeout=30)


def test_a_version_is_registered_promoted_and_loaded_through_the_server_on_postgres_and_s3(tracking_server):
    uri, s3, database = tracking_server
    configure(uri, "mlflow-artifacts:/sentitrade")  # the client sends artifacts to the server, which keeps them in S3
    frame = feature_rows(5, 3)
    train = frame[frame["ts"] < TEST_SPAN[0]]
    versions = []
    for kind in ("xgboost", "lightgbm"):
        ref = register_version(BoostedTrees(kind).fit(train), model_name=NAME, train=train, test_span=TEST_SPAN,
                               horizon=HORIZON, scorer_version="vader", metrics={"validation_auc_mean": 0.6})
        log_evaluation(ref.run_id, {"validation_return": 0.05, "test_return": 0.01})
        versions.append(ref.version)
    assert promote(NAME, versions[0]) is None
    assert promote(NAME, versions[1]) == versions[0]
    assert aliases(NAME) == {CHAMPION: versions[1], PREVIOUS: versions[0]}

    champion = load_champion(NAME)
    held_out = frame[frame["ts"] >= TEST_SPAN[0]]
    p_up = champion.predict_proba(held_out)
    assert champion.version == versions[1] and len(p_up) == len(held_out) and ((p_up > 0) & (p_up < 1)).all()

    stored = [item["Key"] for item in s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])]
    assert any(key.endswith("MLmodel") for key in stored), stored[:10]
    with psycopg.connect(f"postgresql://postgres@127.0.0.1:5432/{database}") as con:
        registered = con.execute("select count(*) from model_versions where name = %s", (NAME,)).fetchone()[0]
        alias_rows = dict(con.execute("select alias, version from registered_model_aliases where name = %s", (NAME,)).fetchall())
    assert registered == 2 and alias_rows == {CHAMPION: int(versions[1]), PREVIOUS: int(versions[0])}
