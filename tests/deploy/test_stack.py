"""The production stack's files, tested for what runs without a container engine (none here): the compose
file validates, every long-running service has a health check, each of our services' commands and flags
exist in the installed image's console scripts, Prometheus accepts its config, and the Grafana dashboard
queries only metrics the trader exports."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from trader.metrics import TraderMetrics

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
BIN = Path(sys.executable).parent
ONE_SHOT = {"create-buckets"}  # runs to completion; the others are waited on through their health checks


def _needs(tool: str, package: str) -> str:
    found = shutil.which(tool)
    if found is None:
        message = f"needs `{tool}` (Debian package `{package}`; .ci/run installs it)"
        pytest.fail(message) if os.environ.get("CI") else pytest.skip(message)
    return found


def _services() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]


def _compose_config(compose: str, path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([compose, "-f", str(path), "config", "-q"], capture_output=True, text=True, cwd=path.parent)


def test_the_compose_file_validates_and_a_broken_one_does_not(tmp_path):
    compose = _needs("docker-compose", "docker-compose")
    checked = _compose_config(compose, ROOT / "docker-compose.yml")
    assert checked.returncode == 0, checked.stderr
    broken = tmp_path / "docker-compose.yml"
    broken.write_text((ROOT / "docker-compose.yml").read_text().replace("prometheus: {condition: service_healthy}",
                                                                       "prometheus-typo: {condition: service_healthy}"))
    failed = _compose_config(compose, broken)
    assert failed.returncode != 0 and "prometheus-typo" in failed.stderr


def test_every_long_running_service_has_a_health_check_and_waits_on_healthy_dependencies():
    services = _services()
    assert {"postgres", "minio", "dagster-user-code", "dagster-webserver", "dagster-daemon", "mlflow", "trader",
            "prometheus", "grafana"} <= set(services)
    for name, service in services.items():
        if name not in ONE_SHOT:
            assert service.get("healthcheck", {}).get("test"), f"{name} has no health check"
        for dependency, rule in (service.get("depends_on") or {}).items():
            assert dependency in services, f"{name} depends on unknown {dependency}"
            if rule["condition"] == "service_healthy":
                assert "healthcheck" in services[dependency], f"{name} waits for {dependency}, which has no health check"
            else:
                assert dependency in ONE_SHOT and rule["condition"] == "service_completed_successfully"


def _our_commands() -> list[tuple[str, list[str]]]:
    """(service, argv) of every command our image runs: the service's own and its health check's."""
    commands = []
    for name, service in _services().items():
        if service.get("image") != "sentitrade:latest":
            continue
        argv = shlex.split(service["command"].replace("$${SENTITRADE_TRADE_ARGS}", ""))
        if argv[:2] == ["sh", "-c"]:
            argv = shlex.split(argv[2].removeprefix("exec "))
        commands.append((name, argv))
        check = service["healthcheck"]["test"]
        if check[0] == "CMD" and check[1] != "python":
            commands.append((f"{name} health check", check[1:]))
    return commands


@pytest.mark.parametrize("service, argv", _our_commands(), ids=lambda v: v if isinstance(v, str) else None)
def test_each_of_our_services_runs_an_installed_command_with_flags_it_accepts(service, argv):
    program = BIN / argv[0]
    assert program.exists(), f"{service}: {argv[0]} is not installed with the package"
    words = [a for a in argv[1:] if not a.startswith("-")]
    subcommands = []
    for word in words:  # the subcommand path ends at the first positional argument that is an option's value
        if argv.index(word) > 1 and argv[argv.index(word) - 1].startswith("-"):
            break
        subcommands.append(word)
    shown = subprocess.run([str(program), *subcommands, "--help"], capture_output=True, text=True, timeout=120,
                           env={**os.environ, "COLUMNS": "200"})
    assert shown.returncode == 0, shown.stderr[-2000:]
    for flag in {a.split("=")[0] for a in argv if a.startswith("-")}:
        assert re.search(rf"(^|[\s,]){re.escape(flag)}([\s,=]|$)", shown.stdout, re.M), f"{service}: {flag} unknown"


def test_the_workspace_loads_the_code_location_from_the_user_code_server():
    workspace = yaml.safe_load((DEPLOY / "workspace.yaml").read_text())
    services = _services()
    server = workspace["load_from"][0]["grpc_server"]
    assert server["host"] in services and f"-p {server['port']}" in services[server["host"]]["command"]
    for name in ("dagster-webserver", "dagster-daemon"):
        assert "-w deploy/workspace.yaml" in services[name]["command"]


def test_prometheus_accepts_its_config_and_scrapes_the_trader_port():
    promtool = _needs("promtool", "prometheus")
    checked = subprocess.run([promtool, "check", "config", str(DEPLOY / "prometheus" / "prometheus.yml")],
                             capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    targets = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())["scrape_configs"][0]["static_configs"][0]["targets"]
    assert targets == ["trader:9100"] and "--metrics-port 9100" in _services()["trader"]["command"]


SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}


def _exported_series() -> set[str]:
    """Every series name the trader's registry exposes, by the exposition format's rule for each family's type
    (a counter `x` as `x_total`, a histogram as `x_bucket`, `x_sum` and `x_count`)."""
    return {family.name + suffix for family in TraderMetrics().registry.collect() for suffix in SUFFIXES[family.type]}


PROMQL_WORDS = {"sum", "by", "rate", "increase", "histogram_quantile", "time", "le", "book", "market", "status", "kind"}


def test_the_grafana_dashboard_queries_only_metrics_the_trader_exports():
    dashboard = json.loads((DEPLOY / "grafana" / "dashboards" / "sentitrade.json").read_text())
    datasource = yaml.safe_load((DEPLOY / "grafana" / "provisioning" / "datasources" / "prometheus.yml").read_text())
    uid = datasource["datasources"][0]["uid"]
    exported = _exported_series()
    queried = set()
    for panel in dashboard["panels"]:
        assert panel["datasource"]["uid"] == uid, panel["title"]
        for target in panel["targets"]:
            expression = re.sub(r'"[^"]*"|\[[^\]]*\]', "", target["expr"])  # label values and ranges
            queried |= {word for word in re.findall(r"[a-zA-Z_][a-zA-Z0-9_]*", expression) if word not in PROMQL_WORDS}
    assert queried and queried <= exported, sorted(queried - exported)
    for needed in ("sentitrade_pnl_usdc", "sentitrade_exposure_usdc", "sentitrade_decisions_total",
                   "sentitrade_decision_latency_seconds_bucket", "sentitrade_errors_total", "sentitrade_model_version"):
        assert needed in queried, needed
    provider = yaml.safe_load((DEPLOY / "grafana" / "provisioning" / "dashboards" / "sentitrade.yml").read_text())
    mounts = _services()["grafana"]["volumes"]
    assert f"./deploy/grafana/dashboards:{provider['providers'][0]['options']['path']}:ro" in mounts


def test_env_example_documents_every_variable_the_compose_file_reads():
    compose = (ROOT / "docker-compose.yml").read_text()
    read = set(re.findall(r"(?<!\$)\$\{([A-Z_][A-Z0-9_]*)", compose))
    documented = set(re.findall(r"^#? ?([A-Z_][A-Z0-9_]*)=", (ROOT / ".env.example").read_text(), re.M))
    assert read and read <= documented, sorted(read - documented)
