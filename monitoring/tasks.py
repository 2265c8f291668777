"""Celery tasks of the monitoring app."""

from __future__ import annotations

from dataclasses import asdict

from celery import shared_task

from monitoring.services import alert_notifications_deliver_due

# --- Alerts -------------------------------------------------------------------------------------------------


@shared_task(name="monitoring.tasks.deliver_alert_notifications_task")
def deliver_alert_notifications_task() -> dict[str, int]:
    """Send the due alert notifications (beat: every minute; also queued when an alert changes).

    Takes no ids: it drains the outbox. Safe to run twice or concurrently: each notification is sent by the
    run that holds its row lock, and a sent one is never picked again.
    """
    return asdict(alert_notifications_deliver_due())
