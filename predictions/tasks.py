"""Continuous-learning tasks (shadow scoring, the A/B evaluation's looks, the post-promotion watch) and the
audit table's upkeep (partitions ahead, retention)."""

from __future__ import annotations

from celery import shared_task

from predictions.audit_lifecycle import audit_partitions_maintain, audit_retention_run
from predictions.champion_watch import champion_watch_run
from predictions.shadow import shadow_evaluation_run, shadow_predictions_score
from registry.choices import Alias
from registry.models import ModelVersion
from registry.selectors import tenants_with_alias
from tenants.models import Tenant


@shared_task(name="predictions.tasks.shadow_score_task")
def shadow_score_task(audit_ids: list[str], challenger_version_id: int) -> int:
    """Score audited orders with the challenger in the shadow; returns how many rows were written.

    Queued by serving after the audit commits. Safe to run twice: an audit already scored by this version
    is skipped.
    """
    challenger = ModelVersion.objects.get(pk=challenger_version_id)
    return len(shadow_predictions_score(audit_ids=audit_ids, challenger=challenger))


@shared_task(name="predictions.tasks.shadow_evaluate_task")
def shadow_evaluate_task(tenant_id: int) -> int | None:
    """One look at a tenant's shadow A/B test; returns the look's id. Safe to run twice (no new pairs, no look)."""
    evaluation = shadow_evaluation_run(tenant=Tenant.objects.get(pk=tenant_id))
    return evaluation.pk if evaluation else None


@shared_task(name="predictions.tasks.shadow_evaluate_all_tenants_task")
def shadow_evaluate_all_tenants_task() -> list[int]:
    """The beat entry: queue one evaluation per active tenant with a challenger."""
    tenant_ids = [tenant.pk for tenant in tenants_with_alias(Alias.CHALLENGER)]
    for tenant_id in tenant_ids:
        shadow_evaluate_task.delay(tenant_id)
    return tenant_ids


@shared_task(name="predictions.tasks.champion_watch_task")
def champion_watch_task(tenant_id: int) -> int | None:
    """Check a tenant's newly promoted champion; returns the restored version's id when it rolled back.

    Safe to run twice: after a rollback there is no promotion left to watch.
    """
    result = champion_watch_run(tenant=Tenant.objects.get(pk=tenant_id))
    return result.restored.pk if result and result.restored else None


@shared_task(name="predictions.tasks.champion_watch_all_tenants_task")
def champion_watch_all_tenants_task() -> list[int]:
    """The beat entry: queue one watch per active tenant with a champion."""
    tenant_ids = [tenant.pk for tenant in tenants_with_alias(Alias.CHAMPION)]
    for tenant_id in tenant_ids:
        champion_watch_task.delay(tenant_id)
    return tenant_ids


@shared_task(name="predictions.tasks.audit_partitions_maintain_task")
def audit_partitions_maintain_task() -> list[str]:
    """The beat entry (daily): the audit's partitions for this month and the next ones; returns the months created.

    Safe to run twice: an existing partition is left as it is.
    """
    return [f"{month:%Y-%m}" for month in audit_partitions_maintain().created]


@shared_task(name="predictions.tasks.audit_retention_task")
def audit_retention_task() -> list[str]:
    """The beat entry (daily): archive the audit's months older than AUDIT_RETENTION_MONTHS; returns them.

    Safe to run twice: an archived month is no longer a partition, so it is not archived again.
    """
    return [f"{archive.month:%Y-%m}" for archive in audit_retention_run()]
