"""Monitoring tables."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from monitoring.alerting.transport import url_for_display, url_secrets
from monitoring.choices import (
    AlertRule,
    AlertSeverity,
    AlertStatus,
    ChannelKind,
    NotificationEvent,
    NotificationStatus,
    severity_rank,
)
from monitoring.constants import DEDUP_KEY_MAX_LENGTH, PAGERDUTY_EVENTS_URL
from tenants.models import Tenant

# --- Alerts -------------------------------------------------------------------------------------------------


class AlertChannel(models.Model):
    """A destination for alert notifications, edited by operators in the admin.

    Every enabled channel receives the alerts at or above its minimum severity. The URL of a webhook or Slack
    channel usually embeds a token and the PagerDuty routing key is a secret: neither is ever logged, and
    the admin lists only the destination's host.
    """

    name = models.CharField(max_length=100, unique=True)
    kind = models.CharField(max_length=16, choices=ChannelKind.choices)
    url = models.URLField(
        max_length=500,
        blank=True,
        help_text=f"Where to POST. Required for webhook and Slack; for PagerDuty, blank means {PAGERDUTY_EVENTS_URL}.",
    )
    routing_key = models.CharField(
        max_length=100, blank=True, help_text="PagerDuty only: the integration key of the Events API v2 integration."
    )
    min_severity = models.CharField(
        max_length=16,
        choices=AlertSeverity.choices,
        default=AlertSeverity.WARNING,
        help_text="Alerts below this severity are not sent to this channel.",
    )
    is_enabled = models.BooleanField("enabled", default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(kind=ChannelKind.PAGERDUTY) | ~Q(routing_key=""),
                name="alert_channel_pagerduty_has_routing_key",
            ),
            models.CheckConstraint(
                condition=Q(kind=ChannelKind.PAGERDUTY) | ~Q(url=""),
                name="alert_channel_url_unless_pagerduty",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.kind})"

    def clean(self) -> None:
        if self.kind == ChannelKind.PAGERDUTY and not self.routing_key:
            raise ValidationError({"routing_key": "A PagerDuty channel needs its routing key."})
        if self.kind != ChannelKind.PAGERDUTY and not self.url:
            raise ValidationError({"url": "A webhook or Slack channel needs the URL to POST to."})
        if self.kind != ChannelKind.PAGERDUTY and self.routing_key:
            raise ValidationError({"routing_key": "Only PagerDuty channels use a routing key."})

    @property
    def endpoint_url(self) -> str:
        return self.url or PAGERDUTY_EVENTS_URL

    @property
    def destination(self) -> str:
        """The endpoint's scheme and host only: safe to show and log."""
        return url_for_display(self.endpoint_url)

    @property
    def secrets(self) -> tuple[str, ...]:
        """Values that must never appear in a log line or a stored error message."""
        return (*url_secrets(self.endpoint_url), *([self.routing_key] if self.routing_key else []))

    def accepts(self, severity: str) -> bool:
        return severity_rank(severity) >= severity_rank(self.min_severity)


class Alert(models.Model):
    """One firing episode of an alert rule for a subject, from first firing to resolution.

    Raising the same condition again while it fires updates this row (last seen, occurrence count) instead
    of adding one: a partial unique constraint allows one FIRING alert per dedup key. Once resolved, the row
    is history; the next firing of the condition is a new alert with the same dedup key.
    """

    tenant = models.ForeignKey(
        Tenant, on_delete=models.PROTECT, null=True, blank=True, related_name="+", help_text="empty: platform-wide"
    )
    rule = models.CharField(max_length=32, choices=AlertRule.choices)
    subject = models.CharField(max_length=200, help_text="what the rule fired on, e.g. a model version or feature")
    severity = models.CharField(max_length=16, choices=AlertSeverity.choices)
    dedup_key = models.CharField(max_length=DEDUP_KEY_MAX_LENGTH)
    status = models.CharField(max_length=16, choices=AlertStatus.choices, default=AlertStatus.FIRING)
    summary = models.TextField()
    details = models.JSONField(default=dict, blank=True)
    first_fired_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()
    occurrences = models.PositiveIntegerField(default=1)
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-first_fired_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["dedup_key"], condition=Q(status=AlertStatus.FIRING), name="alert_one_firing_per_dedup_key"
            ),
            models.CheckConstraint(
                condition=Q(status=AlertStatus.FIRING, resolved_at__isnull=True)
                | Q(status=AlertStatus.RESOLVED, resolved_at__isnull=False),
                name="alert_resolved_at_iff_resolved",
            ),
        ]
        indexes = [models.Index(fields=["rule", "status"], name="alert_rule_status_idx")]

    def __str__(self) -> str:
        return f"{self.dedup_key} ({self.status})"


class AlertNotification(models.Model):
    """The outbox: one event (trigger or resolve) of an alert to deliver to one channel.

    Written in the same transaction as the alert change, delivered later by a worker with retries. A row
    that runs out of attempts becomes FAILED and stays, with its last error, for an operator to retry.
    """

    alert = models.ForeignKey(Alert, on_delete=models.PROTECT, related_name="notifications")
    # PROTECT: the delivery history keeps its channel; an operator disables a channel instead of deleting it.
    channel = models.ForeignKey(AlertChannel, on_delete=models.PROTECT, related_name="notifications")
    event = models.CharField(max_length=16, choices=NotificationEvent.choices)
    status = models.CharField(max_length=16, choices=NotificationStatus.choices, default=NotificationStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    last_error = models.TextField(blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    payload = models.JSONField(help_text="the body sent (a PagerDuty routing key is added only when sending)")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # The delivery task's query: due pending rows, oldest first.
            models.Index(
                fields=["next_attempt_at", "id"],
                condition=Q(status=NotificationStatus.PENDING),
                name="alert_notification_due_idx",
            )
        ]

    def __str__(self) -> str:
        return f"{self.event} of alert {self.alert_id} to {self.channel}"
