"""Live data quality: out-of-distribution orders, feature-store fallbacks and stale features in recent traffic."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import asdict, dataclass

from django.conf import settings
from django.db import transaction

from monitoring import metrics
from monitoring.choices import AlertRule, AlertSeverity
from monitoring.live.selectors import QualityCounts, quality_counts
from monitoring.live.windows import check_instant
from monitoring.services import alert_raise, alert_resolve
from tenants.models import Tenant

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class QualityCondition:
    """One live data-quality rule: an alert rule and subject, the share it watches and its maximum."""

    rule: str
    subject: str
    description: str
    share: float
    maximum: float

    @property
    def is_breached(self) -> bool:
        return self.share > self.maximum


@dataclass(frozen=True)
class LiveQuality:
    """What one live data-quality check saw: counts, the score, and each condition (None: too few predictions)."""

    window_start: dt.datetime
    window_end: dt.datetime
    counts: QualityCounts
    score: float | None
    conditions: tuple[QualityCondition, ...]


def live_data_quality_check(*, tenant: Tenant, window_end: dt.datetime | None = None) -> LiveQuality:
    """Shares of the tenant's last LIVE_QUALITY_WINDOW_MINUTES of predictions with a data problem; alert.

    Conditions (each its own alert, raised above its maximum share, critical above twice it, resolved at or
    below it): orders out of the training distribution (`data_quality`/"out_of_distribution"), predictions
    whose entity states were computed from the database because the online store was unreachable or lacked
    them (`data_quality`/"feature_fallback"), and predictions served a stale state (`stale_features`/
    "online_store"). The score, 100 x the share of predictions without any of these, is published as the
    tenant's data-quality metric. Fewer than LIVE_QUALITY_MIN_PREDICTIONS predictions: nothing is judged.
    Across all versions: input quality does not depend on which model scored the order.
    """
    window_end = check_instant(window_end)
    window_start = window_end - dt.timedelta(minutes=settings.LIVE_QUALITY_WINDOW_MINUTES)
    counts = quality_counts(tenant=tenant, start=window_start, end=window_end)
    if counts.predictions < settings.LIVE_QUALITY_MIN_PREDICTIONS:
        return LiveQuality(window_start, window_end, counts, score=None, conditions=())
    total = counts.predictions
    conditions = (
        QualityCondition(
            AlertRule.DATA_QUALITY,
            "out_of_distribution",
            "orders outside the training distribution",
            counts.out_of_distribution / total,
            settings.LIVE_MAX_OOD_SHARE,
        ),
        QualityCondition(
            AlertRule.DATA_QUALITY,
            "feature_fallback",
            "predictions whose features fell back to the database",
            counts.fallback / total,
            settings.LIVE_MAX_FALLBACK_SHARE,
        ),
        QualityCondition(
            AlertRule.STALE_FEATURES,
            "online_store",
            "predictions served a stale feature state",
            counts.stale / total,
            settings.LIVE_MAX_STALE_SHARE,
        ),
    )
    score = 100.0 * (1 - counts.any_problem / total)
    metrics.data_quality_score_set(tenant=tenant.slug, score=score)
    with transaction.atomic():
        for condition in conditions:
            _alert(tenant, condition, counts, window_start, window_end)
    logger.info(
        "live data quality of %s to %s: %d predictions, score %.1f, breached %s",
        tenant.slug,
        window_end.isoformat(),
        total,
        score,
        [condition.subject for condition in conditions if condition.is_breached],
    )
    return LiveQuality(window_start, window_end, counts, score=score, conditions=conditions)


def _alert(
    tenant: Tenant, condition: QualityCondition, counts: QualityCounts, start: dt.datetime, end: dt.datetime
) -> None:
    if not condition.is_breached:
        alert_resolve(rule=condition.rule, tenant=tenant, subject=condition.subject)
        return
    minutes = round((end - start).total_seconds() / 60)
    alert_raise(
        rule=condition.rule,
        tenant=tenant,
        subject=condition.subject,
        severity=AlertSeverity.CRITICAL if condition.share > 2 * condition.maximum else AlertSeverity.WARNING,
        summary=(
            f"{condition.share:.0%} of {tenant.slug}'s predictions in the last {minutes} min were "
            f"{condition.description} (maximum {condition.maximum:.0%})"
        ),
        details={
            "share": condition.share,
            "maximum": condition.maximum,
            "window_start": start.isoformat(),
            "window_end": end.isoformat(),
            "counts": asdict(counts),
        },
    )
