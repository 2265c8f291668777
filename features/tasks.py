from __future__ import annotations

from celery import shared_task

from deliveries.models import Delivery
from features.services import features_apply_outcome, features_materialize
from tenants.models import Tenant


@shared_task(name="features.tasks.materialize_features_task")
def materialize_features_task(tenant_id: int) -> int:
    """Recompute one tenant's entity states and write them to the online store; returns how many.

    Safe to run twice: every run overwrites each state with the one computed from the database.
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
    features_apply_outcome(tenant=delivery.tenant, delivery=delivery)
