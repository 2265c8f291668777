"""Celery tasks of the monitoring app."""

from __future__ import annotations

from dataclasses import asdict

from celery import shared_task

from monitoring.live.checks import monitoring_checks_run
from monitoring.services import alert_notifications_deliver_due
from registry.choices import Alias
from registry.selectors import tenants_with_alias
from tenants.models import Tenant

# --- Alerts -------------------------------------------------------------------------------------------------


@shared_task(name="monitoring.tasks.deliver_alert_notifications_task")
def deliver_alert_notifications_task() -> dict[str, int]:
    """Send the due alert notifications (beat: every minute; also queued when an alert changes).

    Takes no ids: it drains the outbox. Safe to run twice or concurrently: each notification is sent by the
    run that holds its row lock, and a sent one is never picked again.
    """
    return asdict(alert_notifications_deliver_due())


# --- Live-traffic checks ------------------------------------------------------------------------------------


@shared_task(name="monitoring.tasks.monitoring_checks_task")
def monitoring_checks_task(tenant_id: int) -> dict[str, object]:
    """Drift, realized accuracy and live data quality of one tenant's serving versions.

    Safe to run twice: reports are stored once per version and minute, and alerts are de-duplicated.
    """
    tenant = Tenant.objects.get(pk=tenant_id)
    return asdict(monitoring_checks_run(tenant=tenant))


@shared_task(name="monitoring.tasks.monitoring_checks_all_tenants_task")
def monitoring_checks_all_tenants_task() -> list[int]:
    """The beat entry (every MONITORING_CHECK_MINUTES): one checks task per active tenant with a champion."""
    tenant_ids = [tenant.pk for tenant in tenants_with_alias(Alias.CHAMPION)]
    for tenant_id in tenant_ids:
        monitoring_checks_task.delay(tenant_id)
    return tenant_ids
