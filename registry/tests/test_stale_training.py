"""A training killed outright leaves its version PENDING; the sweeper marks it FAILED, and nothing else."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone

from intellilog.celery import app
from registry.artifacts import version_artifact_dir
from registry.choices import Alias, EventKind, VersionStatus
from registry.models import ModelAlias, ModelVersion, RegistryEvent
from registry.services import model_version_mark_failed, model_version_mark_ready, model_versions_fail_stale
from registry.tasks import model_versions_fail_stale_task, train_eta_task
from registry.tests.factories import ModelVersionFactory, RegisteredModelFactory

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
SWEEPER_DETAIL = "marked failed by the stale-training sweeper"


def reserved_ago(version: ModelVersion, minutes: float) -> ModelVersion:
    """Backdate a version's reservation (created_at is auto_now_add, so only an UPDATE can set it)."""
    ModelVersion.objects.filter(pk=version.pk).update(created_at=timezone.now() - dt.timedelta(minutes=minutes))
    version.refresh_from_db()
    return version


def snapshot(versions: list[ModelVersion]) -> list[tuple[object, ...]]:
    return list(
        ModelVersion.objects.filter(pk__in=[v.pk for v in versions])
        .order_by("pk")
        .values_list("pk", "status", "status_detail", "artifact_path", "artifact_sha256")
    )


def pending(**fields: object) -> ModelVersion:
    """A version reserved for a training that has not finished: no artifact recorded yet."""
    return ModelVersionFactory(status=VersionStatus.PENDING, artifact_path="", artifact_sha256="", **fields)


def leftover_files(version: ModelVersion) -> Path:
    """What a killed run can leave in its version's directory: a partial temporary file and a complete one."""
    directory = Path(settings.ARTIFACT_ROOT) / version_artifact_dir(
        tenant_slug=version.tenant.slug, model_name=version.registered_model.name, version=version.version
    )
    directory.mkdir(parents=True)
    (directory / "tmpk1ll3d").write_bytes(b'{"boost')
    (directory / f"{'a' * 64}.json").write_bytes(b'{"booster": "complete but never registered"}')
    return directory


def test_a_stale_pending_version_becomes_failed_with_the_reason_and_nothing_else_changes(settings) -> None:  # type: ignore[no-untyped-def]
    settings.TRAINING_STALE_AFTER_MINUTES = 60
    model = RegisteredModelFactory()
    stale = reserved_ago(pending(registered_model=model, version=1), 61)
    fresh = reserved_ago(pending(registered_model=model, version=2), 59)
    ready = reserved_ago(ModelVersionFactory(registered_model=model, version=3, artifact_path="t/eta/v3/x.json"), 600)
    failed = reserved_ago(
        ModelVersionFactory(registered_model=model, version=4, status=VersionStatus.FAILED, status_detail="OOM"), 600
    )
    archived = reserved_ago(ModelVersionFactory(registered_model=model, version=5, status=VersionStatus.ARCHIVED), 600)
    others_before = snapshot([fresh, ready, failed, archived])
    events_before = RegistryEvent.objects.count()

    swept = model_versions_fail_stale()

    assert [version.pk for version in swept] == [stale.pk]
    stale.refresh_from_db()
    assert stale.status == VersionStatus.FAILED
    assert stale.status_detail.startswith("training abandoned: still pending 60 minutes after the version was reserved")
    assert SWEEPER_DETAIL in stale.status_detail
    assert snapshot([fresh, ready, failed, archived]) == others_before
    assert RegistryEvent.objects.count() == events_before

    # Running it again (the next beat tick, or two at once) changes nothing.
    swept_state = snapshot([stale, fresh, ready, failed, archived])
    assert model_versions_fail_stale() == []
    assert snapshot([stale, fresh, ready, failed, archived]) == swept_state


def test_a_swept_version_can_never_become_ready_or_be_promoted() -> None:
    stale = reserved_ago(pending(), 600)
    model_versions_fail_stale()

    # The run it belonged to, had it been alive after all, is refused registration at its end.
    with pytest.raises(ValidationError, match="is failed, not pending"):
        model_version_mark_ready(
            version=stale,
            artifact_path="late.json",
            artifact_sha256="b" * 64,
            metrics={},
            evaluation={},
            lineage={},
            mlflow_run_id="",
        )
    stale.refresh_from_db()
    assert (stale.status, stale.artifact_path) == (VersionStatus.FAILED, "")
    assert not RegistryEvent.objects.filter(to_version=stale).exists()


def test_the_artifact_leftovers_of_a_swept_version_are_removed_but_never_a_registered_one() -> None:
    model = RegisteredModelFactory()
    stale = reserved_ago(pending(registered_model=model, version=7), 600)
    ready = ModelVersionFactory(registered_model=model, version=8)
    stale_dir = leftover_files(stale)
    ready_dir = leftover_files(ready)
    ModelVersion.objects.filter(pk=ready.pk).update(artifact_path=f"{ready_dir.relative_to(settings.ARTIFACT_ROOT)}/x")

    model_versions_fail_stale()

    assert not stale_dir.exists()
    assert sorted(path.name for path in ready_dir.iterdir()) == sorted(["tmpk1ll3d", f"{'a' * 64}.json"])


def test_a_failure_handled_by_training_itself_also_removes_its_leftovers() -> None:
    version = pending()
    directory = leftover_files(version)

    assert model_version_mark_failed(version=version, detail="MemoryError: ") is True
    assert not directory.exists()
    assert model_version_mark_failed(version=version, detail="again") is False
    version.refresh_from_db()
    assert (version.status, version.status_detail) == (VersionStatus.FAILED, "MemoryError: ")


@pytest.mark.django_db(transaction=True)
def test_a_version_being_marked_ready_at_that_moment_is_skipped_not_failed() -> None:
    stale = reserved_ago(pending(), 600)
    locked, release = threading.Event(), threading.Event()

    def finish_training() -> None:
        # What model_version_mark_ready does: lock the row, then set READY; the sweep runs while it holds the lock.
        try:
            with transaction.atomic():
                ModelVersion.objects.select_for_update().get(pk=stale.pk)
                locked.set()
                release.wait(timeout=10)
                ModelVersion.objects.filter(pk=stale.pk).update(status=VersionStatus.READY)
        finally:
            connection.close()

    thread = threading.Thread(target=finish_training)
    thread.start()
    assert locked.wait(timeout=10)
    try:
        swept = model_versions_fail_stale()
    finally:
        release.set()
        thread.join()

    assert swept == []
    stale.refresh_from_db()
    assert stale.status == VersionStatus.READY and stale.status_detail == ""


def test_the_sweeper_runs_every_few_minutes_from_the_beat_schedule() -> None:
    entry = settings.CELERY_BEAT_SCHEDULE["fail-stale-training"]
    assert entry["task"] == model_versions_fail_stale_task.name and entry["task"] in app.tasks
    assert entry["schedule"] == dt.timedelta(minutes=5)
    stale = reserved_ago(pending(), 600)

    assert model_versions_fail_stale_task.delay().get() == [stale.pk]
    assert model_versions_fail_stale_task.delay().get() == []


def test_training_is_retried_once_when_its_worker_dies_and_always_ends_before_it_counts_as_stale() -> None:
    assert train_eta_task.acks_late is True
    assert train_eta_task.retry_on_worker_lost is True and train_eta_task.max_retries == 1
    assert train_eta_task.reject_on_worker_lost is False  # never an endless requeue of an out-of-memory training
    assert train_eta_task.soft_time_limit < train_eta_task.time_limit < settings.TRAINING_STALE_AFTER_MINUTES * 60
    assert train_eta_task.time_limit < 3600  # the Redis broker's visibility timeout


@pytest.mark.parametrize(
    ("limit", "stale", "message"),
    [
        ("30", "31", "TRAINING_STALE_AFTER_MINUTES: must be longer than TRAINING_TIME_LIMIT_MINUTES"),
        ("59", "120", "TRAINING_TIME_LIMIT_MINUTES: at most 58"),
    ],
)
def test_start_up_refuses_a_stale_age_a_running_training_could_reach(limit: str, stale: str, message: str) -> None:
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env={
            **os.environ,
            "DEBUG": "true",
            "TRAINING_TIME_LIMIT_MINUTES": limit,
            "TRAINING_STALE_AFTER_MINUTES": stale,
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert message in result.stderr


def _database_url() -> str:
    database = settings.DATABASES["default"]
    credentials = database["USER"] + (f":{database['PASSWORD']}" if database["PASSWORD"] else "")
    return f"postgres://{credentials}@{database['HOST']}:{database['PORT']}/{database['NAME']}"


@pytest.mark.django_db(transaction=True)
def test_a_training_process_killed_mid_way_is_marked_failed_by_the_sweeper_and_registers_nothing(
    tenant_with_history,  # type: ignore[no-untyped-def]
) -> None:
    tenant = tenant_with_history
    champion = ModelVersionFactory(
        registered_model__tenant=tenant, version=1, artifact_path=f"{tenant.slug}/eta/c.json", artifact_sha256="c" * 64
    )
    ModelAlias.objects.create(
        tenant=tenant, registered_model=champion.registered_model, alias=Alias.CHAMPION, version=champion
    )
    env = {
        **os.environ,
        "DEBUG": "true",
        "DATABASE_URL": _database_url(),  # the test database, where this test's rows are committed
        "ARTIFACT_ROOT": str(settings.ARTIFACT_ROOT),
        "MLFLOW_TRACKING_URI": settings.MLFLOW_TRACKING_URI,
        "MLFLOW_ARTIFACT_LOCATION": settings.MLFLOW_ARTIFACT_LOCATION,
    }
    env.pop("CELERY_BROKER_URL", None)
    process = subprocess.Popen(
        [sys.executable, "manage.py", "train_eta", "--tenant", tenant.slug],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    seen: list[str] = []
    try:
        # Its progress says when the version is reserved and fitting has begun: killed right then.
        assert process.stderr is not None
        for raw in iter(process.stderr.readline, b""):
            seen.append(raw.decode())
            if raw.startswith("… training v".encode()):
                break
        assert seen and seen[-1].startswith("… training v2"), seen
        os.killpg(process.pid, signal.SIGKILL)
        assert process.wait(timeout=30) == -signal.SIGKILL
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)

    killed = ModelVersion.objects.get(registered_model=champion.registered_model, version=2)
    assert killed.status == VersionStatus.PENDING  # no handler ran: this is what the sweeper is for
    time.sleep(0.01)  # strictly older than "now" below

    swept = model_versions_fail_stale(stale_after=dt.timedelta(0))

    assert [version.pk for version in swept] == [killed.pk]
    killed.refresh_from_db()
    assert killed.status == VersionStatus.FAILED and SWEEPER_DETAIL in killed.status_detail
    assert (killed.artifact_path, killed.artifact_sha256, killed.mlflow_run_id) == ("", "", "")
    versions = ModelVersion.objects.filter(tenant=tenant)
    assert sorted(versions.values_list("version", "status")) == [(1, VersionStatus.READY), (2, VersionStatus.FAILED)]
    assert not RegistryEvent.objects.filter(tenant=tenant, kind=EventKind.REGISTERED).exists()
    assert ModelAlias.objects.get(registered_model=champion.registered_model, alias=Alias.CHAMPION).version == champion
    assert not (Path(settings.ARTIFACT_ROOT) / tenant.slug / "eta" / "v2").exists()
