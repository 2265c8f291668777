from __future__ import annotations

from django.db import models

# --- Alerts -------------------------------------------------------------------------------------------------


class AlertRule(models.TextChoices):
    DRIFT = "drift", "Drift"
    ACCURACY_DEGRADATION = "accuracy_degradation", "Accuracy degradation"
    DATA_QUALITY = "data_quality", "Data quality below threshold"
    SERVING_ERRORS = "serving_errors", "Serving errors"
    STALE_FEATURES = "stale_features", "Stale features"
    TRAINING_FAILED = "training_failed", "Training failed"
    TRAINING_REFUSED = "training_refused", "Training refused"
    TASK_FAILING = "task_failing", "Background task keeps failing"
    BEAT_STOPPED = "beat_stopped", "Beat schedule stopped"


class AlertSeverity(models.TextChoices):
    # Declared from least to most severe: `severity_rank` relies on this order.
    INFO = "info", "Info"
    WARNING = "warning", "Warning"
    CRITICAL = "critical", "Critical"


def severity_rank(severity: str) -> int:
    """0 for info, 1 for warning, 2 for critical: compares severities ("at least warning")."""
    return AlertSeverity.values.index(severity)


class AlertStatus(models.TextChoices):
    FIRING = "firing", "Firing"
    RESOLVED = "resolved", "Resolved"


class ChannelKind(models.TextChoices):
    WEBHOOK = "webhook", "Generic webhook (JSON)"
    PAGERDUTY = "pagerduty", "PagerDuty Events API v2"
    SLACK = "slack", "Slack-compatible incoming webhook"


class NotificationEvent(models.TextChoices):
    TRIGGER = "trigger", "Trigger"
    RESOLVE = "resolve", "Resolve"


class NotificationStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"


# --- Live-traffic checks ------------------------------------------------------------------------------------


class CheckStatus(models.TextChoices):
    """Whether a check had enough data for a verdict (the drift statistics' own status values)."""

    OK = "ok", "Checked"
    INSUFFICIENT_DATA = "insufficient_data", "Insufficient data"


class DriftSeverity(models.TextChoices):
    # The drift statistics' severity levels; declared from least to most severe.
    NONE = "none", "None"
    WARNING = "warning", "Warning"
    CRITICAL = "critical", "Critical"


class RetrainingDecision(models.TextChoices):
    QUEUED = "queued", "Retraining queued"
    COOLING_DOWN = "cooling_down", "Skipped: a version was trained or queued within the cool-down"
    DISABLED = "disabled", "Skipped: retraining on alerts is switched off"
