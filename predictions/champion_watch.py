"""Automatic rollback: watch a newly promoted champion's realized error and restore its predecessor if worse.

For ROLLBACK_WATCH_HOURS after a promotion, the periodic check compares the new champion's absolute errors
(outcomes of predictions it served since the promotion) with the previous champion's (outcomes of
predictions it served in the ROLLBACK_BASELINE_HOURS before the promotion) with the one-sided test of
`core.stats.champion_watch`. Significantly worse: the previous champion is restored through
`registry.services.champion_rollback_automatic` (an `automatic_rollback` event carrying the statistics) and
an accuracy-degradation alert is raised, both in one transaction. A predecessor whose artifact no longer
verifies is not restored: the same alert says the rollback was refused and why.

Safe to run twice: once the champion's last move is a rollback there is no promotion to watch, and the
registry service acts only while the watched version is still the champion.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

import numpy as np
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from core.stats.champion_watch import WatchDecision, WatchSettings, champion_worse_decision
from monitoring.choices import AlertRule, AlertSeverity
from monitoring.services import alert_raise
from predictions.models import PredictionOutcome
from registry.constants import ETA_MODEL_NAME
from registry.models import ModelVersion, RegisteredModel
from registry.selectors import champion_promotion_watched
from registry.services import ChampionArtifactRefused, champion_rollback_automatic
from tenants.models import Tenant

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class WatchResult:
    """One run of the watch for a tenant: the versions compared, the decision, and the version restored if any."""

    champion: ModelVersion
    previous: ModelVersion
    decision: WatchDecision
    restored: ModelVersion | None


def _absolute_errors(*, version: ModelVersion, served_from: dt.datetime, served_before: dt.datetime) -> np.ndarray:
    errors = (
        PredictionOutcome.objects.filter(
            model_version=version, audit__created_at__gte=served_from, audit__created_at__lt=served_before
        )
        .order_by("reported_at", "id")
        .values_list("error_minutes", flat=True)
    )
    return np.abs(np.asarray(list(errors), dtype=np.float64))


def _watch_settings() -> WatchSettings:
    return WatchSettings(
        alpha=settings.ROLLBACK_ALPHA,
        min_outcomes=settings.ROLLBACK_MIN_OUTCOMES,
        min_effect_minutes=settings.ROLLBACK_MIN_EFFECT_MINUTES,
        planned_outcomes=settings.ROLLBACK_PLANNED_OUTCOMES,
    )


def rollback_alert_subject(*, champion: ModelVersion, previous: ModelVersion) -> str:
    """The alert's subject: apart from the realized-accuracy check's (which is the version alone)."""
    return f"automatic rollback {champion.registered_model} v{champion.version} -> v{previous.version}"


def champion_watch_run(*, tenant: Tenant, now: dt.datetime | None = None) -> WatchResult | None:
    """Check the tenant's newly promoted champion once; roll back and alert when it is significantly worse.

    None when there is nothing to watch: no ETA model, a champion that did not come from a promotion over a
    previous one (a first champion, or the last move was a rollback), or a promotion older than
    ROLLBACK_WATCH_HOURS.
    """
    now = now or timezone.now()
    registered_model = RegisteredModel.objects.filter(tenant=tenant, name=ETA_MODEL_NAME).first()
    if registered_model is None:
        return None
    promotion = champion_promotion_watched(registered_model=registered_model)
    if promotion is None or promotion.created_at < now - dt.timedelta(hours=settings.ROLLBACK_WATCH_HOURS):
        return None
    champion, previous = promotion.to_version, promotion.from_version
    assert champion is not None and previous is not None  # a watched promotion has both
    promoted_at = promotion.created_at
    decision = champion_worse_decision(
        _absolute_errors(version=champion, served_from=promoted_at, served_before=now),
        _absolute_errors(
            version=previous,
            served_from=promoted_at - dt.timedelta(hours=settings.ROLLBACK_BASELINE_HOURS),
            served_before=promoted_at,
        ),
        settings=_watch_settings(),
    )
    if not decision.is_worse:
        return WatchResult(champion=champion, previous=previous, decision=decision, restored=None)
    reason = f"v{champion.version} worse than v{previous.version} since its promotion: {decision.summary}"
    with transaction.atomic():
        try:
            restored = champion_rollback_automatic(
                registered_model=registered_model, expected_champion=champion, restore=previous, reason=reason
            )
        except ChampionArtifactRefused as refusal:
            # Restoring a version no worker can load would trade a worse model for errors: keep the champion
            # and page someone, who can restore the file (the next run then rolls back) or decide otherwise.
            refused = " ".join(refusal.messages)
            alert_raise(
                rule=AlertRule.ACCURACY_DEGRADATION,
                tenant=tenant,
                subject=rollback_alert_subject(champion=champion, previous=previous),
                severity=AlertSeverity.CRITICAL,
                summary=f"Automatic rollback of {registered_model} refused: {refused} {reason}",
                details={
                    "kept_champion_version": champion.version,
                    "refused_restore_version": previous.version,
                    "refusal": refused,
                    "promoted_at": promoted_at.isoformat(),
                    "decision": decision.as_dict(),
                },
            )
            logger.error("automatic rollback for %s refused: %s", tenant.slug, refused)
            return WatchResult(champion=champion, previous=previous, decision=decision, restored=None)
        if restored is not None:
            alert_raise(
                rule=AlertRule.ACCURACY_DEGRADATION,
                tenant=tenant,
                subject=rollback_alert_subject(champion=champion, previous=previous),
                severity=AlertSeverity.CRITICAL,
                summary=f"Automatic rollback of {registered_model}: champion v{previous.version} restored. {reason}",
                details={
                    "rolled_back_version": champion.version,
                    "restored_version": previous.version,
                    "promoted_at": promoted_at.isoformat(),
                    "decision": decision.as_dict(),
                },
            )
            logger.warning("automatic rollback for %s: %s", tenant.slug, reason)
    return WatchResult(champion=champion, previous=previous, decision=decision, restored=restored)
