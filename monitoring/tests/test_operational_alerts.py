"""A refused or failed training, a task that keeps failing and a stopped beat each raise an alert through the outbox."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from monitoring.choices import AlertRule, AlertSeverity, AlertStatus, NotificationEvent
from monitoring.constants import MONITORING_CHECKS_TASK
from monitoring.models import Alert, AlertNotification
from monitoring.services import beat_schedule_watch
from monitoring.tasks import monitoring_checks_task
from registry.choices import VersionStatus
from registry.models import ModelVersion
from registry.tasks import model_versions_fail_stale_task, train_eta_task
from registry.tests.factories import ModelVersionFactory
from tenants.tests.factories import TenantFactory

from .factories import AlertChannelFactory

pytestmark = pytest.mark.django_db

MISSING_TENANT_ID = 2_000_000_000


def firing(rule: str) -> list[Alert]:
    return list(Alert.objects.filter(rule=rule, status=AlertStatus.FIRING))


def test_a_refused_training_raises_an_alert_naming_the_quality_command() -> None:
    channel = AlertChannelFactory(min_severity=AlertSeverity.WARNING)
    tenant = TenantFactory()  # no delivery history: the training is refused

    assert train_eta_task.apply(args=[tenant.pk]).get() is None

    [alert] = firing(AlertRule.TRAINING_REFUSED)
    assert alert.tenant == tenant and alert.severity == AlertSeverity.WARNING
    assert f"check_data_quality --tenant {tenant.slug}" in alert.summary
    [notification] = AlertNotification.objects.filter(alert=alert)
    assert (notification.channel, notification.event) == (channel, NotificationEvent.TRIGGER)


def test_a_training_killed_mid_run_raises_a_failure_alert_when_the_sweeper_fails_it(settings) -> None:  # type: ignore[no-untyped-def]
    settings.TRAINING_STALE_AFTER_MINUTES = 60
    version = ModelVersionFactory(status=VersionStatus.PENDING, artifact_path="", artifact_sha256="")
    ModelVersion.objects.filter(pk=version.pk).update(created_at=timezone.now() - dt.timedelta(minutes=61))

    assert model_versions_fail_stale_task.apply().get() == [version.pk]

    [alert] = firing(AlertRule.TRAINING_FAILED)
    assert alert.tenant == version.registered_model.tenant
    assert f"version {version.version}" in alert.summary and "sweeper" in alert.summary


def test_a_task_failing_again_and_again_escalates_to_a_warning_and_a_success_resolves_it(settings) -> None:  # type: ignore[no-untyped-def]
    settings.TASK_FAILURE_ALERT_AFTER = 3
    on_call = AlertChannelFactory(min_severity=AlertSeverity.WARNING)
    tenant = TenantFactory()

    for _ in range(2):
        monitoring_checks_task.apply(args=[MISSING_TENANT_ID], throw=False)
    [alert] = firing(AlertRule.TASK_FAILING)
    assert (alert.severity, alert.occurrences, alert.subject) == (AlertSeverity.INFO, 2, monitoring_checks_task.name)
    assert not AlertNotification.objects.filter(channel=on_call).exists()  # two failures page no one

    monitoring_checks_task.apply(args=[MISSING_TENANT_ID], throw=False)
    alert.refresh_from_db()
    assert (alert.severity, alert.details["consecutive_failures"]) == (AlertSeverity.WARNING, 3)
    assert "DoesNotExist" in alert.details["last_error"]
    assert AlertNotification.objects.filter(channel=on_call, event=NotificationEvent.TRIGGER).count() == 1

    monitoring_checks_task.apply(args=[tenant.pk])  # the same task succeeds once
    alert.refresh_from_db()
    assert alert.status == AlertStatus.RESOLVED
    assert AlertNotification.objects.filter(channel=on_call, event=NotificationEvent.RESOLVE).count() == 1


def checks_entry(*, last_run_minutes_ago: float | None) -> PeriodicTask:
    every, _ = IntervalSchedule.objects.get_or_create(every=5, period=IntervalSchedule.MINUTES)
    entry = PeriodicTask.objects.create(name="monitoring-checks", task=MONITORING_CHECKS_TASK, interval=every)
    if last_run_minutes_ago is not None:
        last_run_at = timezone.now() - dt.timedelta(minutes=last_run_minutes_ago)
        PeriodicTask.objects.filter(pk=entry.pk).update(last_run_at=last_run_at)
    return entry


def test_beat_that_never_ran_is_stopped() -> None:
    status = beat_schedule_watch()

    assert status.is_stopped and status.last_run_at is None
    [alert] = firing(AlertRule.BEAT_STOPPED)
    assert alert.severity == AlertSeverity.CRITICAL and alert.tenant is None
    assert "never ran" in alert.summary


@pytest.mark.parametrize(("minutes_ago", "is_stopped"), [(4, False), (12, False), (14, True), (60, True)])
def test_beat_is_stopped_after_twice_the_check_interval_plus_the_scheduler_sync(  # type: ignore[no-untyped-def]
    settings, minutes_ago: float, is_stopped: bool
) -> None:
    settings.MONITORING_CHECK_MINUTES = 5  # allowed: 2 x 5 min + 3 min of the database scheduler's sync
    checks_entry(last_run_minutes_ago=minutes_ago)

    status = beat_schedule_watch()

    assert status.is_stopped is is_stopped
    assert status.allowed_gap == dt.timedelta(minutes=13)
    assert len(firing(AlertRule.BEAT_STOPPED)) == int(is_stopped)


def test_beat_running_again_resolves_the_alert() -> None:
    entry = checks_entry(last_run_minutes_ago=120)
    beat_schedule_watch()
    [alert] = firing(AlertRule.BEAT_STOPPED)

    PeriodicTask.objects.filter(pk=entry.pk).update(last_run_at=timezone.now())
    status = beat_schedule_watch()

    alert.refresh_from_db()
    assert not status.is_stopped and alert.status == AlertStatus.RESOLVED
