"""Services queue Celery work by task name after commit (intellilog.dispatch), never by importing tasks."""

from __future__ import annotations

import subprocess
import sys

import pytest
from celery import current_app

from intellilog.dispatch import task_enqueue_on_commit
from monitoring.tasks import deliver_alert_notifications_task


@pytest.mark.django_db
def test_the_task_is_queued_only_when_the_transaction_commits(django_capture_on_commit_callbacks, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    queued: list[tuple[object, ...]] = []
    monkeypatch.setattr(deliver_alert_notifications_task, "delay", lambda *args: queued.append(args))

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        task_enqueue_on_commit("monitoring.tasks.deliver_alert_notifications_task")
    assert queued == []  # nothing before the commit
    for callback in callbacks:
        callback()
    assert queued == [()]


@pytest.mark.django_db
def test_a_misspelt_task_name_fails_in_the_caller_and_queues_nothing(django_capture_on_commit_callbacks) -> None:  # type: ignore[no-untyped-def]
    with django_capture_on_commit_callbacks() as callbacks, pytest.raises(KeyError, match="no_such_task"):
        task_enqueue_on_commit("monitoring.tasks.no_such_task")
    assert callbacks == []
    assert "monitoring.tasks.no_such_task" not in current_app.tasks


def test_a_process_that_never_imported_the_tasks_modules_finds_the_task() -> None:
    # A web process imports services but not tasks modules; the lookup discovers them. Fresh interpreter,
    # because this test process has imported every tasks module already.
    code = (
        "import django, sys; django.setup()\n"
        "from intellilog.dispatch import _registered_task\n"
        "assert 'routing.tasks' not in sys.modules\n"
        "print(_registered_task('routing.tasks.route_plan_solve_task').name)\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=False)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "routing.tasks.route_plan_solve_task"
