from __future__ import annotations

import logging

from celery import shared_task
from django.utils import timezone

from deliveries.models import Delivery
from deliveries.selectors import plausible_q
from features.services import features_apply_outcome, features_materialize
from tenants.models import Tenant

logger = logging.getLogger(__name__)


@shared_task(name="features.tasks.materialize_features_task")
def materialize_features_task(tenant_id: int) -> int:
    """Bring one tenant's entity states in the online store up to now; returns how many were written.

    Safe to run twice: a run recomputes the states changed since the last one from the database, each
    equal to what a full recomputation gives (`features_materialize`).
    """
    return features_materialize(tenant=Tenant.objects.get(pk=tenant_id)).entities_written


@shared_task(name="features.tasks.materialize_features_all_tenants_task")
def materialize_features_all_tenants_task() -> list[int]:
    """The beat entry (every 15 minutes): queue one materialisation per active tenant."""
    tenant_ids = list(Tenant.objects.filter(is_active=True).values_list("pk", flat=True))
    for tenant_id in tenant_ids:
        materialize_features_task.delay(tenant_id)
    return tenant_ids


@shared_task(name="features.tasks.features_apply_outcome_task")
def features_apply_outcome_task(delivery_id: int) -> None:
    """Fold a stored delivery's outcome into the online store; queue it on commit of the outcome.

    Safe to run twice: a completion the state already counts makes the entity be recomputed, not counted again.
    """
    delivery = Delivery.objects.select_related("tenant").get(pk=delivery_id)
    if not Delivery.objects.filter(plausible_q(now=timezone.now()), pk=delivery_id).exists():
        # Every reader of the history skips such a row (see deliveries.selectors.plausible_q); so does the store.
        logger.warning("delivery %s of %s not applied: its instants are implausible", delivery_id, delivery.tenant)
        return
    features_apply_outcome(tenant=delivery.tenant, delivery=delivery)
