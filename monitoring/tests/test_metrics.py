"""GET /metrics: django-prometheus's request and database metrics, every ML metric with its labels, bounded
label values, the optional bearer token, and counts summed over several processes (multiprocess mode).

The in-process registry is shared by the whole test session, so each test records under its own tenant
slug and compares counters before and after where another test could have added to them.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml
from django.db import connection, connections
from django.test import Client
from prometheus_client import Metric
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.parser import text_string_to_metric_families

from monitoring import metrics
from monitoring.exporter import MULTIPROC_DIR_VARIABLE, process_mark_dead

ROOT = Path(__file__).resolve().parents[2]
ML_METRIC_NAMES = sorted(item._name for item in vars(metrics).values() if isinstance(item, MetricWrapperBase))
WRAPPER_MODULES = {
    "postgresql": "django_prometheus.db.backends.postgresql.base",
    "sqlite": "django_prometheus.db.backends.sqlite3.base",
}


Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(client: Client, **headers: str) -> Samples:
    """GET /metrics and index every sample by (name, labels)."""
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    families: list[Metric] = list(text_string_to_metric_families(response.content.decode()))
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in families
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


def label_values(samples: Samples, name: str, label: str) -> set[str]:
    return {dict(labels)[label] for sample_name, labels in samples if sample_name == name}


@pytest.mark.django_db
def test_metrics_shows_request_and_database_metrics(client: Client) -> None:
    # Given one scrape, when a query runs and we scrape again
    before = scrape(client)
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    after = scrape(client)

    # then the first scrape was counted as a request and the query as a database execution
    requests = "django_http_requests_total_by_method_total"
    assert value(after, requests, method="GET") == (value(before, requests, method="GET") or 0) + 1
    database = {"alias": "default", "vendor": connection.vendor}
    assert (value(after, "django_db_execute_total", **database) or 0) >= (
        value(before, "django_db_execute_total", **database) or 0
    ) + 1
    # through django-prometheus's wrapper of the configured backend (settings swap the ENGINE)
    assert type(connections["default"]).__module__ == WRAPPER_MODULES[connection.vendor]


def test_sqlite_gets_the_django_prometheus_wrapper_too(tmp_path: Path) -> None:
    # The quickstart's SQLite: the same ENGINE swap, checked in a process configured for it.
    code = textwrap.dedent(
        """
        from django.db import connections
        connections["default"].cursor().execute("SELECT 1")
        from prometheus_client import REGISTRY
        labels = {"alias": "default", "vendor": "sqlite"}
        print(type(connections["default"]).__module__, REGISTRY.get_sample_value("django_db_execute_total", labels))
        """
    )
    result = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", code],
        cwd=ROOT,
        env={**_clean_environment(), "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [WRAPPER_MODULES["sqlite"], "1.0"]


def test_every_ml_metric_appears_with_its_labels(client: Client) -> None:
    # When every recording function is called once for one tenant and version
    tenant, version = "acme-ml", "7"
    metrics.prediction_observed(
        tenant=tenant, model_version=version, latency_seconds=0.004, used_fallback=True, is_ood=False
    )
    metrics.feature_age_observed(tenant=tenant, entity="courier", age_seconds=120.0)
    metrics.feature_age_observed(tenant=tenant, entity="city", age_seconds=None)
    metrics.prediction_error_observed(tenant=tenant, model_version=version, error_minutes=-6.0)
    metrics.realized_accuracy_set(tenant=tenant, model_version=version, mae_minutes=3.6, within_5_share=0.75)
    metrics.drift_score_set(
        tenant=tenant, model_version=version, feature="distance_km", effect_size=0.42, is_drifted=True
    )
    metrics.data_quality_score_set(tenant=tenant, score=99.85)
    metrics.serving_error_observed(tenant=tenant, code="no_champion")
    samples = scrape(client)

    # then /metrics shows each of them with exactly these labels
    served = {"tenant": tenant, "model_version": version}
    latency = "intellilog_prediction_latency_seconds"
    assert value(samples, f"{latency}_count", **served) == 1
    assert value(samples, f"{latency}_bucket", **served, le="0.0025") == 0
    assert value(samples, f"{latency}_bucket", **served, le="0.005") == 1
    assert value(samples, "intellilog_predictions_total", **served, used_fallback="true", is_ood="false") == 1
    age = "intellilog_feature_age_seconds"
    assert value(samples, f"{age}_bucket", tenant=tenant, entity="courier", le="60.0") == 0
    assert value(samples, f"{age}_bucket", tenant=tenant, entity="courier", le="300.0") == 1
    # alerts.yml and the dashboard count stale states with this exact bound label (6 h)
    assert value(samples, f"{age}_bucket", tenant=tenant, entity="courier", le="21600.0") == 1
    assert value(samples, f"{age}_count", tenant=tenant, entity="city") is None
    assert value(samples, "intellilog_feature_missing_total", tenant=tenant, entity="city") == 1
    error = "intellilog_prediction_error_minutes"
    assert value(samples, f"{error}_sum", **served) == 6.0  # absolute error
    assert value(samples, f"{error}_bucket", **served, le="5.0") == 0
    assert value(samples, f"{error}_bucket", **served, le="7.5") == 1
    assert value(samples, "intellilog_realized_mae_minutes", **served) == 3.6
    assert value(samples, "intellilog_realized_within_5_minutes_ratio", **served) == 0.75
    assert value(samples, "intellilog_drift_effect_size", **served, feature="distance_km") == 0.42
    assert value(samples, "intellilog_drift_detected", **served, feature="distance_km") == 1
    assert value(samples, "intellilog_data_quality_score", tenant=tenant) == 99.85
    assert value(samples, "intellilog_serving_errors_total", tenant=tenant, code="no_champion") == 1
    for check in ("realized_accuracy", "drift", "data_quality"):
        assert value(samples, "intellilog_monitoring_check_timestamp_seconds", tenant=tenant, check=check)


def test_tenants_beyond_the_maximum_share_the_label_other(client: Client, settings) -> None:  # type: ignore[no-untyped-def]
    # Given room for three tenants, when forty tenants predict
    settings.METRICS_MAX_TENANTS = 3
    predictions = "intellilog_predictions_total"
    other = {"tenant": "other", "model_version": "other", "used_fallback": "false", "is_ood": "false"}
    other_before = value(scrape(client), predictions, **other) or 0
    for number in range(40):
        metrics.prediction_observed(
            tenant=f"bound-{number}", model_version="1", latency_seconds=0.01, used_fallback=False, is_ood=False
        )
    samples = scrape(client)

    # then the first three keep their slug and the other 37 are counted together as "other"
    tenants = {tenant for tenant in label_values(samples, predictions, "tenant") if tenant.startswith("bound-")}
    assert tenants == {"bound-0", "bound-1", "bound-2"}
    assert value(samples, predictions, **other) == other_before + 37


def test_only_the_most_recent_versions_of_a_tenant_keep_their_label() -> None:
    tenant = "versions"
    labels = [metrics._tenant_and_version_labels(tenant, str(number)) for number in range(1, 8)]
    assert labels == [(tenant, str(number)) for number in range(1, 8)]  # each new version is admitted
    # Versions 1 and 2 were pushed out by the five newer ones; the newest keep their label.
    assert metrics._tenant_and_version_labels(tenant, "1") == (tenant, "other")
    assert metrics._tenant_and_version_labels(tenant, "7") == (tenant, "7")
    assert metrics._tenant_and_version_labels(tenant, "") == (tenant, "none")


@pytest.mark.parametrize(
    ("call", "name", "labels"),
    [
        (
            lambda: metrics.drift_score_set(
                tenant="shape", model_version="1", feature="favourite_colour", effect_size=0.1, is_drifted=False
            ),
            "intellilog_drift_effect_size",
            {"tenant": "shape", "model_version": "1", "feature": "other"},
        ),
        (
            lambda: metrics.drift_score_set(
                tenant="shape", model_version="1", feature="multivariate", effect_size=0.2, is_drifted=False
            ),
            "intellilog_drift_effect_size",
            {"tenant": "shape", "model_version": "1", "feature": "multivariate"},
        ),
        (
            lambda: metrics.feature_age_observed(tenant="shape", entity="galaxy", age_seconds=None),
            "intellilog_feature_missing_total",
            {"tenant": "shape", "entity": "other"},
        ),
        (
            lambda: metrics.serving_error_observed(tenant="shape", code="Not A Code!"),
            "intellilog_serving_errors_total",
            {"tenant": "shape", "code": "other"},
        ),
        (
            lambda: metrics.serving_error_observed(tenant="", code="not_authenticated"),
            "intellilog_serving_errors_total",
            {"tenant": "none", "code": "not_authenticated"},
        ),
        (
            lambda: metrics.data_quality_score_set(tenant="spaces are not slugs", score=50.0),
            "intellilog_data_quality_score",
            {"tenant": "other"},
        ),
        (
            lambda: metrics.prediction_error_observed(tenant="shape", model_version="v 1;drop", error_minutes=1.0),
            "intellilog_prediction_error_minutes_count",
            {"tenant": "shape", "model_version": "other"},
        ),
    ],
)
def test_unknown_or_malformed_label_values_are_folded(client: Client, call, name: str, labels: dict[str, str]) -> None:  # type: ignore[no-untyped-def]
    call()
    assert value(scrape(client), name, **labels) is not None


@pytest.mark.parametrize(
    "call",
    [
        lambda: metrics.prediction_observed(
            tenant="bad", model_version="1", latency_seconds=-0.001, used_fallback=False, is_ood=False
        ),
        lambda: metrics.feature_age_observed(tenant="bad", entity="courier", age_seconds=math.nan),
        lambda: metrics.prediction_error_observed(tenant="bad", model_version="1", error_minutes=math.nan),
        lambda: metrics.realized_accuracy_set(tenant="bad", model_version="1", mae_minutes=3.0, within_5_share=1.5),
        lambda: metrics.drift_score_set(
            tenant="bad", model_version="1", feature="area", effect_size=-1, is_drifted=False
        ),
        lambda: metrics.data_quality_score_set(tenant="bad", score=101.0),
    ],
)
def test_values_outside_their_domain_are_refused(call) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError):
        call()


def test_a_feature_state_from_a_clock_slightly_ahead_counts_as_fresh(client: Client) -> None:
    metrics.feature_age_observed(tenant="skew", entity="courier", age_seconds=-0.02)
    samples = scrape(client)
    assert value(samples, "intellilog_feature_age_seconds_bucket", tenant="skew", entity="courier", le="60.0") == 1
    assert value(samples, "intellilog_feature_age_seconds_sum", tenant="skew", entity="courier") == 0


def test_a_constant_feature_exports_nan_effect_size(client: Client) -> None:
    metrics.drift_score_set(
        tenant="nan-drift", model_version="1", feature="area", effect_size=math.nan, is_drifted=False
    )
    labels = {"tenant": "nan-drift", "model_version": "1", "feature": "area"}
    assert math.isnan(value(scrape(client), "intellilog_drift_effect_size", **labels))  # type: ignore[arg-type]


def test_with_a_token_a_scrape_needs_it(client: Client, settings) -> None:  # type: ignore[no-untyped-def]
    settings.METRICS_TOKEN = "scrape-secret"

    missing = client.get("/metrics")
    wrong = client.get("/metrics", headers={"Authorization": "Bearer not-it"})
    assert (missing.status_code, wrong.status_code) == (401, 401)
    assert missing["WWW-Authenticate"] == 'Bearer realm="metrics"'
    assert b"intellilog" not in missing.content + wrong.content
    assert scrape(client, Authorization="Bearer scrape-secret")
    assert client.post("/metrics", headers={"Authorization": "Bearer scrape-secret"}).status_code == 405


def _clean_environment() -> dict[str, str]:
    environment = {key: item for key, item in os.environ.items() if key not in {"DATABASE_URL", MULTIPROC_DIR_VARIABLE}}
    return {**environment, "DEBUG": "true", "DJANGO_SETTINGS_MODULE": "intellilog.settings"}


_RECORDER = """
import sys, time
from pathlib import Path
from monitoring import metrics
predictions, mae, wait_for, done = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3], sys.argv[4]
for _ in range(predictions):
    metrics.prediction_observed(
        tenant="mp-acme", model_version="1", latency_seconds=0.01, used_fallback=False, is_ood=False
    )
deadline = time.monotonic() + 30
while wait_for != "-" and not Path(wait_for).exists() and time.monotonic() < deadline:
    time.sleep(0.01)
metrics.realized_accuracy_set(tenant="mp-acme", model_version="1", mae_minutes=mae, within_5_share=0.7)
Path(done).touch()
print(__import__("os").getpid())
"""


def test_counts_from_several_processes_are_summed(client: Client, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    # Given two processes writing to one multiprocess directory (as two gunicorn workers do); the second
    # sets the accuracy gauge only after the first did, so "most recent" has one right answer
    directory = tmp_path / "prometheus"
    directory.mkdir()
    environment = {**_clean_environment(), MULTIPROC_DIR_VARIABLE: str(directory)}
    first_done, second_done = tmp_path / "first-done", tmp_path / "second-done"
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", _RECORDER, str(count), str(mae), str(wait_for), str(done)],
            cwd=ROOT,
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for count, mae, wait_for, done in [(3, 4.0, "-", first_done), (4, 3.0, first_done, second_done)]
    ]
    outputs = [process.communicate(timeout=60) for process in processes]
    assert [process.returncode for process in processes] == [0, 0], outputs

    # when /metrics is read in multiprocess mode
    monkeypatch.setenv(MULTIPROC_DIR_VARIABLE, str(directory))
    samples = scrape(client)

    # then counters and histograms are the sums over both processes, and the gauge is the latest value
    served = {"tenant": "mp-acme", "model_version": "1"}
    assert value(samples, "intellilog_predictions_total", **served, used_fallback="false", is_ood="false") == 7
    assert value(samples, "intellilog_prediction_latency_seconds_count", **served) == 7
    assert value(samples, "intellilog_realized_mae_minutes", **served) == 3.0
    # A pool process that set the gauge and then exited (marked dead) leaves its value: it is still the truth.
    process_mark_dead(int(outputs[1][0]))
    assert value(scrape(client), "intellilog_realized_mae_minutes", **served) == 3.0


def test_the_dashboard_and_the_alert_rules_cover_every_ml_metric() -> None:
    dashboard = (ROOT / "deploy" / "grafana" / "dashboards" / "intellilog.json").read_text()
    json.loads(dashboard)
    rules = yaml.safe_load((ROOT / "deploy" / "prometheus" / "alerts.yml").read_text())
    expressions = " ".join(rule["expr"] for group in rules["groups"] for rule in group["rules"])
    assert [name for name in ML_METRIC_NAMES if name not in dashboard] == []
    assert "django_http_requests_latency_seconds_by_view_method" in dashboard
    alerted = {name for name in ML_METRIC_NAMES if name in expressions}
    assert alerted >= {
        "intellilog_prediction_latency_seconds",
        "intellilog_serving_errors",
        "intellilog_drift_detected",
        "intellilog_prediction_error_minutes",
        "intellilog_data_quality_score",
        "intellilog_feature_age_seconds",
        "intellilog_feature_missing",
    }
