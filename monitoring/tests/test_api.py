"""The read-only monitoring API: drift and accuracy reports, alerts and shadow looks of the caller's tenant only."""

from __future__ import annotations

from typing import Any

import pytest

from monitoring.choices import AlertSeverity
from monitoring.models import AccuracyReport, Alert, DriftReport
from monitoring.services import alert_resolve
from monitoring.tests.factories import AccuracyReportFactory, DriftReportFactory, raise_example
from registry.models import ShadowEvaluation
from registry.tests.factories import ModelVersionFactory, ShadowEvaluationFactory
from tenants.services import api_key_create
from tenants.tests.factories import TenantFactory

pytestmark = pytest.mark.django_db

# key lookup, its last-used stamp, the count and the page: whatever the number of rows
LIST_QUERIES = 4


class Caller:
    def __init__(self, client: Any) -> None:
        self.tenant = TenantFactory()
        self.key = api_key_create(tenant=self.tenant, name="test").raw_key
        self.client = client
        self.version = ModelVersionFactory(registered_model__tenant=self.tenant, version=1)
        self.challenger = ModelVersionFactory(registered_model=self.version.registered_model, version=2)

    def get(self, path: str) -> Any:
        return self.client.get(path, headers={"Authorization": f"Api-Key {self.key}"})


@pytest.fixture
def caller(client) -> Caller:  # type: ignore[no-untyped-def]
    return Caller(client)


@pytest.fixture
def other(client) -> Caller:  # type: ignore[no-untyped-def]
    other = Caller(client)
    DriftReportFactory(model_version=other.version)
    AccuracyReportFactory(model_version=other.version)
    raise_example(tenant=other.tenant)
    ShadowEvaluationFactory(champion=other.version, challenger=other.challenger)
    return other


def test_drift_reports_list_newest_first_filter_by_version_and_show_the_result_in_detail(caller, other) -> None:  # type: ignore[no-untyped-def]
    older = DriftReportFactory(model_version=caller.version)
    newer = DriftReportFactory(model_version=caller.challenger, is_drifted=True, drifted_features=["distance_km"])

    listed = caller.get("/api/v1/monitoring/drift-reports").json()

    assert [row["id"] for row in listed["results"]] == [newer.pk, older.pk]
    assert listed["results"][0]["model_version"] == 2 and listed["results"][0]["drifted_features"] == ["distance_km"]
    assert "result" not in listed["results"][0]
    of_v1 = caller.get("/api/v1/monitoring/drift-reports?version=1").json()["results"]
    assert [row["id"] for row in of_v1] == [older.pk]
    assert caller.get(f"/api/v1/monitoring/drift-reports/{older.pk}").json()["result"] == {"tests": []}
    bad = caller.get("/api/v1/monitoring/drift-reports?version=latest")
    assert bad.status_code == 400 and "version" in bad.json()["detail"]


def test_accuracy_reports_carry_the_cusum_state(caller, other) -> None:  # type: ignore[no-untyped-def]
    report = AccuracyReportFactory(model_version=caller.version, cusum_ratio=1.7, is_degraded=True)

    [row] = caller.get("/api/v1/monitoring/accuracy-reports").json()["results"]

    assert (row["id"], row["cusum_ratio"], row["is_degraded"]) == (report.pk, 1.7, True)
    assert row["change_detection"] == report.change_detection
    detail = caller.get(f"/api/v1/monitoring/accuracy-reports/{report.pk}").json()
    assert detail["segments"] == [] and detail["findings"] == []


def test_alerts_open_and_resolved_of_the_caller_only(caller, other) -> None:  # type: ignore[no-untyped-def]
    open_alert = raise_example(tenant=caller.tenant, subject="eta v1 feature distance_km")
    closed = raise_example(tenant=caller.tenant, subject="eta v1 feature weather", severity=AlertSeverity.CRITICAL)
    alert_resolve(rule="drift", tenant=caller.tenant, subject="eta v1 feature weather")
    raise_example(tenant=None, subject="platform-wide")  # no tenant: not any tenant's to see

    every = caller.get("/api/v1/monitoring/alerts").json()["results"]
    firing = caller.get("/api/v1/monitoring/alerts?status=firing").json()["results"]
    resolved = caller.get("/api/v1/monitoring/alerts?status=resolved").json()["results"]

    assert {row["id"] for row in every} == {open_alert.pk, closed.pk}
    assert [row["id"] for row in firing] == [open_alert.pk]
    assert [(row["id"], row["severity"]) for row in resolved] == [(closed.pk, "critical")]
    assert resolved[0]["resolved_at"] is not None
    assert caller.get("/api/v1/monitoring/alerts?status=open").status_code == 400


def test_shadow_evaluations_name_versions_by_number(caller, other) -> None:  # type: ignore[no-untyped-def]
    look = ShadowEvaluationFactory(champion=caller.version, challenger=caller.challenger, pairs=120)

    [row] = caller.get("/api/v1/models/shadow-evaluations").json()["results"]

    assert (row["id"], row["champion"], row["challenger"], row["pairs"]) == (look.pk, 1, 2, 120)
    assert row["summary"] == look.summary and "decision" not in row
    assert caller.get(f"/api/v1/models/shadow-evaluations/{look.pk}").json()["decision"] == look.decision


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/monitoring/drift-reports",
        "/api/v1/monitoring/accuracy-reports",
        "/api/v1/monitoring/alerts",
        "/api/v1/models/shadow-evaluations",
    ],
)
def test_lists_take_a_fixed_number_of_queries_and_nothing_is_writable(  # type: ignore[no-untyped-def]
    caller, other, path: str, django_assert_num_queries
) -> None:
    for _ in range(3):
        DriftReportFactory(model_version=caller.version)
        AccuracyReportFactory(model_version=caller.version)
        ShadowEvaluationFactory(champion=caller.version, challenger=caller.challenger)
    for feature in ("a", "b", "c"):
        raise_example(tenant=caller.tenant, subject=f"eta v1 feature {feature}")

    with django_assert_num_queries(LIST_QUERIES):
        response = caller.get(path)

    assert response.status_code == 200 and response.json()["count"] == 3
    counts = [model.objects.count() for model in (DriftReport, AccuracyReport, Alert, ShadowEvaluation)]
    for method in ("post", "put", "patch", "delete"):
        answer = getattr(caller.client, method)(
            path, data={}, content_type="application/json", headers={"Authorization": f"Api-Key {caller.key}"}
        )
        assert answer.status_code == 405
    assert [model.objects.count() for model in (DriftReport, AccuracyReport, Alert, ShadowEvaluation)] == counts
