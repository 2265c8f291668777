"""The audit as monthly partitions on PostgreSQL: created ahead, rows in their month, append-only per partition,
idempotency across a month boundary, and retention (archive to Parquet, detach, replay from the archive)."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from django.conf import settings as django_settings
from django.core.management import CommandError, call_command
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from predictions import services
from predictions.audit_lifecycle import (
    ArchiveRefused,
    audit_month_archive,
    audit_months_due,
    audit_partitions_maintain,
)
from predictions.constants import AUDIT_PARTITION_MONTHS_AHEAD, IDEMPOTENCY_WINDOW_DAYS
from predictions.models import PredictionAudit, PredictionAuditArchive
from predictions.partitions import DEFAULT_PARTITION, month_add, month_of, partition_name, partitions_list
from predictions.services import IdempotencyConflict, prediction_serve
from predictions.tests.factories import unsaved_audit
from predictions.tests.test_api import ETA, order_body
from predictions.tests.test_services import request_for
from registry.models import ModelVersion
from registry.tests.factories import ModelVersionFactory

pytestmark = pytest.mark.skipif(
    "postgresql" not in django_settings.DATABASES["default"]["ENGINE"],
    reason="the audit is partitioned on PostgreSQL only",
)


def partition_of(audit: PredictionAudit) -> str:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tableoid::regclass::text FROM predictions_predictionaudit WHERE id = %s AND created_at = %s",
            [audit.id, audit.created_at],
        )
        return cursor.fetchone()[0]


def month_names() -> set[str]:
    with connection.cursor() as cursor:
        return {partition.name for partition in partitions_list(cursor)}


def saved(version: ModelVersion, created_at: dt.datetime, key: str | None = None) -> PredictionAudit:
    audit = unsaved_audit(version, 30.0, created_at, 0)
    audit.idempotency_key = key
    audit.save(force_insert=True)
    return audit


@pytest.fixture
def version(db) -> ModelVersion:  # type: ignore[no-untyped-def]
    return ModelVersionFactory()


@pytest.fixture
def partitions_restored() -> Iterator[None]:
    """A test that archives commits DDL (it runs with a live server): the months come back after it."""
    yield
    audit_partitions_maintain()


@pytest.mark.django_db
def test_partitions_are_created_for_this_month_and_the_next_ones_and_a_second_run_creates_none() -> None:
    later = timezone.now() + dt.timedelta(days=400)
    wanted = [month_add(month_of(later), offset) for offset in range(AUDIT_PARTITION_MONTHS_AHEAD + 1)]

    first = audit_partitions_maintain(now=later)
    second = audit_partitions_maintain(now=later)

    assert first.created == wanted  # 400 days on, none of them existed
    assert {partition_name(month) for month in wanted} <= month_names()
    assert DEFAULT_PARTITION in month_names()
    assert second.created == []


# Instants anywhere in a decade, and instants a few microseconds either side of a month's first instant (UTC).
_instants = st.datetimes(
    min_value=dt.datetime(2021, 1, 1), max_value=dt.datetime(2030, 12, 31), timezones=st.just(dt.UTC)
)
_boundaries = st.builds(
    lambda month, offset: dt.datetime(month.year, month.month, 1, tzinfo=dt.UTC) + offset,
    st.dates(min_value=dt.date(2021, 1, 1), max_value=dt.date(2030, 12, 1)),
    st.timedeltas(min_value=dt.timedelta(seconds=-2), max_value=dt.timedelta(seconds=2)),
)


@pytest.mark.django_db
@hypothesis_settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(instants=st.lists(_instants | _boundaries, min_size=1, max_size=5))
def test_every_row_ends_in_the_partition_of_its_utc_month_and_none_is_lost(version, instants) -> None:  # type: ignore[no-untyped-def]
    audits = [saved(version, instant) for instant in instants]

    audit_partitions_maintain()  # moves what the default partition caught into partitions of its months

    assert [partition_of(audit) for audit in audits] == [partition_name(month_of(i)) for i in instants]
    for audit in audits:  # moved, not changed
        stored = PredictionAudit.objects.get(pk=audit.pk)
        assert (stored.created_at, stored.order_id, stored.request_id) == (
            audit.created_at,
            audit.order_id,
            audit.request_id,
        )
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {DEFAULT_PARTITION}")
        assert cursor.fetchone()[0] == 0


@pytest.mark.django_db
def test_a_row_for_a_month_without_a_partition_waits_in_the_default_partition(version) -> None:  # type: ignore[no-untyped-def]
    far = dt.datetime(2033, 5, 17, 8, 0, tzinfo=dt.UTC)

    audit = saved(version, far, key="far-key")

    assert partition_of(audit) == DEFAULT_PARTITION
    audit_partitions_maintain()
    assert partition_of(audit) == partition_name(dt.date(2033, 5, 1))
    # Its idempotency key moved with it: still one row per key.
    with pytest.raises(IntegrityError), transaction.atomic():
        saved(version, far + dt.timedelta(seconds=1), key="far-key")


@pytest.mark.django_db
@pytest.mark.parametrize(
    "statement",
    ["UPDATE {table} SET latency_ms = 0", "DELETE FROM {table}", "TRUNCATE {table}", "TRUNCATE {parent}"],
)
def test_a_month_partition_refuses_changes_made_to_it_directly(version, statement) -> None:  # type: ignore[no-untyped-def]
    audit = saved(version, timezone.now())
    table = partition_of(audit)
    assert table == partition_name(month_of(audit.created_at))

    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # the row's deferred checks, which TRUNCATE would wait for
    with pytest.raises(IntegrityError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(statement.format(table=table, parent=PredictionAudit._meta.db_table))

    assert PredictionAudit.objects.get(pk=audit.pk).latency_ms == audit.latency_ms


@pytest.mark.django_db
def test_an_idempotency_key_is_unique_across_a_month_boundary_until_the_window_ends(version) -> None:  # type: ignore[no-untyped-def]
    boundary = dt.datetime(2029, 3, 1, tzinfo=dt.UTC)
    audit_partitions_maintain(now=boundary)
    saved(version, boundary - dt.timedelta(microseconds=1), key="k-boundary")

    with pytest.raises(IntegrityError), transaction.atomic():
        saved(version, boundary, key="k-boundary")  # the next partition
    with pytest.raises(IntegrityError), transaction.atomic():
        saved(version, boundary + dt.timedelta(days=IDEMPOTENCY_WINDOW_DAYS - 1), key="k-boundary")
    later = saved(version, boundary + dt.timedelta(days=IDEMPOTENCY_WINDOW_DAYS, seconds=1), key="k-boundary")

    assert partition_of(later) == partition_name(dt.date(2029, 3, 1))


@pytest.mark.django_db
def test_the_retry_lookup_reads_only_the_partitions_of_the_idempotency_window(version) -> None:  # type: ignore[no-untyped-def]
    old_months = [dt.date(2024, 1, 1), dt.date(2024, 2, 1)]
    for month in old_months:
        saved(version, dt.datetime(month.year, month.month, 3, tzinfo=dt.UTC), key=f"old-{month}")
    audit_partitions_maintain()

    with CaptureQueriesContext(connection) as captured:
        assert services._stored_replay(version.tenant, "old-2024-01-01", "digest") is None  # outside the window
    (lookup,) = [query["sql"] for query in captured.captured_queries if query["sql"].startswith("SELECT")]
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN {lookup}")
        plan = "\n".join(row[0] for row in cursor.fetchall())

    assert partition_name(month_of(timezone.now())) in plan
    assert not [month for month in old_months if partition_name(month) in plan]


@pytest.mark.django_db(transaction=True)
def test_a_retry_after_midnight_at_the_month_end_gets_the_stored_prediction(serving_tenant, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    response = serving_tenant.client.post(ETA, json=order_body())
    first = PredictionAudit.objects.get(pk=response.json()["audit_id"])
    month_end = dt.datetime.combine(month_add(month_of(timezone.now()), 1), dt.time(), tzinfo=dt.UTC)
    clock = [month_end - dt.timedelta(seconds=1)]
    monkeypatch.setattr(timezone, "now", lambda: clock[0])

    served = prediction_serve(tenant=first.tenant, item=request_for(first), request_id="r-1", idempotency_key="k-eom")
    clock[0] = month_end + dt.timedelta(seconds=1)
    retried = prediction_serve(tenant=first.tenant, item=request_for(first), request_id="r-2", idempotency_key="k-eom")
    with pytest.raises(IdempotencyConflict):
        prediction_serve(
            tenant=first.tenant, item=request_for(first, driver_age=41), request_id="r-3", idempotency_key="k-eom"
        )

    assert partition_of(served.audit) == partition_name(month_of(month_end - dt.timedelta(seconds=1)))
    assert retried.is_replay and retried.audit.id == served.audit.id and retried.body == served.body
    assert PredictionAudit.objects.filter(idempotency_key="k-eom").count() == 1
    # Past the window the key is free again: a new prediction, not the old one.
    clock[0] = month_end + dt.timedelta(days=IDEMPOTENCY_WINDOW_DAYS, seconds=2)
    fresh = prediction_serve(tenant=first.tenant, item=request_for(first), request_id="r-4", idempotency_key="k-eom")
    assert not fresh.is_replay and fresh.audit.id != served.audit.id


@pytest.mark.django_db
def test_an_open_month_or_one_without_a_partition_is_not_archived(version, tmp_path, settings) -> None:  # type: ignore[no-untyped-def]
    settings.AUDIT_ARCHIVE_ROOT = tmp_path
    audit = saved(version, timezone.now())
    this_month = month_of(audit.created_at)

    with pytest.raises(ArchiveRefused, match="not closed"):
        audit_month_archive(month=this_month)
    with pytest.raises(ArchiveRefused, match="no partition"):
        audit_month_archive(month=dt.date(2019, 1, 1))

    assert PredictionAudit.objects.filter(pk=audit.pk).exists()
    assert not PredictionAuditArchive.objects.exists() and not list(tmp_path.rglob("*.parquet"))


@pytest.mark.django_db
def test_retention_picks_the_months_older_than_the_ones_kept(version) -> None:  # type: ignore[no-untyped-def]
    now = dt.datetime(2031, 8, 10, tzinfo=dt.UTC)
    for month in (dt.date(2031, 1, 1), dt.date(2031, 2, 1), dt.date(2031, 3, 1)):
        saved(version, dt.datetime(month.year, month.month, 5, tzinfo=dt.UTC))
    audit_partitions_maintain(now=now)

    due = audit_months_due(now=now, retention_months=5)

    assert [month for month in due if month.year == 2031] == [dt.date(2031, 1, 1), dt.date(2031, 2, 1)]
    assert audit_months_due(now=now, retention_months=0) == []


@pytest.mark.django_db(transaction=True)
def test_an_archived_month_leaves_the_table_whole_and_still_replays(
    serving_tenant, settings, tmp_path, capsys, partitions_restored
) -> None:  # type: ignore[no-untyped-def]
    settings.AUDIT_ARCHIVE_ROOT = tmp_path / "archive"
    client = serving_tenant.client
    served = [client.post(ETA, json=order_body(order_id=f"o-{i}")).json()["audit_id"] for i in range(3)]
    month = month_of(PredictionAudit.objects.get(pk=served[0]).created_at)
    in_month = PredictionAudit.objects.filter(created_at__gte=dt.datetime.combine(month, dt.time(), tzinfo=dt.UTC))
    expected = {str(audit.id): audit.response for audit in in_month}
    assert set(served) <= set(expected)

    call_command("archive_prediction_audits", "--month", f"{month:%Y-%m}", "--dry-run")
    assert capsys.readouterr().out == f"would archive {month:%Y-%m}\n"
    with pytest.raises(CommandError, match="not closed"):
        call_command("archive_prediction_audits", "--month", f"{month:%Y-%m}")
    archive = audit_month_archive(month=month, archived_by="test", now=timezone.now() + dt.timedelta(days=40))

    # The partition is gone from the table, whole; the file holds exactly its rows, as recorded.
    assert partition_name(month) not in month_names()
    assert not PredictionAudit.objects.filter(pk__in=served).exists()
    path = Path(settings.AUDIT_ARCHIVE_ROOT) / archive.path
    assert hashlib.sha256(path.read_bytes()).hexdigest() == archive.sha256
    table = pq.read_table(path)
    assert archive.rows == table.num_rows == len(expected)
    assert {row["id"]: row["response"] for row in table.select(["id", "response"]).to_pylist()}.keys() == set(expected)
    # Archiving again returns the record; nothing else happens.
    assert audit_month_archive(month=month, now=timezone.now() + dt.timedelta(days=40)) == archive

    for audit_id in served:
        call_command("replay_prediction", audit_id)
        output = capsys.readouterr().out
        assert output.startswith("match: ") and f"(archived in {archive.path})" in output

    # A file rewritten with other content, still valid Parquet, fails its recorded sha256; a damaged one is unreadable.
    pq.write_table(table.slice(0, table.num_rows), path, compression="gzip")
    with pytest.raises(CommandError, match="sha256"):
        call_command("replay_prediction", served[0])
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(CommandError, match="cannot be read"):
        call_command("replay_prediction", served[0])
