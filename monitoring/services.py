"""Monitoring writes and workflows."""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Exists, F, OuterRef, QuerySet
from django.utils import timezone

from intellilog.dispatch import task_enqueue_on_commit
from monitoring.alerting.payloads import (
    AlertMessage,
    pagerduty_payload,
    slack_payload,
    webhook_payload,
    with_routing_key,
)
from monitoring.alerting.transport import SendResult, backoff_delay, post_json, redact
from monitoring.choices import (
    AlertRule,
    AlertSeverity,
    AlertStatus,
    ChannelKind,
    NotificationEvent,
    NotificationStatus,
    severity_rank,
)
from monitoring.constants import (
    BEAT_SYNC_SECONDS,
    DEDUP_KEY_MAX_LENGTH,
    DELIVERY_BATCH_LIMIT,
    DELIVERY_RUN_SECONDS,
    MONITORING_CHECKS_TASK,
)
from monitoring.models import Alert, AlertChannel, AlertNotification
from registry.models import ModelVersion
from tenants.models import Tenant

logger = logging.getLogger(__name__)

# --- Alerts: raising, resolving, the outbox and its delivery ----------------------------------------------------
#
# Rules (drift, accuracy, data quality, ...) call `alert_raise` every time their check finds the condition and
# `alert_resolve` when a check finds it cleared. Both are cheap and idempotent per dedup key, so a check can
# call them on every run without remembering what it said last time.


def alert_dedup_key(*, rule: str, tenant: Tenant | None, subject: str) -> str:
    """`rule:tenant-id:subject` (`platform` for no tenant): equal for every raise of the same condition.

    The tenant's id rather than its slug, so renaming a tenant does not split an alert in two.
    """
    key = f"{rule}:{tenant.pk if tenant else 'platform'}:{subject}"
    if len(key) <= DEDUP_KEY_MAX_LENGTH:
        return key
    digest = hashlib.sha256(key.encode()).hexdigest()
    return f"{key[: DEDUP_KEY_MAX_LENGTH - len(digest) - 1]}#{digest}"


def alert_raise(
    *,
    rule: str,
    tenant: Tenant | None,
    subject: str,
    severity: str,
    summary: str,
    details: dict[str, Any] | None = None,
) -> Alert:
    """Record that a rule's condition holds; notify the channels the first time, and again only on escalation.

    If an alert with the same dedup key is firing, it is updated: last seen, occurrence count, the latest
    summary and details, and the severity if it rose (it never falls while firing, so the alert shows the
    worst seen). A rise queues a new trigger to every enabled channel that accepts the new severity; any other
    repeat sends nothing. Otherwise a new alert is created with one trigger per enabled channel that accepts
    its severity. `details` must be JSON-serialisable. Delivery is queued once the transaction commits.
    """
    # Choices are not enforced by the database: a typo in a rule must fail here, not become an unknown alert.
    if rule not in AlertRule.values:
        raise ValueError(f"unknown alert rule {rule!r}; expected one of {AlertRule.values}")
    if severity not in AlertSeverity.values:
        raise ValueError(f"unknown alert severity {severity!r}; expected one of {AlertSeverity.values}")
    dedup_key = alert_dedup_key(rule=rule, tenant=tenant, subject=subject)
    now = timezone.now()
    details = details or {}
    with transaction.atomic():
        alert = Alert.objects.select_for_update().filter(dedup_key=dedup_key, status=AlertStatus.FIRING).first()
        if alert is None:
            try:
                # A savepoint: a concurrent raise of the same condition may win the insert (unique constraint).
                with transaction.atomic():
                    alert = Alert.objects.create(
                        tenant=tenant,
                        rule=rule,
                        subject=subject,
                        severity=severity,
                        dedup_key=dedup_key,
                        summary=summary,
                        details=details,
                        first_fired_at=now,
                        last_seen_at=now,
                    )
            except IntegrityError:
                alert = Alert.objects.select_for_update().get(dedup_key=dedup_key, status=AlertStatus.FIRING)
            else:
                channels = [channel for channel in _enabled_channels() if channel.accepts(severity)]
                _notifications_enqueue(alert=alert, event=NotificationEvent.TRIGGER, channels=channels, now=now)
                return alert

        is_escalation = severity_rank(severity) > severity_rank(alert.severity)
        Alert.objects.filter(pk=alert.pk).update(
            last_seen_at=now,
            occurrences=F("occurrences") + 1,
            summary=summary,
            details=details,
            severity=severity if is_escalation else alert.severity,
        )
        alert.refresh_from_db()
        if is_escalation:
            channels = [channel for channel in _enabled_channels() if channel.accepts(severity)]
            _notifications_enqueue(alert=alert, event=NotificationEvent.TRIGGER, channels=channels, now=now)
        return alert


def alert_resolve(*, rule: str, tenant: Tenant | None, subject: str) -> Alert | None:
    """Mark the firing alert for this condition resolved and tell the channels that were told it fired.

    Returns the resolved alert, or None when nothing was firing (so a check may call this on every clear run).
    Resolve events go to the enabled channels that were sent or queued a trigger of this alert, with the
    alert's dedup key, so PagerDuty closes the incident it opened.
    """
    dedup_key = alert_dedup_key(rule=rule, tenant=tenant, subject=subject)
    now = timezone.now()
    with transaction.atomic():
        alert = Alert.objects.select_for_update().filter(dedup_key=dedup_key, status=AlertStatus.FIRING).first()
        if alert is None:
            return None
        alert.status = AlertStatus.RESOLVED
        alert.resolved_at = now
        alert.save(update_fields=["status", "resolved_at"])
        triggered = AlertNotification.objects.filter(alert=alert, event=NotificationEvent.TRIGGER).values("channel")
        channels = list(_enabled_channels().filter(pk__in=triggered))
        _notifications_enqueue(alert=alert, event=NotificationEvent.RESOLVE, channels=channels, now=now)
        return alert


def alert_notification_retry_now(*, notifications: QuerySet[AlertNotification]) -> int:
    """Make pending or failed notifications due now (an operator's "retry now"); returns how many.

    A failed notification gets one more attempt: if that fails too it is failed again, since it is already
    past the attempt limit. Sent notifications are left alone.
    """
    with transaction.atomic():
        count = notifications.exclude(status=NotificationStatus.SENT).update(
            status=NotificationStatus.PENDING, next_attempt_at=timezone.now()
        )
        if count:
            _delivery_queue_on_commit()
    return count


@dataclass(frozen=True)
class DeliveryRun:
    """What one run of the delivery worker did."""

    sent: int = 0
    retrying: int = 0
    failed: int = 0


def alert_notifications_deliver_due(
    *, now: datetime | None = None, limit: int = DELIVERY_BATCH_LIMIT, max_seconds: float = DELIVERY_RUN_SECONDS
) -> DeliveryRun:
    """Send due pending notifications one at a time until none is due, `limit` were sent or time is up.

    Each notification is sent inside its own transaction that holds its row lock (`SKIP LOCKED`), so
    concurrent workers never send the same one, and a worker that dies mid-send leaves it pending. A failure
    of one notification (refused connection, timeout, HTTP error) is recorded on it and the run goes on.
    `now` fixes the clock (tests); by default each pick uses the current time.
    """
    sent = retrying = failed = 0
    deadline = time.monotonic() + max_seconds
    for _ in range(limit):
        if time.monotonic() > deadline:
            break
        status = _deliver_next_due(now=now or timezone.now())
        if status is None:
            break
        if status == NotificationStatus.SENT:
            sent += 1
        elif status == NotificationStatus.FAILED:
            failed += 1
        else:
            retrying += 1
    return DeliveryRun(sent=sent, retrying=retrying, failed=failed)


def _enabled_channels() -> QuerySet[AlertChannel]:
    return AlertChannel.objects.filter(is_enabled=True).order_by("pk")


def _alert_message(alert: Alert, event: str) -> AlertMessage:
    return AlertMessage(
        alert_id=alert.pk,
        event=event,  # type: ignore[arg-type]
        dedup_key=alert.dedup_key,
        rule=alert.rule,
        severity=alert.severity,
        summary=alert.summary,
        subject=alert.subject,
        tenant=alert.tenant.slug if alert.tenant else None,
        first_fired_at=alert.first_fired_at,
        last_seen_at=alert.last_seen_at,
        occurrences=alert.occurrences,
        resolved_at=alert.resolved_at,
        details=alert.details,
    )


def _payload(channel: AlertChannel, message: AlertMessage) -> dict[str, Any]:
    if channel.kind == ChannelKind.PAGERDUTY:
        return pagerduty_payload(message)  # the routing key is added when sending, never stored
    if channel.kind == ChannelKind.SLACK:
        return slack_payload(message)
    return webhook_payload(message)


def _notifications_enqueue(*, alert: Alert, event: str, channels: list[AlertChannel], now: datetime) -> None:
    # The payload is built now, from the alert as it is at this event, and stored: what a receiver is told
    # about a trigger does not change if the alert is updated or resolved before the delivery.
    if not channels:
        return
    message = _alert_message(alert, event)
    AlertNotification.objects.bulk_create(
        AlertNotification(
            alert=alert, channel=channel, event=event, next_attempt_at=now, payload=_payload(channel, message)
        )
        for channel in channels
    )
    _delivery_queue_on_commit()


def _delivery_queue_on_commit() -> None:
    # robust: a broker that is down must not undo the alert; the minutely beat run delivers it anyway.
    task_enqueue_on_commit("monitoring.tasks.deliver_alert_notifications_task")


def _deliver_next_due(*, now: datetime) -> str | None:
    """Lock, send and record one due notification; returns its new status, or None when none is due."""
    # Per alert and channel, events go out in the order they were queued: a trigger still waiting for a retry
    # holds back the resolve behind it, or PagerDuty would reopen the incident when the trigger finally lands.
    earlier_pending = AlertNotification.objects.filter(
        alert=OuterRef("alert"), channel=OuterRef("channel"), status=NotificationStatus.PENDING, pk__lt=OuterRef("pk")
    )
    with transaction.atomic():
        notification = (
            AlertNotification.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("alert", "channel")
            .filter(status=NotificationStatus.PENDING, next_attempt_at__lte=now)
            .filter(~Exists(earlier_pending))
            .order_by("next_attempt_at", "pk")
            .first()
        )
        if notification is None:
            return None
        channel = notification.channel
        notification.attempts += 1
        if not channel.is_enabled:
            result = SendResult(is_success=False, error="channel disabled before delivery", is_retryable=False)
        else:
            result = _send(channel, notification.payload)
        _record(notification, result, now=now)
        return notification.status


def _send(channel: AlertChannel, payload: dict[str, Any]) -> SendResult:
    if channel.kind == ChannelKind.PAGERDUTY:
        payload = with_routing_key(payload, channel.routing_key)
    try:
        return post_json(channel.endpoint_url, payload, timeout=settings.ALERT_DELIVERY_TIMEOUT_SECONDS)
    except Exception as error:  # one broken send must not stop the run for the others
        return SendResult(is_success=False, error=f"{type(error).__name__}: {error}")


def _record(notification: AlertNotification, result: SendResult, *, now: datetime) -> None:
    channel = notification.channel
    if result.is_success:
        notification.status = NotificationStatus.SENT
        notification.sent_at = now
        notification.last_error = ""
        logger.info(
            "alert notification %s (%s of %s) sent to channel %r at %s",
            notification.pk,
            notification.event,
            notification.alert.dedup_key,
            channel.name,
            channel.destination,
        )
    else:
        # The receiver's error text may echo the URL or key; both are scrubbed before storing or logging.
        notification.last_error = redact(result.error, channel.secrets)
        max_attempts = settings.ALERT_DELIVERY_MAX_ATTEMPTS
        if result.is_retryable and notification.attempts < max_attempts:
            delay = backoff_delay(
                notification.attempts, base=settings.ALERT_RETRY_BASE_SECONDS, cap=settings.ALERT_RETRY_MAX_SECONDS
            )
            notification.next_attempt_at = now + timedelta(seconds=delay)
        else:
            notification.status = NotificationStatus.FAILED
        logger.warning(
            "alert notification %s (%s of %s) to channel %r at %s failed on attempt %d/%d: %s; %s",
            notification.pk,
            notification.event,
            notification.alert.dedup_key,
            channel.name,
            channel.destination,
            notification.attempts,
            max_attempts,
            notification.last_error,
            "giving up (kept as failed)"
            if notification.status == NotificationStatus.FAILED
            else f"next attempt at {notification.next_attempt_at.isoformat()}",
        )
    notification.save(update_fields=["status", "attempts", "next_attempt_at", "last_error", "sent_at"])


# --- Operational alerts: trainings, background tasks, the beat schedule ------------------------------------------
#
# Raised from the Celery signal handlers of the composition root (intellilog/celery.py) and the worker's beat
# watchdog, through the same outbox as the model alerts, so a failed nightly training or a dead scheduler reaches
# the same people as a drifting feature.

TRAINING_SUBJECT = "eta training"


def training_failure_alert(*, tenant: Tenant, detail: str, is_refused: bool) -> Alert:
    """Raise that a tenant's ETA training failed (an error, a killed run) or was refused (quality gate, little data).

    One alert per tenant and kind while it lasts; the next training that registers a version resolves both
    (`training_success_resolve`).
    """
    if is_refused:
        summary = (
            f"ETA training of {tenant.slug} was refused: {detail}. "
            f"`manage.py check_data_quality --tenant {tenant.slug}` shows the report."
        )
    else:
        summary = f"ETA training of {tenant.slug} failed: {detail}"
    return alert_raise(
        rule=AlertRule.TRAINING_REFUSED if is_refused else AlertRule.TRAINING_FAILED,
        tenant=tenant,
        subject=TRAINING_SUBJECT,
        severity=AlertSeverity.WARNING,
        summary=summary[:2000],
        details={"detail": detail[:2000]},
    )


def training_failures_of_versions_alert(*, version_ids: list[int]) -> list[Alert]:
    """Raise a training failure for each version the stale-training sweeper marked FAILED (its process died)."""
    versions = ModelVersion.objects.filter(pk__in=version_ids).select_related("registered_model__tenant")
    return [
        training_failure_alert(
            tenant=version.registered_model.tenant,
            detail=f"version {version.version}: {version.status_detail}",
            is_refused=False,
        )
        for version in versions
    ]


def training_success_resolve(*, tenant: Tenant) -> None:
    """A training of the tenant registered a version: its failed and refused training alerts are over."""
    for rule in (AlertRule.TRAINING_FAILED, AlertRule.TRAINING_REFUSED):
        alert_resolve(rule=rule, tenant=tenant, subject=TRAINING_SUBJECT)


def task_failure_record(*, task_name: str, error: str) -> Alert:
    """Count one more consecutive failure of a background task; at TASK_FAILURE_ALERT_AFTER it becomes a warning.

    The count is the firing alert's occurrences: the first failures are an `info` alert (visible in the admin,
    sent only to channels that take info), which escalates to `warning`, and so to the on-call channels, once
    the task has failed TASK_FAILURE_ALERT_AFTER times without a success in between (`task_success_record`
    resolves it). A single failure of a task that retries or runs again soon is not worth a page.
    """
    dedup_key = alert_dedup_key(rule=AlertRule.TASK_FAILING, tenant=None, subject=task_name)
    firing = Alert.objects.filter(dedup_key=dedup_key, status=AlertStatus.FIRING).values_list("occurrences", flat=True)
    failures = (firing.first() or 0) + 1
    is_repeated = failures >= settings.TASK_FAILURE_ALERT_AFTER
    return alert_raise(
        rule=AlertRule.TASK_FAILING,
        tenant=None,
        subject=task_name,
        severity=AlertSeverity.WARNING if is_repeated else AlertSeverity.INFO,
        summary=f"Background task {task_name} failed {failures} time(s) in a row; last error: {error}"[:2000],
        details={"consecutive_failures": failures, "last_error": error[:2000]},
    )


def task_success_record(*, task_name: str) -> None:
    """A background task succeeded: its run of failures, if any, is over."""
    alert_resolve(rule=AlertRule.TASK_FAILING, tenant=None, subject=task_name)


@dataclass(frozen=True)
class BeatStatus:
    """When the monitoring checks were last queued by beat, and whether that is too long ago."""

    last_run_at: datetime | None
    allowed_gap: timedelta
    is_stopped: bool


def beat_schedule_watch(*, now: datetime | None = None) -> BeatStatus:
    """Raise BEAT_STOPPED when beat has not queued the monitoring checks for twice their interval; resolve it after.

    Reads django-celery-beat's record of the checks' entry (found by task name, so renaming the entry does not
    blind it). The database scheduler writes a run's time up to BEAT_SYNC_SECONDS after the run, so that much
    is allowed on top of the two intervals. An entry that never ran counts from when it was registered; no entry
    at all means beat never started against this database, which is stopped too. Critical: with beat down no
    check, retraining or alert delivery is scheduled, so nothing else would tell anyone.
    """
    from django_celery_beat.models import PeriodicTask  # a third-party table, read only here

    now = now or timezone.now()
    allowed_gap = timedelta(minutes=2 * settings.MONITORING_CHECK_MINUTES, seconds=BEAT_SYNC_SECONDS)
    entries = PeriodicTask.objects.filter(task=MONITORING_CHECKS_TASK, enabled=True)
    last_seen = max((entry.last_run_at or entry.date_changed for entry in entries), default=None)
    is_stopped = last_seen is None or now - last_seen > allowed_gap
    if is_stopped:
        since = f"since {last_seen.isoformat()}" if last_seen else "ever (beat never ran against this database)"
        alert_raise(
            rule=AlertRule.BEAT_STOPPED,
            tenant=None,
            subject=MONITORING_CHECKS_TASK,
            severity=AlertSeverity.CRITICAL,
            summary=f"Beat has not queued the monitoring checks {since}; allowed gap {allowed_gap}",
            details={"last_run_at": last_seen.isoformat() if last_seen else None, "allowed_gap_s": allowed_gap.seconds},
        )
    else:
        alert_resolve(rule=AlertRule.BEAT_STOPPED, tenant=None, subject=MONITORING_CHECKS_TASK)
    return BeatStatus(last_run_at=last_seen, allowed_gap=allowed_gap, is_stopped=is_stopped)
