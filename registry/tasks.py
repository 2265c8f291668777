from __future__ import annotations

import datetime as dt

from celery import shared_task
from django.conf import settings

from registry.backtest import model_versions_backtest
from registry.models import ModelVersion
from registry.selectors import backtest_latest
from registry.services import challenger_set, model_versions_fail_stale
from registry.training import TrainingRefused, eta_model_train
from tenants.models import Tenant

NIGHTLY_REASON = "nightly retraining"


# A training's pool process killed outright (SIGKILL, the out-of-memory killer) runs no handler: its version
# stays PENDING until `model_versions_fail_stale_task` marks it FAILED. The task itself is sent again once
# (`retry_on_worker_lost`, bounded by `max_retries`), not requeued without end (`reject_on_worker_lost`): the
# likeliest killer of a training is the out-of-memory killer, and an unbounded requeue would kill worker
# after worker on the same tenant. A retry reserves a new version (never reuses the dead run's), so nothing
# is registered twice. `acks_late` (also the project default) keeps the message until the run ends, so a
# whole lost worker (host gone) gets it redelivered by the broker. The soft limit makes a run that is too
# long mark its own version FAILED; the hard limit a minute later kills it (then it is not retried), and
# the sweeper's TRAINING_STALE_AFTER_MINUTES is longer than that.
@shared_task(
    name="registry.tasks.train_eta_task",
    acks_late=True,
    reject_on_worker_lost=False,
    retry_on_worker_lost=True,
    max_retries=1,
    default_retry_delay=60,
    soft_time_limit=settings.TRAINING_TIME_LIMIT_MINUTES * 60,
    time_limit=(settings.TRAINING_TIME_LIMIT_MINUTES + 1) * 60,
)
def train_eta_task(tenant_id: int, reason: str = NIGHTLY_REASON) -> int | None:
    """Train a new ETA version for one tenant and make it the challenger; returns its id (None: refused).

    Queued nightly for every tenant and by monitoring when a drift or accuracy alert fires (`reason` says
    which, and is logged with the challenger change). The challenger is then shadow-scored; it never serves
    until a promotion. Safe to run twice: each run registers its own numbered version, the later one becomes
    the challenger, and a refusal writes nothing.

    When the worker process running it is killed, the task is retried once with a new version number; the
    killed run's version is left PENDING and later marked FAILED by the stale-training sweeper, so the
    registry shows the honest history (vN failed, vN+1 ready) rather than reusing a number.
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


@shared_task(name="registry.tasks.model_versions_fail_stale_task")
def model_versions_fail_stale_task() -> list[int]:
    """The beat entry: mark FAILED the versions whose training died (PENDING for too long); safe to run twice."""
    return [version.pk for version in model_versions_fail_stale()]


@shared_task(name="registry.tasks.backtest_model_versions_task")
def backtest_model_versions_task(version_ids: list[int], start: str, end: str, created_by: str) -> list[int]:
    """Backtest versions over the days ``start``..``end`` (ISO dates); returns the new backtests' ids.

    Queued by the approval page to compute the champion's backtest beside the candidate's. Safe to run
    twice: a version that already has a backtest over exactly those days is not replayed again.
    """
    first, last = dt.date.fromisoformat(start), dt.date.fromisoformat(end)
    versions = [
        version
        for version in ModelVersion.objects.filter(pk__in=version_ids).select_related("tenant", "registered_model")
        if backtest_latest(version=version, start=first, end=last) is None
    ]
    if not versions:
        return []
    backtests = model_versions_backtest(versions=versions, start=first, end=last, created_by=created_by)
    return [backtest.pk for backtest in backtests]
