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
    audits_create(monitored, recent_vectors(monitored, 300), end=check_instant(None))
    out = io.StringIO()

    call_command("run_monitoring_checks", "--tenant", monitored.tenant.slug, "--json", stdout=out)

    run = json.loads(out.getvalue())
    drift = DriftReport.objects.get(tenant=monitored.tenant)
    accuracy = AccuracyReport.objects.get(tenant=monitored.tenant)
    assert (run["drift_reports"], run["accuracy_reports"], run["errors"]) == ([drift.pk], [accuracy.pk], [])
    assert drift.model_version == monitored.version
    assert drift.n_current == 300

    text = io.StringIO()
    call_command("run_monitoring_checks", "--tenant", monitored.tenant.slug, stdout=text)
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
