"""Realized accuracy of a serving version: reported outcomes against its predictions, and its alert."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction

from core.evaluation import Metrics, evaluate
from monitoring import metrics
from monitoring.choices import AlertRule, AlertSeverity, CheckStatus
from monitoring.live.accuracy_rules import (
    AccuracyLimits,
    Baseline,
    ChangeDetection,
    ChangeLimits,
    ErrorSummary,
    WindowJudgement,
    change_detection,
    error_summary,
    matched_baseline,
    pooled_summary,
)
from monitoring.live.reference import ReferenceUnavailable, drift_reference_get_or_build
from monitoring.live.retraining import retraining_on_new_alert
from monitoring.live.selectors import OutcomeWindow, outcome_window
from monitoring.live.windows import check_instant
from monitoring.models import AccuracyReport, Alert
from monitoring.services import alert_raise, alert_resolve
from registry.models import ModelVersion
from tenants.models import Tenant

logger = logging.getLogger(__name__)


def realized_accuracy_check(
    *, tenant: Tenant, version: ModelVersion, window_end: dt.datetime | None = None
) -> AccuracyReport:
    """MAE, share within 5 minutes and bias of a version's reported outcomes; store, publish, alert on degradation.

    Two windows of outcomes (by when they were reported): the last ACCURACY_WINDOW_HOURS, with per-segment
    figures (area, vehicle, weather, traffic of the audited order), and its last
    ACCURACY_RECENT_WINDOW_MINUTES (reaching back to the last ACCURACY_MIN_OUTCOMES outcomes when those minutes
    hold fewer), which shows a sudden change within the hour instead of a day later. Each
    is compared with the version's own validation errors at the same hours of day (its validation MAE and
    bias by hour, weighted by the window's orders; the overall `version.metrics["mae"]` where an hour has too
    few): errors depend on the hour, and an evening hour judged against the whole day would always look
    degraded. Degraded: a window with at least ACCURACY_MIN_OUTCOMES outcomes whose MAE exceeds its baseline
    by more than ACCURACY_TOLERANCE, or whose bias moved by more than ACCURACY_MAX_BIAS_MINUTES (a slowdown
    shows in the bias first), significantly at ACCURACY_ALPHA (see `accuracy_rules`; critical beyond twice
    either limit). Degraded too: the sequential change detector alarms, a two-sided CUSUM (ACCURACY_CUSUM_K,
    ACCURACY_CUSUM_H) of each outcome's error standardised by the validation bias and sd at its order's hour, over
    the outcomes of the last ACCURACY_CUSUM_HOURS (at least ACCURACY_MIN_OUTCOMES) in the order they were
    reported, overall and per segment, each against a threshold that spends its share of a daily family-wise
    budget of ACCURACY_CUSUM_DAILY_ALPHA false alarms and of a per-check one (ACCURACY_CUSUM_CHECK_ALPHA: the
    share of checks with any stream above its threshold when nothing changed), alarming only on a mean deviation
    of at least ACCURACY_CUSUM_MIN_EFFECT_MINUTES (see `accuracy_rules.change_detection`): it grows with every
    changed outcome instead of being diluted by the unchanged ones before them, and a slowdown of one area shows in
    that area's statistic. It is recomputed from the stored outcomes at every check, so a rerun gives the same answer. A
    degraded report raises the version's `accuracy_degradation` alert (naming the CUSUM's segment and
    direction), which may queue a retraining when it newly fires on a champion. Enough outcomes and nothing
    degraded resolves it; too few outcomes, or no validation MAE, does neither.

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
    if len(recent) < settings.ACCURACY_MIN_OUTCOMES and len(outcomes) > len(recent):
        # A quiet hour: the recent window reaches back to the last ACCURACY_MIN_OUTCOMES outcomes, still much
        # fresher than the whole day, so a change shows within the hour at low volume too.
        recent = outcomes.latest(settings.ACCURACY_MIN_OUTCOMES)
        recent_start = recent.first_reported_at - dt.timedelta(microseconds=1)  # type: ignore[operator]
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
    validation = _validation_errors(report, version)
    judgements = _judgements(report, validation, outcomes, recent)
    detection = _change_detection(report, validation, outcomes)
    if any(judgement.is_judged for judgement in judgements) or (detection is not None and detection.is_judged):
        report.status = CheckStatus.OK
        report.is_degraded = any(judgement.is_degraded for judgement in judgements) or (
            detection is not None and detection.is_alarm
        )
    report.findings = [judgement.as_dict() for judgement in judgements]
    try:
        with transaction.atomic():
            if report.status == CheckStatus.OK:
                report.alert = _alert(report, judgements, detection)
            report.save()
    except IntegrityError:
        return AccuracyReport.objects.get(model_version=version, window_end=window_end)
    if report.alert is not None and report.alert.occurrences == 1:
        retraining_on_new_alert(tenant=tenant, version=version, alert=report.alert)
    logger.info(
        "accuracy check of %s to %s: %d outcomes MAE %s (baseline %s), recent %d: %s (baseline %s), "
        "CUSUM at %s of its threshold, degraded %s",
        version,
        window_end.isoformat(),
        report.outcomes,
        report.mae,
        report.baseline_mae,
        report.recent_outcomes,
        report.recent_mae,
        report.recent_baseline_mae,
        report.cusum_ratio,
        report.is_degraded,
    )
    return report


def _validation_mae(version: ModelVersion) -> float | None:
    value = (version.metrics or {}).get("mae")
    return float(value) if isinstance(value, (int, float)) and value > 0 else None


_SegmentProfile = dict[str, dict[str, dict[str, float]]]


def _error_profiles(version: ModelVersion) -> tuple[dict[str, dict[str, float]] | None, _SegmentProfile | None]:
    """The version's validation errors by hour of day and per segment (None when its training data cannot be
    read back)."""
    try:
        reference = drift_reference_get_or_build(version=version)
    except ReferenceUnavailable:
        return None, None
    return reference.error_profile, reference.segment_error_profile


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


_Validation = tuple[dict[str, dict[str, float]] | None, ErrorSummary, _SegmentProfile | None]


def _validation_errors(report: AccuracyReport, version: ModelVersion) -> _Validation | None:
    """The version's validation errors by hour (None without a profile), over its whole validation window, and
    per segment (None without a profile).

    None without a validation MAE: then there is nothing to judge against.
    """
    if report.validation_mae is None:
        return None
    profile, segment_profile = _error_profiles(version)
    return profile, pooled_summary(profile, mae=report.validation_mae), segment_profile


def _judgements(
    report: AccuracyReport, validation: _Validation | None, outcomes: OutcomeWindow, recent: OutcomeWindow
) -> list[WindowJudgement]:
    """Both windows against the version's validation errors at their hours (no baseline: nothing judged)."""
    limits = AccuracyLimits(
        tolerance=report.tolerance,
        max_bias_minutes=report.max_bias_minutes,
        alpha=settings.ACCURACY_ALPHA,
        min_outcomes=report.min_outcomes,
    )
    hours = round((report.window_end - report.window_start).total_seconds() / 3600)
    minutes = round((report.window_end - report.recent_window_start).total_seconds() / 60)
    judgements = []
    for label, window in ((f"last {hours} h", outcomes), (f"last {minutes} min", recent)):
        baseline = None
        if validation is not None:
            profile, overall, _ = validation
            baseline = matched_baseline(profile, window.order_hours, overall=overall)
        judgements.append(WindowJudgement(label, error_summary(window.predicted - window.actual), baseline, limits))
    report.baseline_mae, report.baseline_mean_error = _figures(judgements[0].baseline)
    report.recent_baseline_mae, report.recent_baseline_mean_error = _figures(judgements[1].baseline)
    return judgements


def _change_detection(
    report: AccuracyReport, validation: _Validation | None, outcomes: OutcomeWindow
) -> ChangeDetection | None:
    """The CUSUM of the outcomes of the last ACCURACY_CUSUM_HOURS (at least the minimum number), stored on the report.

    Recomputed from the outcomes at every check: no statistic is carried from one check to the next, so a rerun
    (or a check of a past instant) gives the same answer. None without a validation MAE.
    """
    if validation is None:
        return None
    start = max(report.window_start, report.window_end - dt.timedelta(hours=settings.ACCURACY_CUSUM_HOURS))
    stream = outcomes.since(start)
    if len(stream) < report.min_outcomes and len(outcomes) > len(stream):
        stream = outcomes.latest(report.min_outcomes)  # a quiet hour: reach back, as the recent window does
    profile, overall, segment_profile = validation
    detection = change_detection(
        errors=stream.predicted - stream.actual,
        order_hours=stream.order_hours,
        reported_at=stream.reported_at,
        segments=stream.segments,
        profile=profile,
        overall=overall,
        segment_profile=segment_profile,
        limits=ChangeLimits(
            k=settings.ACCURACY_CUSUM_K,
            h=settings.ACCURACY_CUSUM_H,
            min_outcomes=report.min_outcomes,
            daily_alpha=settings.ACCURACY_CUSUM_DAILY_ALPHA,
            check_alpha=settings.ACCURACY_CUSUM_CHECK_ALPHA,
            segment_effect_sd=settings.ACCURACY_CUSUM_SEGMENT_EFFECT_SD,
            stream_hours=settings.ACCURACY_CUSUM_HOURS,
            min_effect_minutes=settings.ACCURACY_CUSUM_MIN_EFFECT_MINUTES,
        ),
    )
    report.cusum_ratio = detection.ratio if detection.is_judged else None
    report.change_detection = detection.as_dict()
    return detection


def _figures(baseline: Baseline | None) -> tuple[float | None, float | None]:
    return (baseline.mae, baseline.bias) if baseline is not None else (None, None)


def _alert(
    report: AccuracyReport, judgements: list[WindowJudgement], detection: ChangeDetection | None
) -> Alert | None:
    """Raise the version's accuracy alert for a degraded report, resolve it otherwise."""
    subject = str(report.model_version)
    if not report.is_degraded:
        alert_resolve(rule=AlertRule.ACCURACY_DEGRADATION, tenant=report.tenant, subject=subject)
        return None
    degraded = [judgement for judgement in judgements if judgement.is_degraded]
    findings = [judgement.describe() for judgement in degraded]
    if degraded:
        findings.append(f"limits {report.tolerance:+.0%} MAE, {report.max_bias_minutes:g} min bias")
    if detection is not None and detection.is_alarm:
        findings.append(f"sequential change (CUSUM) in {detection.describe()}")
    return alert_raise(
        rule=AlertRule.ACCURACY_DEGRADATION,
        tenant=report.tenant,
        subject=subject,
        severity=AlertSeverity.CRITICAL if any(j.is_critical for j in degraded) else AlertSeverity.WARNING,
        summary=f"{subject}: realized accuracy worse than validation at the same hours ({'; '.join(findings)})",
        details={
            "model_version_id": report.model_version_id,
            "window_end": report.window_end.isoformat(),
            "validation_mae": report.validation_mae,
            "windows": report.findings,
            "change_detection": report.change_detection,
            "worst_segments": sorted(
                (segment for segment in report.segments if segment["count"] >= report.min_outcomes),
                key=lambda segment: -segment["mae"],
            )[:3],
        },
    )
