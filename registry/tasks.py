from __future__ import annotations

from celery import shared_task

from registry.services import challenger_set
from registry.training import TrainingRefused, eta_model_train
from tenants.models import Tenant

NIGHTLY_REASON = "nightly retraining"


@shared_task(name="registry.tasks.train_eta_task")
def train_eta_task(tenant_id: int, reason: str = NIGHTLY_REASON) -> int | None:
    """Train a new ETA version for one tenant and make it the challenger; returns its id (None: refused).

    Queued nightly for every tenant and by monitoring when a drift or accuracy alert fires (`reason` says
    which, and is logged with the challenger change). The challenger is then shadow-scored; it never serves
    until a promotion. Safe to run twice: each run registers its own numbered version, the later one becomes
    the challenger, and a refusal writes nothing.
    """
    tenant = Tenant.objects.get(pk=tenant_id)
    try:
        version = eta_model_train(tenant=tenant, created_by="celery:train_eta_task")
    except TrainingRefused:
        return None
    challenger_set(version=version, actor="celery:train_eta_task", reason=reason)
    return version.pk


@shared_task(name="registry.tasks.train_eta_all_tenants_task")
def train_eta_all_tenants_task() -> list[int]:
    """The beat entry: queue one training task per active tenant."""
    tenant_ids = list(Tenant.objects.filter(is_active=True).values_list("pk", flat=True))
    for tenant_id in tenant_ids:
        train_eta_task.delay(tenant_id)
    return tenant_ids
