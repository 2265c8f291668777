"""Queueing Celery work from services without importing the tasks modules.

Tasks import services (a task takes primary keys and calls one service); a service that queues follow-up
work names the task instead of importing it, so imports run one way and no service <-> task cycle exists
(the `no-cycles` contract in pyproject.toml). The task is looked up by its registered name when it is
queued, so a misspelt name fails in the service, not silently at commit.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from celery import Task, current_app
from django.db import transaction


def task_enqueue_on_commit(task_name: str, /, *args: Any, **kwargs: Any) -> None:
    """Queue the Celery task registered as `task_name` once the current transaction commits.

    Outside a transaction it is queued at once; without a broker it runs inline there (tests, quickstart).
    robust: a broker that is down is logged and never undoes the caller's committed work.
    """
    task = _registered_task(task_name)
    transaction.on_commit(partial(task.delay, *args, **kwargs), robust=True)


def _registered_task(task_name: str) -> Task:
    tasks = current_app.tasks
    if task_name not in tasks:
        # A worker imports every app's tasks module when it starts; a web process has not, so it runs the
        # same discovery (INSTALLED_APPS' tasks modules) the first time it queues something.
        current_app.loader.import_default_modules()
    return tasks[task_name]
