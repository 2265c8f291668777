"""The drift check of a serving version on its last window of live traffic (issue 5)."""

from __future__ import annotations

import datetime as dt
import functools
import logging
import math
import time
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction

from core.stats import DriftResult, DriftThresholds, drift_check
from core.stats.strata import DayTypes, stratified_reference
from monitoring import metrics
from monitoring.choices import AlertRule, AlertSeverity, CheckStatus, DriftSeverity
from monitoring.live.reference import ReferenceUnavailable, drift_reference_frame, drift_reference_get_or_build
from monitoring.live.retraining import retraining_on_new_alert
from monitoring.live.sampling import (
    DAY_TYPE_COLUMN,
    HOUR_COLUMN,
    PREDICTION_COLUMN,
    WEEKDAY_COLUMN,
    DriftFeatures,
    time_matched_reference,
)
from monitoring.live.selectors import audit_window_frame
from monitoring.live.windows import check_instant
from monitoring.models import Alert, DriftReference, DriftReport
from monitoring.services import alert_raise, alert_resolve
from registry.models import ModelVersion
from tenants.models import Tenant

logger = logging.getLogger(__name__)


def drift_thresholds() -> DriftThresholds:
    """The drift thresholds from settings (DRIFT_* variables; see .env.example)."""
    return DriftThresholds(
        alpha=settings.DRIFT_ALPHA,
        numeric_min_effect=settings.DRIFT_NUMERIC_MIN_EFFECT,
        categorical_min_effect=settings.DRIFT_CATEGORICAL_MIN_EFFECT,
        mmd_min_effect=settings.DRIFT_MMD_MIN_EFFECT,
        critical_multiplier=settings.DRIFT_CRITICAL_MULTIPLIER,
        min_samples_numeric=settings.DRIFT_MIN_SAMPLES,
        min_samples_categorical=settings.DRIFT_MIN_SAMPLES,
        min_samples_mmd=settings.DRIFT_MIN_SAMPLES,
        mmd_max_rows_per_side=settings.DRIFT_MMD_MAX_ROWS,
        mmd_permutations=settings.DRIFT_MMD_PERMUTATIONS,
        impact_tolerance_minutes=settings.DRIFT_IMPACT_TOLERANCE_MINUTES,
    )


def drift_check_run(*, tenant: Tenant, version: ModelVersion, window_end: dt.datetime | None = None) -> DriftReport:
    """Compare a version's predictions of the last DRIFT_WINDOW_MINUTES with its training data; store and alert.

    Current = the feature vectors and predicted ETAs audited for `version` in (end - window, end]; reference
    = the version's `DriftReference`, re-sampled to the window's mix of times of day, weekend or not and kind of
    day (`core.stats.strata`; the verdict), and beside it to its times of day only (the raw shift, stored in
    `result["raw"]` so that what the strata explain stays visible). The statistics core tests
    every feature, the predicted ETA and the numeric features jointly, corrects across them (Benjamini-
    Hochberg) and declares drift only where the corrected p-value and the effect size both pass the
    thresholds from settings. A drifted window is critical (pages) only when its predicted ETAs moved at least
    DRIFT_IMPACT_TOLERANCE_MINUTES from the reference's (`core.stats.impact`), a warning otherwise. The result is
    stored as a `DriftReport` and published as metrics; a drifted
    window raises (or updates) the version's `drift` alert, a clean one resolves it, and a window without
    enough data does neither. A drift alert that newly fires on a champion may queue a retraining.

    One report per version and window end (to the minute): a second run returns the first one's report.
    """
    window_end = check_instant(window_end)
    stored = DriftReport.objects.filter(model_version=version, window_end=window_end).first()
    if stored is not None:
        return stored
    started = time.perf_counter()
    window_start = window_end - dt.timedelta(minutes=settings.DRIFT_WINDOW_MINUTES)
    thresholds = drift_thresholds()
    report = DriftReport(
        tenant=tenant,
        model_version=version,
        window_start=window_start,
        window_end=window_end,
        status=CheckStatus.INSUFFICIENT_DATA,
    )
    try:
        reference = drift_reference_get_or_build(version=version)
    except ReferenceUnavailable as exc:
        report.note = str(exc)
        return _store(report, started)
    report.reference = reference
    features = DriftFeatures.from_dict(reference.features)
    current = audit_window_frame(
        tenant=tenant,
        version=version,
        start=window_start,
        end=window_end,
        columns=list(dict.fromkeys([*features.names, HOUR_COLUMN, WEEKDAY_COLUMN])),
    )
    # Seeded by the window, so re-running a check reproduces it exactly (stratified sampling and MMD permutations).
    seed = int(window_end.timestamp() // 60)
    reference_frame = drift_reference_frame(reference)
    day_types = (reference.source or {}).get("day_types")
    adjusted = stratified_reference(
        reference_frame,
        current,
        hour_column=HOUR_COLUMN,
        weekday_column=WEEKDAY_COLUMN,
        day_type_column=DAY_TYPE_COLUMN,
        day_types=DayTypes.from_dict(day_types) if day_types else None,
        seed=seed,
    )
    raw = time_matched_reference(reference_frame, current[HOUR_COLUMN].to_numpy(), seed=seed)
    check = functools.partial(
        drift_check,
        numeric=features.numeric,
        categorical=features.categorical,
        prediction_column=PREDICTION_COLUMN,
        thresholds=thresholds,
        seed=seed,
    )
    result, raw_result = check(adjusted.frame, current), check(raw.frame, current)
    report.status = result.status
    report.severity = result.severity
    report.is_drifted = result.is_drifted
    report.drifted_features = list(result.drifted_features)
    report.n_reference = result.n_reference
    report.n_current = result.n_current
    report.raw_drifted_features = list(raw_result.drifted_features)
    report.impact_minutes = result.impact.wasserstein_minutes if result.impact is not None else None
    report.result = {
        **result.as_dict(),
        **adjusted.as_dict(),
        "raw": _raw_summary(raw_result, raw.unmatched_share),
    }
    if result.status == CheckStatus.INSUFFICIENT_DATA:
        report.note = (
            f"{result.n_current} predictions in the window, {result.n_reference} matched reference rows: "
            f"below the minimum of {thresholds.min_samples_numeric} for every test"
        )
        return _store(report, started)
    _publish(tenant, version, result)
    return _store(report, started, result=result, reference=reference)


def _raw_summary(result: DriftResult, unmatched_share: float) -> dict[str, Any]:
    """The unadjusted check (reference matched on time of day only), small enough to sit beside the adjusted one.

    Shown so that nothing the strata explain away is hidden: a drift here and not in the adjusted result is a
    recurring pattern (or a shift that made one kind of day look like another).
    """
    return {
        "strata": ["time of day"],
        "status": result.status,
        "is_drifted": result.is_drifted,
        "severity": result.severity,
        "n_reference": result.n_reference,
        "unmatched_share": unmatched_share,
        "drifted_features": list(result.drifted_features),
        "effects": {
            check.feature: check.effect_size
            for check in (*result.features, result.prediction)
            if check is not None and check.kind != "missing_share" and check.effect_size is not None
        },
        "impact": result.impact.as_dict() if result.impact is not None else None,
    }


def _store(
    report: DriftReport,
    started: float,
    *,
    result: DriftResult | None = None,
    reference: DriftReference | None = None,
) -> DriftReport:
    """Save the report and raise or resolve the alert in one transaction; the earlier report on a race."""
    report.duration_ms = (time.perf_counter() - started) * 1000.0
    try:
        with transaction.atomic():
            if result is not None:
                report.alert = _alert(report, result)
            report.save()
    except IntegrityError:
        # Another run stored this window first (its alert call was the same, idempotent one).
        return DriftReport.objects.get(model_version=report.model_version, window_end=report.window_end)
    if report.alert is not None and report.alert.occurrences == 1:
        retraining_on_new_alert(tenant=report.tenant, version=report.model_version, alert=report.alert)
    logger.info(
        "drift check of %s to %s: %s, severity %s, %d current / %d reference rows, drifted %s (%.0f ms)",
        report.model_version,
        report.window_end.isoformat(),
        report.status,
        report.severity,
        report.n_current,
        report.n_reference,
        report.drifted_features,
        report.duration_ms,
    )
    return report


def _alert(report: DriftReport, result: DriftResult) -> Alert | None:
    """Raise the version's drift alert for a drifted window, resolve it for a clean one."""
    subject = str(report.model_version)
    if not result.is_drifted:
        alert_resolve(rule=AlertRule.DRIFT, tenant=report.tenant, subject=subject)
        return None
    drifted = _drifted_checks(result)
    minutes = round((report.window_end - report.window_start).total_seconds() / 60)
    impact = (
        f"; ETAs moved {result.impact.wasserstein_minutes:.1f} min (pages from "
        f"{result.thresholds.impact_tolerance_minutes:g})"
        if result.impact is not None and result.thresholds.impact_tolerance_minutes is not None
        else ""
    )
    summary = (
        f"{subject}: drift in {', '.join(sorted({check['feature'] for check in drifted}))} "
        f"over the last {minutes} min ({result.n_current} predictions{impact})"
    )
    return alert_raise(
        rule=AlertRule.DRIFT,
        tenant=report.tenant,
        subject=subject,
        severity=AlertSeverity.CRITICAL if result.severity == DriftSeverity.CRITICAL else AlertSeverity.WARNING,
        summary=summary,
        details={
            "model_version_id": report.model_version_id,
            "window_start": report.window_start.isoformat(),
            "window_end": report.window_end.isoformat(),
            "n_current": result.n_current,
            "n_reference": result.n_reference,
            "drifted": drifted,
            "impact": result.impact.as_dict() if result.impact is not None else None,
            "strata": report.result.get("strata"),
            "raw": report.result.get("raw"),
        },
    )


def _drifted_checks(result: DriftResult) -> list[dict[str, Any]]:
    """The drifted tests, small enough for an alert payload (no histograms)."""
    checks: list[dict[str, Any]] = []
    for check in (*result.features, result.prediction):
        if check is not None and check.is_drifted:
            checks.append(
                {
                    "feature": check.feature,
                    "kind": check.kind,
                    "test": check.test,
                    "corrected_p_value": check.corrected_p_value,
                    "effect_metric": check.effect_metric,
                    "effect_size": check.effect_size,
                    "severity": check.severity,
                }
            )
    if result.multivariate is not None and result.multivariate.is_drifted:
        checks.append(
            {
                "feature": "multivariate",
                "kind": "mmd",
                "test": "mmd_permutation",
                "corrected_p_value": result.multivariate.corrected_p_value,
                "effect_metric": result.multivariate.effect_metric,
                "effect_size": result.multivariate.effect_size,
                "severity": result.multivariate.severity,
            }
        )
    return checks


def _publish(tenant: Tenant, version: ModelVersion, result: DriftResult) -> None:
    """Per feature, the effect of its value test and whether any of its tests drifted; plus prediction and MMD."""
    by_feature: dict[str, tuple[float, bool]] = {}
    for check in result.features:
        if check.status != "tested":
            continue
        effect, is_drifted = by_feature.get(check.feature, (math.nan, False))
        if check.kind != "missing_share" and check.effect_size is not None:
            effect = check.effect_size
        by_feature[check.feature] = (effect, is_drifted or check.is_drifted)
    if result.prediction is not None and result.prediction.status == "tested":
        by_feature["prediction"] = (_effect(result.prediction.effect_size), result.prediction.is_drifted)
    if result.multivariate is not None and result.multivariate.status == "tested":
        by_feature["multivariate"] = (_effect(result.multivariate.effect_size), result.multivariate.is_drifted)
    for feature, (effect, is_drifted) in by_feature.items():
        metrics.drift_score_set(
            tenant=tenant.slug,
            model_version=str(version.version),
            feature=feature,
            effect_size=effect,
            is_drifted=is_drifted,
        )


def _effect(value: float | None) -> float:
    return math.nan if value is None else value
