"""Retraining on alerts: a drift or accuracy alert newly firing on a champion queues a training run.

The training task (`registry.tasks.train_eta_task`) registers the new version and makes it the challenger,
as the nightly run does; shadow scoring and the significance gate then decide whether it replaces the
champion. A cool-down keeps a condition that persists, or two alerts firing together, from training again
every few minutes.
"""

from __future__ import annotations

import datetime as dt
import logging

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from intellilog.dispatch import task_enqueue_on_commit
from monitoring.choices import RetrainingDecision
from monitoring.models import Alert, RetrainingTrigger
from registry.constants import ETA_MODEL_NAME
from registry.models import ModelVersion
from registry.selectors import eta_champion
from tenants.models import Tenant

logger = logging.getLogger(__name__)


def retraining_on_new_alert(*, tenant: Tenant, version: ModelVersion, alert: Alert) -> RetrainingTrigger | None:
    """Ask for a retraining when `alert` (just fired for the first time) concerns the tenant's champion.

    A challenger's alerts do not retrain: the challenger is itself the newest training, and it serves no
    caller. Returns the trigger written, or None for a version that is not the champion.
    """
    champion = eta_champion(tenant=tenant)
    if champion is None or champion.pk != version.pk:
        return None
    return retraining_request(tenant=tenant, alert=alert)


def retraining_request(*, tenant: Tenant, alert: Alert, now: dt.datetime | None = None) -> RetrainingTrigger:
    """Queue a retraining of the tenant's ETA model for `alert`, unless cooling down or switched off.

    Cooling down: a version of the tenant's ETA model was created (trained, or training now) or a
    retraining was queued within RETRAIN_COOLDOWN_HOURS. The decision is written as a `RetrainingTrigger`
    under a lock on the tenant row, so concurrent alerts queue one training; the task is queued once the
    transaction commits.
    """
    now = now or timezone.now()
    since = now - dt.timedelta(hours=settings.RETRAIN_COOLDOWN_HOURS)
    reason = f"{alert.get_rule_display()} alert {alert.pk}: {alert.summary}"
    with transaction.atomic():
        Tenant.objects.select_for_update().get(pk=tenant.pk)
        if not settings.RETRAIN_ON_ALERT:
            decision = RetrainingDecision.DISABLED
        elif _is_cooling_down(tenant, since):
            decision = RetrainingDecision.COOLING_DOWN
        else:
            decision = RetrainingDecision.QUEUED
        trigger = RetrainingTrigger.objects.create(tenant=tenant, alert=alert, decision=decision, reason=reason)
        if decision == RetrainingDecision.QUEUED:
            # robust: a broker that is down must not undo the alert; the nightly run retrains anyway.
            task_enqueue_on_commit("registry.tasks.train_eta_task", tenant.pk, reason=f"retraining on {reason}")
    logger.info("retraining for %s on alert %s: %s", tenant.slug, alert.pk, decision)
    return trigger


def _is_cooling_down(tenant: Tenant, since: dt.datetime) -> bool:
    recently_trained = ModelVersion.objects.filter(
        tenant=tenant, registered_model__name=ETA_MODEL_NAME, created_at__gte=since
    ).exists()
    recently_queued = RetrainingTrigger.objects.filter(
        tenant=tenant, decision=RetrainingDecision.QUEUED, created_at__gte=since
    ).exists()
    return recently_trained or recently_queued
