"""`manage.py run_monitoring_checks`: the beat task's checks for one tenant, on demand, stored the same way."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from monitoring.live.windows import check_instant
from monitoring.models import AccuracyReport, DriftReport
from tenants.tests.factories import TenantFactory

from .conftest import audits_create, recent_vectors

pytestmark = pytest.mark.django_db


def test_the_command_stores_the_reports_the_task_would_and_prints_them(monitored) -> None:  # type: ignore[no-untyped-def]
    # One fixed instant for both runs: on a slow host "now" can pass a minute boundary between them.
    at = check_instant(None)
    audits_create(monitored, recent_vectors(monitored, 300), end=at)
    out = io.StringIO()

    call_command(
        "run_monitoring_checks", "--tenant", monitored.tenant.slug, "--at", at.isoformat(), "--json", stdout=out
    )

    run = json.loads(out.getvalue())
    drift = DriftReport.objects.get(tenant=monitored.tenant)
    accuracy = AccuracyReport.objects.get(tenant=monitored.tenant)
    assert (run["drift_reports"], run["accuracy_reports"], run["errors"]) == ([drift.pk], [accuracy.pk], [])
    assert drift.model_version == monitored.version
    assert drift.n_current == 300

    text = io.StringIO()
    call_command("run_monitoring_checks", "--tenant", monitored.tenant.slug, "--at", at.isoformat(), stdout=text)
    assert f"drift    {monitored.version}: ok" in text.getvalue()
    assert DriftReport.objects.filter(tenant=monitored.tenant).count() == 1  # same minute: stored once


def test_a_tenant_without_a_serving_version_only_gets_the_quality_check() -> None:
    tenant = TenantFactory()
    out = io.StringIO()

    call_command("run_monitoring_checks", "--tenant", tenant.slug, stdout=out)

    assert "no serving version" in out.getvalue()
    assert not DriftReport.objects.filter(tenant=tenant).exists()
    with pytest.raises(CommandError, match="no tenant with slug"):
        call_command("run_monitoring_checks", "--tenant", "nobody")


@pytest.mark.parametrize(
    ("value", "message"), [("yesterday", "not an ISO 8601 instant"), ("2026-12-06T10:00", "has no UTC offset")]
)
def test_a_bad_instant_is_refused_naming_the_option(value: str, message: str) -> None:
    tenant = TenantFactory()

    with pytest.raises(CommandError, match=f"--at: .*{message}"):
        call_command("run_monitoring_checks", "--tenant", tenant.slug, "--at", value, stdout=io.StringIO())
