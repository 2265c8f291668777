from __future__ import annotations

from celery import shared_task

from registry.training import TrainingRefused, eta_model_train
from tenants.models import Tenant


@shared_task(name="registry.tasks.train_eta_task")
def train_eta_task(tenant_id: int) -> int | None:
    """Nightly retraining for one tenant; returns the new version's id, or None when training was refused.

    Safe to run twice: each run registers its own numbered version, and a refusal writes nothing.
    """
    tenant = Tenant.objects.get(pk=tenant_id)
    try:
        return eta_model_train(tenant=tenant, created_by="celery:train_eta_task").pk
    except TrainingRefused:
        return None


@shared_task(name="registry.tasks.train_eta_all_tenants_task")
def train_eta_all_tenants_task() -> list[int]:
    """The beat entry: queue one training task per active tenant."""
    tenant_ids = list(Tenant.objects.filter(is_active=True).values_list("pk", flat=True))
    for tenant_id in tenant_ids:
        train_eta_task.delay(tenant_id)
    return tenant_ids
