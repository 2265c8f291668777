"""Alertmanager's routing: every Prometheus alert reaches a person, by severity, through the receiver meant for it.

The configuration is checked the way alerts.yml is checked with promtool: with Alertmanager's own tool,
`amtool check-config` and `amtool config routes test` (Debian package "prometheus-alertmanager"; .ci/run
installs it). Without amtool those tests skip; the wiring tests (Prometheus -> Alertmanager, secrets at the
paths the config reads) need only YAML.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "deploy" / "alertmanager" / "alertmanager.yml"
RULES = ROOT / "deploy" / "prometheus" / "alerts.yml"
MONITORING = ROOT / "k8s" / "monitoring"
AMTOOL = shutil.which("amtool")
# Who hears of an alert, by its severity: critical pages and is posted to Slack, warning is posted to
# Slack, anything else goes to the generic webhook rather than nowhere.
EXPECTED_RECEIVERS = {"critical": "pagerduty,slack", "warning": "slack", "info": "webhook", "": "webhook"}

needs_amtool = pytest.mark.skipif(
    AMTOOL is None, reason="amtool not installed (apt-get install prometheus-alertmanager)"
)


def _amtool(*arguments: str) -> subprocess.CompletedProcess[str]:
    assert AMTOOL is not None
    return subprocess.run([AMTOOL, *arguments], capture_output=True, text=True, timeout=60, check=False)


def _routes(labels: dict[str, str]) -> str:
    done = _amtool("config", "routes", "test", f"--config.file={CONFIG}", *(f"{k}={v}" for k, v in labels.items()))
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def _rules() -> list[dict[str, Any]]:
    return [rule for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"]]


def _secret_files() -> set[str]:
    """The secret files the receivers read, as file names under /etc/alertmanager/secrets."""
    text = CONFIG.read_text()
    prefix = "/etc/alertmanager/secrets/"
    return {word.removeprefix(prefix) for word in text.split() if word.startswith(prefix)}


@needs_amtool
def test_the_configuration_is_valid() -> None:
    done = _amtool("check-config", str(CONFIG))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout
    assert "3 receivers" in done.stdout


@needs_amtool
@pytest.mark.parametrize(("severity", "receivers"), EXPECTED_RECEIVERS.items())
def test_alerts_are_routed_by_severity(severity: str, receivers: str) -> None:
    labels = {"alertname": "AnyAlert", "tenant": "acme"} | ({"severity": severity} if severity else {})
    assert _routes(labels) == receivers


@needs_amtool
def test_a_wrong_expectation_fails_the_route_test() -> None:
    # The routing test can fail: amtool's own verification rejects a receiver the tree does not pick.
    done = _amtool(
        "config", "routes", "test", f"--config.file={CONFIG}", "--verify.receivers=pagerduty", "severity=warning"
    )
    assert done.returncode != 0


@needs_amtool
@pytest.mark.parametrize("rule", _rules(), ids=lambda rule: rule["alert"])
def test_every_prometheus_alert_reaches_a_person(rule: dict[str, Any]) -> None:
    severity = rule["labels"]["severity"]
    assert severity in {"critical", "warning"}, "a rule without a paging or chat severity would only hit the webhook"
    assert _routes({"alertname": rule["alert"], **rule["labels"]}) == EXPECTED_RECEIVERS[severity]


def test_prometheus_sends_its_alerts_to_alertmanager() -> None:
    prometheus = yaml.safe_load((ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text())
    (target,) = prometheus["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"]
    assert target == "alertmanager:9093"
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert "alertmanager" in compose["services"]
    service = yaml.safe_load((MONITORING / "alertmanager-service.yaml").read_text())
    assert (service["metadata"]["name"], service["spec"]["ports"][0]["port"]) == ("alertmanager", 9093)


def test_compose_and_kubernetes_provide_every_secret_the_receivers_read() -> None:
    needed = _secret_files()
    assert needed == {"pagerduty_routing_key", "slack_webhook_url", "webhook_token"}
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    service = compose["services"]["alertmanager"]
    targets = {Path(secret["target"]) for secret in service["secrets"]}
    assert targets == {Path("/etc/alertmanager/secrets") / name for name in needed}
    assert {secret["source"] for secret in service["secrets"]} <= set(compose["secrets"])
    assert "./deploy/alertmanager/alertmanager.yml:/etc/alertmanager/alertmanager.yml:ro" in service["volumes"]

    secret = yaml.safe_load((MONITORING / "alertmanager-secret.example.yaml").read_text())
    assert set(secret["stringData"]) == needed
    deployment = yaml.safe_load((MONITORING / "alertmanager-deployment.yaml").read_text())
    spec = deployment["spec"]["template"]["spec"]
    (container,) = spec["containers"]
    mounts = {mount["name"]: mount["mountPath"] for mount in container["volumeMounts"]}
    assert mounts["secrets"] == "/etc/alertmanager/secrets"
    volumes = {volume["name"]: volume for volume in spec["volumes"]}
    assert volumes["secrets"]["secret"]["secretName"] == secret["metadata"]["name"]
    assert volumes["config"]["configMap"]["name"] == "alertmanager-config"


def test_the_kubernetes_config_map_is_built_from_the_compose_file() -> None:
    generator = yaml.safe_load((CONFIG.parent / "kustomization.yaml").read_text())["configMapGenerator"]
    assert generator == [{"name": "alertmanager-config", "files": [CONFIG.name]}]
    kustomization = yaml.safe_load((MONITORING / "kustomization.yaml").read_text())
    assert (MONITORING / kustomization["resources"][0]).resolve() == CONFIG.parent
    present = {path.name for path in MONITORING.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(kustomization["resources"][1:]) == present - {"alertmanager-secret.example.yaml"}
