"""The periodic checks: every tenant with a champion, champion and challenger, safe to run twice."""

from __future__ import annotations

import datetime as dt

import pytest
from django.conf import settings as django_settings
from django.utils import timezone

from monitoring.models import AccuracyReport, DriftReport
from monitoring.tasks import monitoring_checks_all_tenants_task, monitoring_checks_task
from monitoring.tests.live.conftest import audits_create, recent_vectors, shadows_create
from registry.choices import Alias
from registry.models import ModelAlias
from registry.tests.factories import ModelVersionFactory
from tenants.tests.factories import TenantFactory

pytestmark = pytest.mark.django_db


def test_the_task_checks_champion_and_challenger_once_per_minute(monitored) -> None:  # type: ignore[no-untyped-def]
    challenger = ModelVersionFactory(
        registered_model=monitored.version.registered_model,
        artifact_path=monitored.version.artifact_path,
        artifact_sha256=monitored.version.artifact_sha256,
        lineage=monitored.version.lineage,
    )
    ModelAlias.objects.create(
        tenant=monitored.tenant,
        registered_model=challenger.registered_model,
        alias=Alias.CHALLENGER,
        version=challenger,
    )
    # Ending on the minute the task's window ends at, well inside it even if the minute rolls over meanwhile.
    end = timezone.now().replace(second=0, microsecond=0)
    audits = audits_create(monitored, recent_vectors(monitored, 200, seed=1), end=end, minutes=50)
    shadows_create(monitored, audits[::4], challenger)  # the challenger scored a quarter of them in the shadow

    first = monitoring_checks_task.delay(monitored.tenant.pk).get()
    second = monitoring_checks_task.delay(monitored.tenant.pk).get()

    assert first["errors"] == [] and len(first["drift_reports"]) == 2 and len(first["accuracy_reports"]) == 2
    assert second["drift_reports"] == first["drift_reports"] or DriftReport.objects.count() == 4  # minute rolled over
    by_version = {report.model_version_id: report for report in DriftReport.objects.order_by("id")[:2]}
    assert by_version[monitored.version.pk].n_current == 200 and by_version[challenger.pk].n_current == 50
    assert AccuracyReport.objects.filter(model_version=challenger).exists()
    assert first["quality_score"] == 100.0


def test_the_beat_entry_fans_out_to_tenants_with_a_champion(monitored) -> None:  # type: ignore[no-untyped-def]
    TenantFactory()  # no champion: nothing to check

    assert monitoring_checks_all_tenants_task.delay().get() == [monitored.tenant.pk]
    entry = django_settings.CELERY_BEAT_SCHEDULE["monitoring-checks"]
    assert entry["task"] == "monitoring.tasks.monitoring_checks_all_tenants_task"
    assert entry["schedule"] == dt.timedelta(minutes=django_settings.MONITORING_CHECK_MINUTES)
