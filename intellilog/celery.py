"""The Celery application; configuration comes from Django settings (CELERY_* names)."""

from __future__ import annotations

import os
from typing import Any

from celery import Celery
from celery.signals import beat_init, worker_init, worker_process_init, worker_process_shutdown

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "intellilog.settings")

app = Celery("intellilog")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


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
