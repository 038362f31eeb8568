"""A real Prometheus scrapes a running trader and answers queries on what it scraped."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
import yaml

from tests.trader.conftest import span_args, start_trader, wait_for

REPO_CONFIG = Path(__file__).resolve().parents[2] / "deploy" / "prometheus" / "prometheus.yml"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _query(port: int, expression: str) -> list[dict]:
    url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": expression})
    try:
        answer = json.loads(urllib.request.urlopen(url, timeout=2).read())
    except OSError:
        return []
    return answer["data"]["result"] if answer.get("status") == "success" else []


@pytest.fixture
def prometheus_binary() -> str:
    found = shutil.which("prometheus")
    if found is None:
        message = "needs the prometheus server (Debian package `prometheus`; .ci/run installs it)"
        pytest.fail(message) if os.environ.get("CI") else pytest.skip(message)
    return found


def test_prometheus_scrapes_the_trader(trade_dir, holdout_start, prometheus_binary, tmp_path):
    trader_port, prometheus_port = _free_port(), _free_port()
    config = tmp_path / "prometheus.yml"  # the stack's own config, its target on loopback and scraped every second
    stack = yaml.safe_load(REPO_CONFIG.read_text())
    stack["global"]["scrape_interval"] = "1s"
    stack["scrape_configs"][0]["static_configs"][0]["targets"] = [f"127.0.0.1:{trader_port}"]
    config.write_text(yaml.safe_dump(stack))
    trader = start_trader(trade_dir, *span_args(holdout_start, 24), "--speed", "300", "--metrics-port", str(trader_port))
    prometheus = subprocess.Popen(
        [prometheus_binary, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
         f"--web.listen-address=127.0.0.1:{prometheus_port}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        decided = wait_for(lambda: [r for r in _query(prometheus_port, "sum(sentitrade_decisions_total) > 10")], timeout=240, every=1)
        up = _query(prometheus_port, 'up{job="trader"}')
        versions = _query(prometheus_port, "sentitrade_model_version == 1")
        latency = _query(prometheus_port, "histogram_quantile(0.99, sentitrade_decision_latency_seconds_bucket)")
    finally:
        trader.send_signal(signal.SIGTERM)
        prometheus.terminate()
        trader.communicate(timeout=60)
        prometheus.wait(timeout=30)
    assert float(decided[0]["value"][1]) > 10
    assert [r["value"][1] for r in up] == ["1"]
    assert [r["metric"]["alias"] for r in versions] == ["champion"]
    assert latency and 0 < float(latency[0]["value"][1]) < 60
