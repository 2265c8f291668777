"""The Celery application; configuration comes from Django settings (CELERY_* names)."""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import Any

from celery import Celery, Task
from celery.signals import (
    beat_init,
    task_failure,
    task_success,
    worker_init,
    worker_process_init,
    worker_process_shutdown,
)

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "intellilog.settings")

app = Celery("intellilog")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

logger = logging.getLogger(__name__)

TRAINING_TASK = "registry.tasks.train_eta_task"
STALE_TRAINING_SWEEP_TASK = "registry.tasks.model_versions_fail_stale_task"


@worker_init.connect
def _worker_metrics_start(**_: Any) -> None:
    # The monitoring checks that set the drift, accuracy and quality gauges run in this worker's pool, so
    # the worker serves its own /metrics (WORKER_METRICS_PORT); imported here so web processes skip it.
    from django.conf import settings

    from monitoring.exporter import worker_metrics_start

    worker_metrics_start(port=settings.WORKER_METRICS_PORT)


@worker_process_shutdown.connect
def _worker_process_mark_dead(pid: int, **_: Any) -> None:
    from monitoring.exporter import process_mark_dead

    process_mark_dead(pid)


@worker_process_init.connect
def _worker_process_tracing(**_: Any) -> None:
    # In each pool process, after the fork: the span exporter's thread would not survive it.
    from intellilog.tracing import tracing_configure

    tracing_configure(role="worker")


@beat_init.connect
def _beat_tracing(**_: Any) -> None:
    # Beat only publishes; its publish spans start the traces of scheduled tasks.
    from intellilog.tracing import tracing_configure

    tracing_configure(role="beat")


# --- Operational alerts: every task's outcome, and a watchdog on beat ------------------------------------------
# Here, in the composition root, because the tasks that fail live in every app and the alert outbox is the
# monitoring app's: registry (a lower layer) must not import monitoring to report its trainings.


@task_failure.connect
def _task_failure_alert(sender: Task, exception: BaseException, args: tuple[Any, ...] = (), **_: Any) -> None:
    from monitoring.services import task_failure_record, training_failure_alert
    from tenants.models import Tenant

    error = f"{type(exception).__name__}: {exception}"
    try:
        task_failure_record(task_name=sender.name, error=error)
        if sender.name == TRAINING_TASK and args:
            training_failure_alert(tenant=Tenant.objects.get(pk=args[0]), detail=error, is_refused=False)
    except Exception:  # a broken alert path must not mask the task's own failure
        logger.exception("could not record the failure of task %s", sender.name)


@task_success.connect
def _task_success_alert(sender: Task, result: Any, **_: Any) -> None:
    from monitoring.services import (
        task_success_record,
        training_failure_alert,
        training_failures_of_versions_alert,
        training_success_resolve,
    )
    from tenants.models import Tenant

    try:
        task_success_record(task_name=sender.name)
        if sender.name == TRAINING_TASK:
            # train_eta_task returns the new version's id, or None when the training was refused.
            tenant = Tenant.objects.get(pk=sender.request.args[0])
            if result is None:
                training_failure_alert(tenant=tenant, detail="quality gate or too little history", is_refused=True)
            else:
                training_success_resolve(tenant=tenant)
        elif sender.name == STALE_TRAINING_SWEEP_TASK and result:
            training_failures_of_versions_alert(version_ids=result)
    except Exception:
        logger.exception("could not record the success of task %s", sender.name)


def _beat_watchdog(interval_seconds: float) -> None:
    from django.db import close_old_connections

    from monitoring.services import beat_schedule_watch

    while True:
        time.sleep(interval_seconds)
        try:
            close_old_connections()
            beat_schedule_watch()
        except Exception:  # the database may be briefly away; the next round tries again
            logger.exception("beat watchdog round failed")


@worker_init.connect
def _beat_watchdog_start(**_: Any) -> None:
    # Beat cannot watch itself: every worker checks that it still queues the monitoring checks (the alert's dedup
    # key makes several workers raise one alert). A daemon thread of the main process, so pool processes forked
    # later do not inherit it.
    from django.conf import settings

    if settings.BEAT_WATCHDOG_ENABLED:
        interval = settings.MONITORING_CHECK_MINUTES * 60
        threading.Thread(target=_beat_watchdog, args=(interval,), name="beat-watchdog", daemon=True).start()
