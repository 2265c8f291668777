"""Monitoring tables."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from intellilog.append_only import AppendOnlyModel
from monitoring.alerting.transport import url_for_display, url_secrets
from monitoring.choices import (
    AlertRule,
    AlertSeverity,
    AlertStatus,
    ChannelKind,
    CheckStatus,
    DriftSeverity,
    NotificationEvent,
    NotificationStatus,
    RetrainingDecision,
    severity_rank,
)
from monitoring.constants import DEDUP_KEY_MAX_LENGTH, PAGERDUTY_EVENTS_URL
from registry.models import ModelVersion
from tenants.models import Tenant, TenantOwned

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


class Alert(AppendOnlyModel):
    """One firing episode of an alert rule for a subject, from first firing to resolution.

    Raising the same condition again while it fires updates this row (last seen, occurrence count) instead
    of adding one: a partial unique constraint allows one FIRING alert per dedup key. Once resolved, the row
    is history, frozen (append-only while not firing, never deleted); the next firing of the condition is a
    new alert with the same dedup key.
    """

    append_only_mutable_while = ("status", AlertStatus.FIRING.value)

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


# --- Live-traffic checks: drift, realized accuracy, retraining ------------------------------------------------


class DriftReference(TenantOwned):
    """What a serving version's live traffic is compared with: a sample of its training data, built once.

    Rebuilt from the version's recorded training snapshot (lineage), restricted to the snapshot's last
    DRIFT_REFERENCE_DAYS, and sampled to at most DRIFT_REFERENCE_MAX_ROWS rows (seeded), with the version's
    own ETA for each row; so a drift check every few minutes neither retrains nor rebuilds history. `columns`
    holds the tested features, `order_hour` (for time-of-day matching) and `predicted_eta_minutes`, as JSON
    lists (missing values null); `features` names the tested ones by kind. `error_profile` is the version's
    MAE and bias on its own validation window per hour of day, the baseline of realized accuracy, and
    `segment_error_profile` how each segment's validation errors differ from those of their hours (the baseline
    of that segment's CUSUM). Never changed once written.
    """

    model_version = models.OneToOneField(ModelVersion, on_delete=models.PROTECT, related_name="+")
    features = models.JSONField(help_text='tested features: {"numeric": [...], "categorical": [...]}')
    columns = models.JSONField(help_text="the sample, column by column")
    rows = models.PositiveIntegerField(help_text="rows in the sample")
    error_profile = models.JSONField(
        default=dict,
        blank=True,
        help_text='validation errors by hour of day: {"17": {"mae": 3.9, "bias": 0.2, "count": 512}}',
    )
    segment_error_profile = models.JSONField(
        default=dict,
        blank=True,
        help_text='per segment, validation errors against their hours: {"weather": {"stormy": {"mean_sd": 0.1, ...}}}',
    )
    source = models.JSONField(help_text="where the sample came from: snapshot selection, period, row counts")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"reference of {self.model_version} ({self.rows} rows)"


class DriftReport(TenantOwned):
    """One drift check of a serving version: its last window of audited predictions against the reference.

    `result` is the statistics' `DriftResult.as_dict()` against the stratified reference (every test with its
    p-values, effect sizes and plot histograms, the thresholds used, the ETA impact), with the strata and the
    unadjusted check's summary under "raw"; the columns beside it are what lists and filters need. One
    report per version and window end, so a check that runs twice for the same minute stores one report.
    `alert` is the drift alert this report raised or updated, if any.
    """

    model_version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="+")
    reference = models.ForeignKey(DriftReference, on_delete=models.PROTECT, related_name="reports", null=True)
    window_start = models.DateTimeField()
    window_end = models.DateTimeField()
    status = models.CharField(max_length=24, choices=CheckStatus.choices)
    severity = models.CharField(max_length=16, choices=DriftSeverity.choices, default=DriftSeverity.NONE)
    is_drifted = models.BooleanField(default=False)
    drifted_features = models.JSONField(default=list, blank=True)
    n_reference = models.PositiveIntegerField(default=0, help_text="reference rows after stratified matching")
    n_current = models.PositiveIntegerField(default=0, help_text="predictions in the window")
    raw_drifted_features = models.JSONField(
        default=list, blank=True, help_text="drifted against the reference matched on time of day only (unadjusted)"
    )
    impact_minutes = models.FloatField(
        null=True, blank=True, help_text="how far the predicted ETAs moved from the reference's (1-Wasserstein, min)"
    )
    result = models.JSONField(default=dict, blank=True)
    note = models.TextField(blank=True)
    alert = models.ForeignKey(Alert, on_delete=models.PROTECT, related_name="+", null=True, blank=True)
    duration_ms = models.FloatField(default=0.0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-window_end", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["model_version", "window_end"], name="drift_report_one_per_window")
        ]
        indexes = [models.Index(fields=["tenant", "model_version", "-window_end"], name="drift_report_version_idx")]

    def __str__(self) -> str:
        return f"drift of {self.model_version} to {self.window_end:%Y-%m-%d %H:%M} ({self.severity})"


class AccuracyReport(TenantOwned):
    """Realized accuracy of a serving version: reported outcomes joined to their predictions over a window.

    Over the last ACCURACY_WINDOW_HOURS: MAE, share within 5 minutes, mean signed error (bias; positive: too
    slow) and per-segment figures; MAE and bias for the most recent ACCURACY_RECENT_WINDOW_MINUTES too. Each
    window is compared with the version's validation errors at the same hours of day (the `baseline_*`
    columns; `validation_mae` is the whole validation window's): `is_degraded` when, on at least the minimum
    number of outcomes, a window's MAE is worse by more than `tolerance` or its bias moved by more than
    `max_bias_minutes`, and significantly so (`findings` holds each window's test), or when the sequential
    change detector (a CUSUM of the outcomes of the last ACCURACY_CUSUM_HOURS, overall and per segment) alarms
    (`change_detection`; `cusum_ratio` is its largest statistic over its threshold). One report per version and
    window end.
    """

    model_version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="+")
    window_start = models.DateTimeField()
    window_end = models.DateTimeField()
    recent_window_start = models.DateTimeField()
    status = models.CharField(max_length=24, choices=CheckStatus.choices)
    outcomes = models.PositiveIntegerField(default=0)
    mae = models.FloatField(null=True, blank=True)
    within_5_share = models.FloatField(null=True, blank=True)
    mean_error = models.FloatField(null=True, blank=True, help_text="bias: predicted minus actual, averaged")
    recent_outcomes = models.PositiveIntegerField(default=0)
    recent_mae = models.FloatField(null=True, blank=True)
    recent_within_5_share = models.FloatField(null=True, blank=True)
    recent_mean_error = models.FloatField(null=True, blank=True)
    validation_mae = models.FloatField(null=True, blank=True, help_text="the version's validation MAE")
    baseline_mae = models.FloatField(null=True, blank=True, help_text="validation MAE at the window's hours")
    baseline_mean_error = models.FloatField(null=True, blank=True, help_text="validation bias at those hours")
    recent_baseline_mae = models.FloatField(null=True, blank=True)
    recent_baseline_mean_error = models.FloatField(null=True, blank=True)
    tolerance = models.FloatField(help_text="largest MAE increase (a share) that is not degradation")
    max_bias_minutes = models.FloatField(help_text="largest change of the bias that is not degradation")
    min_outcomes = models.PositiveIntegerField()
    is_degraded = models.BooleanField(default=False)
    segments = models.JSONField(default=list, blank=True, help_text="per area, vehicle, weather, traffic")
    findings = models.JSONField(
        default=list, blank=True, help_text="per window: live and baseline errors, increases, p-values, verdicts"
    )
    cusum_ratio = models.FloatField(
        null=True, blank=True, help_text="largest CUSUM statistic over its threshold (above 1: alarm)"
    )
    change_detection = models.JSONField(
        default=dict, blank=True, help_text="CUSUM of the recent outcomes: k, h, overall and the closest segments"
    )
    alert = models.ForeignKey(Alert, on_delete=models.PROTECT, related_name="+", null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-window_end", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["model_version", "window_end"], name="accuracy_report_one_per_window")
        ]
        indexes = [models.Index(fields=["tenant", "model_version", "-window_end"], name="accuracy_report_version_idx")]

    def __str__(self) -> str:
        return f"accuracy of {self.model_version} to {self.window_end:%Y-%m-%d %H:%M}"


class RetrainingTrigger(TenantOwned):
    """A drift or accuracy alert that newly fired on a champion, and whether it queued a retraining.

    Written under a lock on the tenant, so two alerts firing at once queue one training; the cool-down reads
    these rows and the versions' creation times. Never changed once written.
    """

    alert = models.ForeignKey(Alert, on_delete=models.PROTECT, related_name="+")
    decision = models.CharField(max_length=16, choices=RetrainingDecision.choices)
    reason = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.get_decision_display()} for alert {self.alert_id}"
