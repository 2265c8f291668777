"""Realized accuracy of a serving version: reported outcomes against its predictions, and its alert."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction

from monitoring import metrics
from monitoring.choices import AlertRule, AlertSeverity, CheckStatus
from monitoring.live.retraining import retraining_on_new_alert
from monitoring.live.selectors import OutcomeWindow, outcome_window
from monitoring.live.windows import check_instant
from monitoring.models import AccuracyReport, Alert
from monitoring.services import alert_raise, alert_resolve
from predictions.ml.evaluation import Metrics, evaluate
from registry.models import ModelVersion
from tenants.models import Tenant

logger = logging.getLogger(__name__)


def realized_accuracy_check(
    *, tenant: Tenant, version: ModelVersion, window_end: dt.datetime | None = None
) -> AccuracyReport:
    """MAE and share within 5 minutes of a version's reported outcomes; store, publish, alert on degradation.

    Two windows of outcomes (by when they were reported): the last ACCURACY_WINDOW_HOURS, with per-segment
    figures (area, vehicle, weather, traffic of the audited order), and its last
    ACCURACY_RECENT_WINDOW_MINUTES, which shows a sudden change within the hour instead of a day later. The
    baseline is the version's own validation MAE (`version.metrics["mae"]`). Degraded: a window with at
    least ACCURACY_MIN_OUTCOMES outcomes whose MAE exceeds the baseline by more than ACCURACY_TOLERANCE
    (critical beyond twice the tolerance); that raises the version's `accuracy_degradation` alert, which
    may queue a retraining when it newly fires on a champion. Enough outcomes and neither window degraded
    resolves it; too few outcomes, or no baseline, does neither.

    One report per version and window end (to the minute): a second run returns the first one's report.
    """
    window_end = check_instant(window_end)
    stored = AccuracyReport.objects.filter(model_version=version, window_end=window_end).first()
    if stored is not None:
        return stored
    window_start = window_end - dt.timedelta(hours=settings.ACCURACY_WINDOW_HOURS)
    recent_start = max(window_start, window_end - dt.timedelta(minutes=settings.ACCURACY_RECENT_WINDOW_MINUTES))
    outcomes = outcome_window(tenant=tenant, version=version, start=window_start, end=window_end)
    recent = outcomes.since(recent_start)
    baseline = _baseline_mae(version)
    report = AccuracyReport(
        tenant=tenant,
        model_version=version,
        window_start=window_start,
        window_end=window_end,
        recent_window_start=recent_start,
        status=CheckStatus.INSUFFICIENT_DATA,
        outcomes=len(outcomes),
        recent_outcomes=len(recent),
        baseline_mae=baseline,
        tolerance=settings.ACCURACY_TOLERANCE,
        min_outcomes=settings.ACCURACY_MIN_OUTCOMES,
    )
    if len(outcomes):
        overall, report.segments = _metrics(outcomes)
        report.mae, report.within_5_share = overall.mae, overall.within_5_min
        report.mean_error = float((outcomes.predicted - outcomes.actual).mean())
        metrics.realized_accuracy_set(
            tenant=tenant.slug,
            model_version=str(version.version),
            mae_minutes=overall.mae,
            within_5_share=overall.within_5_min,
        )
    if len(recent):
        recent_overall, _ = _metrics(recent)
        report.recent_mae, report.recent_within_5_share = recent_overall.mae, recent_overall.within_5_min
    judged = [
        mae
        for count, mae in ((report.outcomes, report.mae), (report.recent_outcomes, report.recent_mae))
        if count >= report.min_outcomes and mae is not None
    ]
    if judged and baseline is not None:
        report.status = CheckStatus.OK
        report.is_degraded = max(judged) > baseline * (1 + report.tolerance)
    try:
        with transaction.atomic():
            if report.status == CheckStatus.OK:
                report.alert = _alert(report, worst_mae=max(judged))
            report.save()
    except IntegrityError:
        return AccuracyReport.objects.get(model_version=version, window_end=window_end)
    if report.alert is not None and report.alert.occurrences == 1:
        retraining_on_new_alert(tenant=tenant, version=version, alert=report.alert)
    logger.info(
        "accuracy check of %s to %s: %d outcomes MAE %s (recent %d: %s), baseline %s, degraded %s",
        version,
        window_end.isoformat(),
        report.outcomes,
        report.mae,
        report.recent_outcomes,
        report.recent_mae,
        baseline,
        report.is_degraded,
    )
    return report


def _baseline_mae(version: ModelVersion) -> float | None:
    value = (version.metrics or {}).get("mae")
    return float(value) if isinstance(value, (int, float)) and value > 0 else None


def _metrics(window: OutcomeWindow) -> tuple[Metrics, list[dict[str, Any]]]:
    """Overall metrics and the per-segment figures (the evaluation report's definitions of MAE and within 5)."""
    report = evaluate(window.actual, window.predicted, segments=window.segments)
    segments = [
        {
            "dimension": segment.dimension,
            "value": segment.value,
            "count": segment.metrics.count,
            "mae": segment.metrics.mae,
            "within_5_share": segment.metrics.within_5_min,
            "mae_gap": segment.mae_gap,
        }
        for segment in report.segments
    ]
    return report.overall, segments


def _alert(report: AccuracyReport, *, worst_mae: float) -> Alert | None:
    subject = str(report.model_version)
    if not report.is_degraded:
        alert_resolve(rule=AlertRule.ACCURACY_DEGRADATION, tenant=report.tenant, subject=subject)
        return None
    baseline = report.baseline_mae
    assert baseline is not None  # a degraded report has a baseline
    increase = worst_mae / baseline - 1
    is_critical = increase > 2 * report.tolerance
    return alert_raise(
        rule=AlertRule.ACCURACY_DEGRADATION,
        tenant=report.tenant,
        subject=subject,
        severity=AlertSeverity.CRITICAL if is_critical else AlertSeverity.WARNING,
        summary=(
            f"{subject}: realized MAE {worst_mae:.2f} min is {increase:+.0%} over its validation MAE "
            f"{baseline:.2f} min (tolerance {report.tolerance:+.0%})"
        ),
        details={
            "model_version_id": report.model_version_id,
            "window_end": report.window_end.isoformat(),
            "baseline_mae": baseline,
            "window": {"start": report.window_start.isoformat(), "outcomes": report.outcomes, "mae": report.mae},
            "recent_window": {
                "start": report.recent_window_start.isoformat(),
                "outcomes": report.recent_outcomes,
                "mae": report.recent_mae,
            },
            "worst_segments": sorted(
                (segment for segment in report.segments if segment["count"] >= report.min_outcomes),
                key=lambda segment: -segment["mae"],
            )[:3],
        },
    )
