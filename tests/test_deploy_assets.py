"""Deployment assets agree with the code: YAML parses, probes hit the real health views, commands match
across the Dockerfile, compose and Kubernetes, every variable is documented, and the manifests as deployed
pass `check --deploy`.

There is no Docker engine or cluster here, so these checks are what keeps the files honest; docs/operations.md
("Deployment") lists what was also run by hand with the same commands.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from django.urls import resolve

from intellilog import health

ROOT = Path(__file__).resolve().parent.parent
K8S = ROOT / "k8s"
MONITORING = K8S / "monitoring"
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "docker" / "Dockerfile"
ENV_EXAMPLE = ROOT / ".env.example"
# Set by Kubernetes itself (downward API), not read by IntelliLog: only used to build ALLOWED_HOSTS.
KUBERNETES_ONLY_VARIABLES = {"POD_IP"}
# Variables of third-party images in compose (PostgreSQL, Grafana), not IntelliLog's.
THIRD_PARTY_PREFIXES = ("POSTGRES_", "GF_")
APP_COMPONENTS = ("web", "worker", "beat", "migrate", "train")


def _documents(path: Path) -> list[dict[str, Any]]:
    return [document for document in yaml.safe_load_all(path.read_text()) if document is not None]


def _manifests() -> list[dict[str, Any]]:
    # IntelliLog's own manifests; k8s/monitoring runs a third-party image (tests/test_alertmanager.py).
    paths = sorted(path for path in K8S.rglob("*.yaml") if MONITORING not in path.parents)
    return [document for path in paths for document in _documents(path)]


def _workload(name: str) -> dict[str, Any]:
    (found,) = [doc for doc in _manifests() if doc["kind"] in {"Deployment", "Job"} and doc["metadata"]["name"] == name]
    return found


def _pod_spec(workload: dict[str, Any]) -> dict[str, Any]:
    return workload["spec"]["template"]["spec"]


def _containers() -> Iterator[tuple[str, dict[str, Any]]]:
    for document in _manifests():
        if document["kind"] in {"Deployment", "Job"}:
            for container in _pod_spec(document)["containers"]:
                yield document["metadata"]["name"], container


def _documented_variables() -> set[str]:
    names = set()
    for line in ENV_EXAMPLE.read_text().splitlines():
        match = re.match(r"^#?\s*([A-Z][A-Z0-9_]*)=", line)
        if match:
            names.add(match.group(1))
    return names


def _is_documented(name: str, documented: set[str]) -> bool:
    # NAME_FILE is the documented way to pass any NAME as a file (intellilog/env.py).
    return name in documented or name.removesuffix("_FILE") in documented


def _compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


def _dockerfile_cmd() -> list[str]:
    (line,) = [line for line in DOCKERFILE.read_text().splitlines() if line.startswith("CMD ")]
    return json.loads(line.removeprefix("CMD "))


def test_every_yaml_file_parses() -> None:
    paths = [*K8S.rglob("*.yaml"), COMPOSE, *(ROOT / "deploy").rglob("*.yml")]
    assert len(paths) > 10
    for path in paths:
        assert _documents(path), path


@pytest.mark.parametrize("directory", ["base", "jobs"])
def test_each_kustomization_lists_exactly_its_manifests(directory: str) -> None:
    folder = K8S / directory
    (kustomization,) = _documents(folder / "kustomization.yaml")
    listed = set(kustomization["resources"])
    present = {path.name for path in folder.glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == present


def test_base_and_jobs_deploy_the_same_image() -> None:
    (base,) = _documents(K8S / "base" / "kustomization.yaml")
    (jobs,) = _documents(K8S / "jobs" / "kustomization.yaml")
    assert base["images"] == jobs["images"]
    assert {container["image"] for _, container in _containers()} == {"intellilog"}


def test_web_probes_hit_the_real_health_views() -> None:
    web = _workload("intellilog-web")
    (container,) = _pod_spec(web)["containers"]
    probes = {kind: container[kind]["httpGet"] for kind in ("startupProbe", "livenessProbe", "readinessProbe")}
    assert probes["readinessProbe"]["path"] == "/health/ready"
    assert probes["livenessProbe"]["path"] == probes["startupProbe"]["path"] == "/health/live"
    assert resolve("/health/ready").func is health.readiness
    assert resolve("/health/live").func is health.liveness
    # The probe port is the port gunicorn binds.
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    bind = container["command"][container["command"].index("--bind") + 1]
    assert {probe["port"] for probe in probes.values()} == {"http"}
    assert bind == f"0.0.0.0:{ports['http']}"


def test_the_service_and_the_disruption_budget_select_the_web_pods() -> None:
    web_labels = _workload("intellilog-web")["spec"]["template"]["metadata"]["labels"]
    by_kind = {doc["kind"]: doc for doc in _manifests() if doc["kind"] in {"Service", "PodDisruptionBudget"}}
    assert by_kind["Service"]["spec"]["selector"] == web_labels
    assert by_kind["Service"]["spec"]["ports"][0]["targetPort"] == "http"
    assert by_kind["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"] == web_labels


def test_a_release_never_drops_web_capacity_and_beat_is_single() -> None:
    web = _workload("intellilog-web")["spec"]
    assert web["replicas"] >= 2
    assert web["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    beat = _workload("intellilog-beat")["spec"]
    assert beat["replicas"] == 1
    assert beat["strategy"] == {"type": "Recreate"}


def test_metrics_directory_is_a_per_pod_empty_dir() -> None:
    for name in ("intellilog-web", "intellilog-worker"):
        spec = _pod_spec(_workload(name))
        (container,) = spec["containers"]
        env = {item["name"]: item.get("value") for item in container["env"]}
        mounts = {mount["mountPath"]: mount["name"] for mount in container["volumeMounts"]}
        volumes = {volume["name"]: volume for volume in spec["volumes"]}
        assert "emptyDir" in volumes[mounts[env["PROMETHEUS_MULTIPROC_DIR"]]]


def test_every_container_runs_unprivileged_on_a_read_only_root() -> None:
    for name, container in _containers():
        workload = _workload(name)
        assert _pod_spec(workload)["securityContext"]["runAsNonRoot"] is True, name
        assert _pod_spec(workload)["securityContext"]["fsGroup"] == 10001, name  # reads the 0440 secret files
        assert container["securityContext"]["readOnlyRootFilesystem"] is True, name
        assert container["securityContext"]["allowPrivilegeEscalation"] is False, name
        assert "/tmp" in {mount["mountPath"] for mount in container["volumeMounts"]}, name
        assert "limits" in container["resources"] and "requests" in container["resources"], name
    assert "USER 10001" in DOCKERFILE.read_text()


def test_every_variable_the_manifests_set_is_documented() -> None:
    documented = _documented_variables()
    (configmap,) = [doc for doc in _manifests() if doc["kind"] == "ConfigMap"]
    names = set(configmap["data"])
    for _, container in _containers():
        names |= {item["name"] for item in container.get("env", [])}
    undocumented = {name for name in names - KUBERNETES_ONLY_VARIABLES if not _is_documented(name, documented)}
    assert undocumented == set()


def test_every_secret_file_the_pods_read_is_a_key_of_the_secret_template() -> None:
    (secret,) = _documents(K8S / "secret.example.yaml")
    keys = set(secret["stringData"])
    for name, container in _containers():
        for item in container.get("env", []):
            if item["name"].endswith("_FILE"):
                assert item["value"] == f"/etc/intellilog/secrets/{item['name'].removesuffix('_FILE')}", name
                assert item["name"].removesuffix("_FILE") in keys, name
    # A template only: no value in it could be a real secret.
    assert all("CHANGE_ME" in value for value in secret["stringData"].values())


def test_compose_variables_are_documented_and_its_commands_match_the_manifests() -> None:
    documented = _documented_variables()
    compose = _compose()
    services = compose["services"]
    for name in ("migrate", "web", "worker", "beat", "train"):
        environment = services[name]["environment"]
        undocumented = {key for key in environment if not _is_documented(key, documented)}
        assert undocumented == set(), name
    interpolated = set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)", COMPOSE.read_text()))
    assert {name for name in interpolated if not name.startswith(THIRD_PARTY_PREFIXES)} <= documented
    for service, workload in (("web", "intellilog-web"), ("worker", "intellilog-worker"), ("beat", "intellilog-beat")):
        (container,) = _pod_spec(_workload(workload))["containers"]
        assert services[service]["command"] == container["command"], service
    assert services["web"]["command"] == _dockerfile_cmd()
    (migrate,) = _pod_spec(_workload("intellilog-migrate"))["containers"]
    assert services["migrate"]["command"] == migrate["command"]
    (train,) = _pod_spec(_workload("intellilog-train"))["containers"]
    assert services["train"]["entrypoint"] == train["command"][: len(services["train"]["entrypoint"])]


def test_compose_healthchecks_use_the_health_endpoints_with_an_allowed_host() -> None:
    services = _compose()["services"]
    web_check = " ".join(services["web"]["healthcheck"]["test"])
    assert "http://127.0.0.1:8000/health/live" in web_check
    host = re.search(r"'Host': '([^']+)'", web_check).group(1)  # type: ignore[union-attr]
    assert web_check.count("/health/") == 1
    assert resolve("/health/live").func is health.liveness
    # The host the check sends is always allowed, whatever ALLOWED_HOSTS .env gives.
    assert services["web"]["environment"]["ALLOWED_HOSTS"].endswith(f",{host}")
    assert "inspect ping" in " ".join(services["worker"]["healthcheck"]["test"])


def _kubelet_environment(container: dict[str, Any], configmap: dict[str, str], secrets_dir: Path) -> dict[str, str]:
    """The environment a pod's container gets: envFrom first, then env in order with $(NAME) expanded."""
    environment = dict(configmap)
    for item in container.get("env", []):
        if "value" in item:
            value = re.sub(r"\$\((\w+)\)", lambda match: environment.get(match.group(1), match.group(0)), item["value"])
            environment[item["name"]] = value.replace("/etc/intellilog/secrets", str(secrets_dir))
        elif item["valueFrom"].get("fieldRef", {}).get("fieldPath") == "status.podIP":
            environment[item["name"]] = "10.244.1.17"
    return environment


def test_the_web_pod_configuration_passes_check_deploy(tmp_path: Path) -> None:
    (configmap,) = [doc for doc in _manifests() if doc["kind"] == "ConfigMap"]
    (container,) = _pod_spec(_workload("intellilog-web"))["containers"]
    secrets = {
        "SECRET_KEY": "k8s-check-" + "x" * 60,
        "DATABASE_URL": "postgres://intellilog:pw@postgres.example.internal:5432/intellilog?sslmode=require",
        "REDIS_URL": "redis://:pw@redis.example.internal:6379/0",
        "CELERY_BROKER_URL": "redis://:pw@redis.example.internal:6379/1",
        "METRICS_TOKEN": "token",
    }
    for key, value in secrets.items():
        (tmp_path / key).write_text(value)
    pod_env = _kubelet_environment(container, configmap["data"], tmp_path)
    assert pod_env["ALLOWED_HOSTS"] == "intellilog.example.com,intellilog-web,10.244.1.17"
    # Only the pod's variables (and what a shell needs), so nothing of this test run's settings leaks in.
    inherited = {key: os.environ[key] for key in ("PATH", "HOME", "LANG") if key in os.environ}
    done = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env={**inherited, **pod_env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "no issues" in done.stdout


def test_the_image_carries_its_commit_as_a_label_and_the_variable_lineage_reads() -> None:
    lines = DOCKERFILE.read_text().splitlines()
    assert "ARG GIT_COMMIT=unknown" in lines
    assert "LABEL org.opencontainers.image.revision=$GIT_COMMIT" in lines
    assert "ENV INTELLILOG_GIT_COMMIT=$GIT_COMMIT" in lines
    # After the dependency layer: a new commit must not reinstall the dependencies.
    assert lines.index("ARG GIT_COMMIT=unknown") > max(i for i, line in enumerate(lines) if "pip install" in line)
    assert _compose()["x-app"]["build"]["args"] == {"GIT_COMMIT": "${GIT_COMMIT:-unknown}"}
    assert {"GIT_COMMIT", "INTELLILOG_GIT_COMMIT"} <= _documented_variables()


def test_dask_workers_see_the_training_snapshots_at_the_scheduler_the_settings_name() -> None:
    (configmap,) = [doc for doc in _manifests() if doc["kind"] == "ConfigMap"]
    settings = configmap["data"]
    services = {doc["metadata"]["name"]: doc for doc in _manifests() if doc["kind"] == "Service"}
    host, port = settings["DASK_SCHEDULER_ADDRESS"].removeprefix("tcp://").split(":")
    assert int(port) in {item["port"] for item in services[host]["spec"]["ports"]}
    (worker,) = _pod_spec(_workload("intellilog-dask-worker"))["containers"]
    assert worker["command"][:3] == ["dask", "worker", settings["DASK_SCHEDULER_ADDRESS"]]
    assert settings["ARTIFACT_ROOT"] in {mount["mountPath"] for mount in worker["volumeMounts"]}
    compose = _compose()["services"]
    assert compose["dask-worker"]["command"][:3] == ["dask", "worker", "tcp://dask-scheduler:8786"]
    assert any(volume.endswith(f":{settings['ARTIFACT_ROOT']}") for volume in compose["dask-worker"]["volumes"])


def test_the_audit_upkeep_queue_is_consumed_only_by_a_worker_connecting_as_the_owner() -> None:
    # Partitions ahead and retention are DDL only the tables' owner may run; every other pod is the app role.
    from django.conf import settings

    routed = {route["queue"] for route in settings.CELERY_TASK_ROUTES.values()}
    assert routed == {settings.AUDIT_OWNER_QUEUE}
    services = _compose()["services"]
    consumers = [name for name, service in services.items() if settings.AUDIT_OWNER_QUEUE in service.get("command", [])]
    assert consumers == ["worker-audit"]
    assert services["worker-audit"]["environment"]["DATABASE_URL"] == services["migrate"]["environment"]["DATABASE_URL"]
    assert "intellilog_app" in services["worker"]["environment"]["DATABASE_URL"]
    (container,) = _pod_spec(_workload("intellilog-audit-worker"))["containers"]
    assert container["command"] == services["worker-audit"]["command"]
    (secrets,) = [v for v in _pod_spec(_workload("intellilog-audit-worker"))["volumes"] if v["name"] == "secrets"]
    owner_sources = [
        s["secret"] for s in secrets["projected"]["sources"] if s["secret"]["name"] == "intellilog-migrate-secrets"
    ]
    assert owner_sources == [
        {"name": "intellilog-migrate-secrets", "items": [{"key": "DATABASE_URL", "path": "DATABASE_URL"}]}
    ]


def test_the_image_copies_every_package_of_the_project() -> None:
    # A package left out of the image imports fine in a checkout and fails only in production.
    import tomllib

    included = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]["include"]
    packages = {pattern.removesuffix("*") for pattern in included}
    copied = set(re.findall(r"^COPY (\w+) \1$", DOCKERFILE.read_text(), flags=re.MULTILINE))
    assert packages <= copied, packages - copied
