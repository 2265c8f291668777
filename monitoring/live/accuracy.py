"""Realized accuracy of a serving version: reported outcomes against its predictions, and its alert."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction

from monitoring import metrics
from monitoring.choices import AlertRule, AlertSeverity, CheckStatus
from monitoring.live.reference import ReferenceUnavailable, drift_reference_get_or_build
from monitoring.live.retraining import retraining_on_new_alert
from monitoring.live.sampling import matched_baseline
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
    """MAE, share within 5 minutes and bias of a version's reported outcomes; store, publish, alert on degradation.

    Two windows of outcomes (by when they were reported): the last ACCURACY_WINDOW_HOURS, with per-segment
    figures (area, vehicle, weather, traffic of the audited order), and its last
    ACCURACY_RECENT_WINDOW_MINUTES, which shows a sudden change within the hour instead of a day later. Each
    is compared with the version's own validation errors at the same hours of day (its validation MAE and
    bias by hour, weighted by the window's orders; the overall `version.metrics["mae"]` where an hour has too
    few): errors depend on the hour, and an evening hour judged against the whole day would always look
    degraded. Degraded: a window with at least ACCURACY_MIN_OUTCOMES outcomes whose MAE exceeds its baseline
    by more than ACCURACY_TOLERANCE, or whose bias moved by more than ACCURACY_MAX_BIAS_MINUTES (a slowdown
    shows in the bias first; critical beyond twice either limit). That raises the version's
    `accuracy_degradation` alert, which may queue a retraining when it newly fires on a champion. Enough
    outcomes and no window degraded resolves it; too few outcomes, or no validation MAE, does neither.

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
    validation_mae = _validation_mae(version)
    report = AccuracyReport(
        tenant=tenant,
        model_version=version,
        window_start=window_start,
        window_end=window_end,
        recent_window_start=recent_start,
        status=CheckStatus.INSUFFICIENT_DATA,
        outcomes=len(outcomes),
        recent_outcomes=len(recent),
        validation_mae=validation_mae,
        tolerance=settings.ACCURACY_TOLERANCE,
        max_bias_minutes=settings.ACCURACY_MAX_BIAS_MINUTES,
        min_outcomes=settings.ACCURACY_MIN_OUTCOMES,
    )
    if len(outcomes):
        overall, report.segments = _metrics(outcomes)
        report.mae, report.within_5_share = overall.mae, overall.within_5_min
        report.mean_error = outcomes.mean_error
        metrics.realized_accuracy_set(
            tenant=tenant.slug,
            model_version=str(version.version),
            mae_minutes=overall.mae,
            within_5_share=overall.within_5_min,
        )
    if len(recent):
        recent_overall, _ = _metrics(recent)
        report.recent_mae, report.recent_within_5_share = recent_overall.mae, recent_overall.within_5_min
        report.recent_mean_error = recent.mean_error
    if validation_mae is not None:
        profile = _error_profile(version)
        bias = _overall_bias(profile)
        hours, recent_hours = outcomes.order_hours, recent.order_hours
        report.baseline_mae = matched_baseline(profile, hours, figure="mae", overall=validation_mae)
        report.baseline_mean_error = matched_baseline(profile, hours, figure="bias", overall=bias)
        report.recent_baseline_mae = matched_baseline(profile, recent_hours, figure="mae", overall=validation_mae)
        report.recent_baseline_mean_error = matched_baseline(profile, recent_hours, figure="bias", overall=bias)
    findings = _findings(report)
    if any(finding.is_judged for finding in findings):
        report.status = CheckStatus.OK
        report.is_degraded = any(finding.is_degraded for finding in findings)
    try:
        with transaction.atomic():
            if report.status == CheckStatus.OK:
                report.alert = _alert(report, findings)
            report.save()
    except IntegrityError:
        return AccuracyReport.objects.get(model_version=version, window_end=window_end)
    if report.alert is not None and report.alert.occurrences == 1:
        retraining_on_new_alert(tenant=tenant, version=version, alert=report.alert)
    logger.info(
        "accuracy check of %s to %s: %d outcomes MAE %s (baseline %s), recent %d: %s (baseline %s), degraded %s",
        version,
        window_end.isoformat(),
        report.outcomes,
        report.mae,
        report.baseline_mae,
        report.recent_outcomes,
        report.recent_mae,
        report.recent_baseline_mae,
        report.is_degraded,
    )
    return report


def _validation_mae(version: ModelVersion) -> float | None:
    value = (version.metrics or {}).get("mae")
    return float(value) if isinstance(value, (int, float)) and value > 0 else None


def _overall_bias(profile: dict[str, dict[str, float]] | None) -> float:
    """The validation bias over all hours (0 without a profile: an unbiased model is the neutral guess)."""
    counted = [(figures.get("bias", 0.0), figures["count"]) for figures in (profile or {}).values()]
    total = sum(count for _, count in counted)
    return sum(bias * count for bias, count in counted) / total if total else 0.0


def _error_profile(version: ModelVersion) -> dict[str, dict[str, float]] | None:
    """The version's validation errors by hour of day (None when its training data cannot be read back)."""
    try:
        return drift_reference_get_or_build(version=version).error_profile
    except ReferenceUnavailable:
        return None


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


@dataclass(frozen=True)
class Finding:
    """One window's MAE and bias against its baselines, and whether they break the limits."""

    window: str
    outcomes: int
    mae: float | None
    baseline_mae: float | None
    mean_error: float | None
    baseline_mean_error: float | None
    min_outcomes: int
    tolerance: float
    max_bias_minutes: float

    @property
    def is_judged(self) -> bool:
        return self.outcomes >= self.min_outcomes and None not in (self.mae, self.baseline_mae, self.mean_error)

    @property
    def mae_increase(self) -> float:
        """MAE over its baseline minus 1 (0.2: 20% worse)."""
        return self.mae / self.baseline_mae - 1 if self.is_judged else 0.0  # type: ignore[operator]

    @property
    def bias_shift(self) -> float:
        """Minutes the bias moved from its baseline (negative: ETAs now too short, deliveries slower)."""
        return self.mean_error - (self.baseline_mean_error or 0.0) if self.is_judged else 0.0  # type: ignore[operator]

    @property
    def is_mae_degraded(self) -> bool:
        return self.is_judged and self.mae_increase > self.tolerance

    @property
    def is_bias_degraded(self) -> bool:
        return self.is_judged and abs(self.bias_shift) > self.max_bias_minutes

    @property
    def is_degraded(self) -> bool:
        return self.is_mae_degraded or self.is_bias_degraded

    @property
    def is_critical(self) -> bool:
        return self.mae_increase > 2 * self.tolerance or abs(self.bias_shift) > 2 * self.max_bias_minutes

    def describe(self) -> str:
        parts = []
        if self.is_mae_degraded:
            parts.append(f"MAE {self.mae:.2f} min is {self.mae_increase:+.0%} over {self.baseline_mae:.2f}")
        if self.is_bias_degraded:
            parts.append(f"bias {self.mean_error:+.2f} min moved {self.bias_shift:+.2f} min")
        return f"{self.window}: {' and '.join(parts)}"


def _findings(report: AccuracyReport) -> list[Finding]:
    common = {
        "min_outcomes": report.min_outcomes,
        "tolerance": report.tolerance,
        "max_bias_minutes": report.max_bias_minutes,
    }
    hours = round((report.window_end - report.window_start).total_seconds() / 3600)
    minutes = round((report.window_end - report.recent_window_start).total_seconds() / 60)
    return [
        Finding(
            f"last {hours} h",
            report.outcomes,
            report.mae,
            report.baseline_mae,
            report.mean_error,
            report.baseline_mean_error,
            **common,
        ),
        Finding(
            f"last {minutes} min",
            report.recent_outcomes,
            report.recent_mae,
            report.recent_baseline_mae,
            report.recent_mean_error,
            report.recent_baseline_mean_error,
            **common,
        ),
    ]


def _alert(report: AccuracyReport, findings: list[Finding]) -> Alert | None:
    """Raise the version's accuracy alert for a degraded report, resolve it otherwise."""
    subject = str(report.model_version)
    if not report.is_degraded:
        alert_resolve(rule=AlertRule.ACCURACY_DEGRADATION, tenant=report.tenant, subject=subject)
        return None
    degraded = [finding for finding in findings if finding.is_degraded]
    return alert_raise(
        rule=AlertRule.ACCURACY_DEGRADATION,
        tenant=report.tenant,
        subject=subject,
        severity=AlertSeverity.CRITICAL if any(f.is_critical for f in degraded) else AlertSeverity.WARNING,
        summary=(
            f"{subject}: realized accuracy worse than validation at the same hours ("
            + "; ".join(finding.describe() for finding in degraded)
            + f"; limits {report.tolerance:+.0%} MAE, {report.max_bias_minutes:g} min bias)"
        ),
        details={
            "model_version_id": report.model_version_id,
            "window_end": report.window_end.isoformat(),
            "validation_mae": report.validation_mae,
            "windows": [
                {
                    "window": finding.window,
                    "outcomes": finding.outcomes,
                    "mae": finding.mae,
                    "baseline_mae": finding.baseline_mae,
                    "mean_error": finding.mean_error,
                    "baseline_mean_error": finding.baseline_mean_error,
                    "is_degraded": finding.is_degraded,
                }
                for finding in findings
            ],
            "worst_segments": sorted(
                (segment for segment in report.segments if segment["count"] >= report.min_outcomes),
                key=lambda segment: -segment["mae"],
            )[:3],
        },
    )
