"""The prediction audit over time: partitions created ahead, closed months archived, archived rows found again.

On PostgreSQL the audit is partitioned by month (`predictions.partitions`). Every day beat runs
`audit_partitions_maintain`: this month's and the next AUDIT_PARTITION_MONTHS_AHEAD months' partitions exist,
any row caught by the default partition moves to its month, and expired idempotency keys are forgotten.
Retention (`audit_month_archive`) exports a closed month to Parquet, records the file with its sha256 in
`PredictionAuditArchive`, and detaches and drops the partition in one transaction: the only way an audit row
leaves the table. `audit_find` looks in the table, then in the archives, so `replay_prediction` replays an
archived prediction too.

On SQLite (the quickstart) the audit is one plain table: maintenance does nothing and nothing is archived.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from django.conf import settings
from django.db import connection, models, transaction
from django.utils import timezone

from predictions.constants import AUDIT_PARTITION_MONTHS_AHEAD, IDEMPOTENCY_WINDOW_DAYS
from predictions.models import PredictionAudit, PredictionAuditArchive
from predictions.partitions import (
    KEYS_TABLE,
    audit_keys_purge,
    is_partitioned,
    month_add,
    month_bounds,
    month_of,
    partition_name,
    partitions_ensure,
    partitions_list,
)

# A month's rows stream from COPY into Arrow in blocks of this many bytes of CSV (a Parquet row group each),
# so memory stays bounded whatever the month's size.
ARCHIVE_BLOCK_BYTES = 32 * 1024 * 1024
# Detaching locks the whole audit table for an instant; rather than queue behind a long query (and make every
# insert queue behind it), give up and let the next run try again.
DETACH_LOCK_TIMEOUT = "5s"


class ArchiveRefused(Exception):
    """The month cannot be archived (not closed long enough, no such partition, or the export did not match)."""


class ArchiveCorrupt(Exception):
    """An archive file is missing or its sha256 differs from the one recorded when it was written."""


@dataclass(frozen=True)
class PartitionMaintenance:
    """What one `audit_partitions_maintain` run did: months whose partitions it created, keys it forgot."""

    created: list[dt.date]
    keys_forgotten: int


def audit_partitions_maintain(
    *, now: dt.datetime | None = None, months_ahead: int = AUDIT_PARTITION_MONTHS_AHEAD
) -> PartitionMaintenance:
    """Create the partitions of this month and ``months_ahead`` more, and forget expired idempotency keys.

    Safe to run twice (the beat task runs daily, so a missed day or two changes nothing). Rows the default
    partition caught move into partitions of their own months (`partitions_ensure`).
    """
    now = now or timezone.now()
    with transaction.atomic(), connection.cursor() as cursor:
        if not is_partitioned(cursor):
            return PartitionMaintenance(created=[], keys_forgotten=0)
        current = month_of(now)
        created = partitions_ensure(cursor, months=[month_add(current, offset) for offset in range(months_ahead + 1)])
        forgotten = audit_keys_purge(cursor, now=now)
    return PartitionMaintenance(created=created, keys_forgotten=forgotten)


def _arrow_type(field: models.Field) -> pa.DataType:
    kind = field.get_internal_type()
    if kind == "BooleanField":
        return pa.bool_()
    if kind == "FloatField":
        return pa.float64()
    if kind == "ForeignKey":
        return pa.int64()
    if kind == "DateTimeField":
        return pa.timestamp("us", tz="UTC")
    return pa.string()  # UUIDs and JSON as their text, strings as they are


def _select_expression(field: models.Field) -> str:
    kind = field.get_internal_type()
    column = f'"{field.column}"'
    if kind == "DateTimeField":
        return f"""to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')"""
    if kind in {"UUIDField", "JSONField"}:
        return f"{column}::text"
    return column


def _archive_fields() -> list[models.Field]:
    return list(PredictionAudit._meta.concrete_fields)


def _archive_schema() -> pa.Schema:
    return pa.schema([pa.field(field.column, _arrow_type(field)) for field in _archive_fields()])


class _CopyStream(io.RawIOBase):
    """The bytes of a running ``COPY ... TO STDOUT`` as a readable file, for Arrow's streaming CSV reader."""

    def __init__(self, chunks: Iterator[memoryview | bytes]) -> None:
        self._chunks = chunks
        self._pending = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        while not self._pending:
            chunk = next(self._chunks, None)
            if chunk is None:
                return 0
            self._pending = memoryview(bytes(chunk))
        size = min(len(buffer), len(self._pending))
        buffer[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        return size


def _export(cursor: object, table: str, path: Path) -> int:
    """Write every row of ``table`` to a Parquet file at ``path``, block by block; the number of rows."""
    fields = _archive_fields()
    schema = _archive_schema()
    columns = ", ".join(_select_expression(field) for field in fields)
    rows = 0
    raw = cursor.cursor  # type: ignore[attr-defined]  # psycopg's own cursor, for COPY
    with raw.copy(f"COPY (SELECT {columns} FROM {table}) TO STDOUT WITH (FORMAT csv)") as copy:
        reader = pacsv.open_csv(
            io.BufferedReader(_CopyStream(iter(copy)), buffer_size=1024 * 1024),
            read_options=pacsv.ReadOptions(
                column_names=schema.names, block_size=ARCHIVE_BLOCK_BYTES, use_threads=False
            ),
            # jsonb text never holds a raw newline, but a request id or order id may.
            parse_options=pacsv.ParseOptions(newlines_in_values=True),
            convert_options=pacsv.ConvertOptions(
                column_types=schema,
                true_values=["t"],
                false_values=["f"],
                # COPY writes NULL unquoted and an empty string quoted: keep them apart.
                strings_can_be_null=True,
                quoted_strings_can_be_null=False,
            ),
        )
        with pq.ParquetWriter(path, schema, compression="zstd") as writer:
            for batch in reader:
                writer.write_batch(batch)
                rows += batch.num_rows
    return rows


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1024 * 1024), b""):
            digest.update(block)
    return digest.hexdigest()


def audit_month_archive(
    *, month: dt.date, archived_by: str = "", now: dt.datetime | None = None
) -> PredictionAuditArchive:
    """Export one closed month of the audit to Parquet, record it, and detach and drop its partition.

    The month must have ended at least `IDEMPOTENCY_WINDOW_DAYS` ago (no live key points into it). In one
    transaction: the partition is locked against inserts, streamed by COPY into a Parquet file (written
    beside, then renamed; its row count must equal the partition's), the file's sha256 recorded, the month's
    idempotency keys forgotten, and the partition detached from the table and dropped. A failure anywhere
    leaves the table as it was. Already archived, the month's record is returned as it is.
    """
    now = now or timezone.now()
    month = month_of(month)
    existing = PredictionAuditArchive.objects.filter(month=month).first()
    if existing is not None:
        return existing
    _, end = month_bounds(month)
    if end > now - dt.timedelta(days=IDEMPOTENCY_WINDOW_DAYS):
        raise ArchiveRefused(f"{month:%Y-%m} is not closed for {IDEMPOTENCY_WINDOW_DAYS} days yet")
    table = partition_name(month)
    relative = Path(f"{month:%Y}") / f"prediction-audit-{month:%Y-%m}.parquet"
    path = Path(settings.AUDIT_ARCHIVE_ROOT) / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".parquet.partial")
    with transaction.atomic(), connection.cursor() as cursor:
        if not is_partitioned(cursor) or month not in {partition.month for partition in partitions_list(cursor)}:
            raise ArchiveRefused(f"the prediction audit has no partition for {month:%Y-%m}")
        # Inserts into this month wait (none are expected: it is closed); the rest of the table is untouched.
        cursor.execute(f"LOCK TABLE {table} IN SHARE MODE")
        cursor.execute(f"SELECT count(*) FROM {table}")
        (expected,) = cursor.fetchone()
        rows = _export(cursor, table, partial)
        if rows != expected:
            partial.unlink()
            raise ArchiveRefused(f"{month:%Y-%m}: exported {rows} rows of {expected}; nothing archived")
        os.replace(partial, path)
        archive = PredictionAuditArchive.objects.create(
            month=month,
            path=str(relative),
            sha256=_file_sha256(path),
            rows=rows,
            size_bytes=path.stat().st_size,
            archived_at=now,
            archived_by=archived_by,
        )
        cursor.execute(f"DELETE FROM {KEYS_TABLE} WHERE created_at < %s", [end])
        cursor.execute(f"SET LOCAL lock_timeout = '{DETACH_LOCK_TIMEOUT}'")
        cursor.execute(f"ALTER TABLE {PredictionAudit._meta.db_table} DETACH PARTITION {table}")
        cursor.execute(f"DROP TABLE {table}")
    return archive


def audit_months_due(*, now: dt.datetime | None = None, retention_months: int | None = None) -> list[dt.date]:
    """The months whose partitions retention archives now: older than the last ``retention_months`` months."""
    now = now or timezone.now()
    keep = settings.AUDIT_RETENTION_MONTHS if retention_months is None else retention_months
    if keep <= 0:
        return []
    oldest_kept = month_add(month_of(now), -keep)
    with connection.cursor() as cursor:
        if not is_partitioned(cursor):
            return []
        partitions = partitions_list(cursor)
    return [
        partition.month for partition in partitions if partition.month is not None and partition.month < oldest_kept
    ]


def audit_retention_run(
    *, now: dt.datetime | None = None, archived_by: str = "retention"
) -> list[PredictionAuditArchive]:
    """Archive every month older than AUDIT_RETENTION_MONTHS, oldest first; the archives written."""
    return [audit_month_archive(month=month, archived_by=archived_by, now=now) for month in audit_months_due(now=now)]


def _archived_row(archive: PredictionAuditArchive, audit_id: uuid.UUID) -> dict[str, object] | None:
    path = Path(settings.AUDIT_ARCHIVE_ROOT) / archive.path
    if not path.exists():
        raise ArchiveCorrupt(f"archive {archive.path} of {archive.month:%Y-%m} is missing")
    # The id column alone first: a month is millions of rows, the match at most one.
    try:
        ids = pq.read_table(path, columns=["id"]).column("id")
    except pa.ArrowException as error:
        raise ArchiveCorrupt(f"archive {archive.path} of {archive.month:%Y-%m} cannot be read: {error}") from error
    matches = pc.index(ids, str(audit_id)).as_py()
    if matches < 0:
        return None
    if _file_sha256(path) != archive.sha256:
        raise ArchiveCorrupt(f"archive {archive.path} of {archive.month:%Y-%m} fails its sha256 check")
    return pq.read_table(path).slice(matches, 1).to_pylist()[0]


def _audit_from_archive(row: dict[str, object]) -> PredictionAudit:
    values: dict[str, object] = {}
    for field in _archive_fields():
        if field.column not in row:
            continue  # a column added after the month was archived keeps its model default
        value = row[field.column]
        if field.get_internal_type() == "JSONField" and value is not None:
            value = json.loads(str(value))
        values[field.attname] = field.to_python(value) if field.get_internal_type() == "UUIDField" else value
    return PredictionAudit(**values)


def audit_find(*, audit_id: uuid.UUID) -> tuple[PredictionAudit, PredictionAuditArchive | None] | None:
    """The audited prediction ``audit_id``, from the table or else from an archive (then also the archive).

    An archived row comes back as an unsaved `PredictionAudit` with every recorded field, read from a file
    whose sha256 matched its record (`ArchiveCorrupt` otherwise).
    """
    found = (
        PredictionAudit.objects.select_related("model_version__registered_model", "tenant").filter(pk=audit_id).first()
    )
    if found is not None:
        return found, None
    for archive in PredictionAuditArchive.objects.order_by("-month"):
        row = _archived_row(archive, audit_id)
        if row is not None:
            return _audit_from_archive(row), archive
    return None
