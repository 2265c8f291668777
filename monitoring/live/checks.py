"""All live-traffic checks of one tenant, as the periodic task runs them."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field

from monitoring.live.accuracy import realized_accuracy_check
from monitoring.live.drift import drift_check_run
from monitoring.live.quality import live_data_quality_check
from monitoring.live.selectors import serving_versions
from monitoring.live.windows import check_instant
from tenants.models import Tenant

logger = logging.getLogger(__name__)


@dataclass
class ChecksRun:
    """What one run of the tenant's checks stored, by report id, and which checks failed."""

    drift_reports: list[int] = field(default_factory=list)
    accuracy_reports: list[int] = field(default_factory=list)
    quality_score: float | None = None
    errors: list[str] = field(default_factory=list)


def monitoring_checks_run(*, tenant: Tenant, now: dt.datetime | None = None) -> ChecksRun:
    """Drift and realized accuracy of the tenant's champion and challenger, then live data quality.

    Each check is independent: one that fails (e.g. an unreadable artifact) is logged and listed in
    `errors`, and the others still run, so a broken challenger cannot silence the champion's alerts.
    """
    window_end = check_instant(now)
    run = ChecksRun()
    for alias, version in serving_versions(tenant=tenant):
        for name, check in (("drift", drift_check_run), ("accuracy", realized_accuracy_check)):
            try:
                report = check(tenant=tenant, version=version, window_end=window_end)
            except Exception:
                logger.exception("%s check of %s (%s) failed", name, version, alias)
                run.errors.append(f"{name}:{version.pk}")
                continue
            (run.drift_reports if name == "drift" else run.accuracy_reports).append(report.pk)
    try:
        run.quality_score = live_data_quality_check(tenant=tenant, window_end=window_end).score
    except Exception:
        logger.exception("live data-quality check of %s failed", tenant.slug)
        run.errors.append("data_quality")
    return run
