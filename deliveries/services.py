"""Importing a tenant's delivery history: normalise, validate, de-duplicate, store, and judge quality."""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from core.delivery.chunks import normalized_chunks
from core.delivery.quality import completeness_from_counts, distribution_shift, score_quality
from core.delivery.schema import CleanDelivery
from deliveries.choices import ImportSource
from deliveries.constants import IMPORT_CHUNK_ROWS, SHIFT_REFERENCE_SAMPLE
from deliveries.models import DataQualityReport, Delivery, ImportBatch
from deliveries.selectors import deliveries_frame
from deliveries.staging import ImportStaging
from tenants.models import Tenant

# Called with the number of rows of each chunk read, for a progress bar.
ProgressCallback = Callable[[int], None]


@dataclass(frozen=True)
class ImportOutcome:
    """What an import did, for the command's summary."""

    batch: ImportBatch
    report: DataQualityReport
    already_imported_batch: ImportBatch | None

    @property
    def added_nothing(self) -> bool:
        return self.batch.rows_imported == 0


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def deliveries_import(
    *,
    tenant: Tenant,
    path: Path,
    source: str = ImportSource.FILE,
    created_by: str = "",
    progress: ProgressCallback | None = None,
    chunk_rows: int = IMPORT_CHUNK_ROWS,
) -> ImportOutcome:
    """Import a delivery-history file for a tenant, all or nothing, in memory bounded by ``chunk_rows``.

    The file is read and normalised ``chunk_rows`` rows at a time (`core.delivery.chunks`), each chunk
    staged in temporary tables (`deliveries.staging`); de-duplication, the quality checks and the insert
    then run set-wise in the database, all inside one transaction. A file with a bad header or unreadable
    content, wherever the damage is, raises `core.delivery.schema.SchemaError` and leaves the database
    untouched. Rows that fail validation are stored as `RejectedRow`s of the batch; rows whose order id
    the tenant already has (or that repeat an earlier line of the file) count as duplicates. Importing
    the same file again therefore adds nothing. Imports of one tenant are serialised by a row lock on the
    tenant. The result does not depend on ``chunk_rows``.
    """
    started_at = timezone.now()
    sha256 = file_sha256(path)
    time_zone = ZoneInfo(tenant.time_zone)

    with transaction.atomic():
        Tenant.objects.select_for_update().get(pk=tenant.pk)
        previous = ImportBatch.objects.filter(tenant=tenant, file_sha256=sha256).order_by("started_at").first()
        reference = deliveries_frame(tenant=tenant, sample=True)
        staging = ImportStaging(connection)
        rows_read = rows_rejected = 0
        present: Counter[str] = Counter()
        for normalized in normalized_chunks(path, chunk_rows=chunk_rows, time_zone=time_zone, now=started_at):
            staging.add(normalized)
            rows_read += normalized.rows
            rows_rejected += len(normalized.rejected)
            present.update(normalized.present)
            if progress is not None:
                progress(normalized.rows)
        counts = staging.count(tenant_id=tenant.pk)
        quality = score_quality(
            rows_read=rows_read,
            rows_rejected=rows_rejected,
            duplicates_in_file=counts.duplicates_in_file,
            completeness=completeness_from_counts(present, rows_read=rows_read),
            outliers=staging.outliers(),
            shift=distribution_shift(staging.sample(size=SHIFT_REFERENCE_SAMPLE), reference),
        )
        batch = ImportBatch.objects.create(
            tenant=tenant,
            source=source,
            file_name=path.name,
            file_sha256=sha256,
            rows_read=rows_read,
            rows_imported=counts.new,
            rows_rejected=rows_rejected,
            rows_duplicate=counts.duplicates,
            normalisations=dict(sorted(counts.fixes.items())),
            started_at=started_at,
            finished_at=started_at,  # set below, once the rows are in
            created_by=created_by,
        )
        staging.insert(tenant_id=tenant.pk, batch_id=batch.pk)
        staging.drop()
        report = DataQualityReport.objects.create(
            batch=batch,
            score=quality.score,
            passes_gate=quality.score >= settings.DATA_QUALITY_GATE,
            gate_threshold=settings.DATA_QUALITY_GATE,
            validity=quality.validity,
            completeness=quality.completeness,
            outliers={name: vars(summary) for name, summary in quality.outliers.items()},
            duplicate_share=quality.duplicate_share,
            distribution_shift=quality.distribution_shift,
            components=quality.components,
        )
        ImportBatch.objects.filter(pk=batch.pk).update(finished_at=timezone.now())
        batch.refresh_from_db()
    return ImportOutcome(batch=batch, report=report, already_imported_batch=previous)


def delivery_record_outcome(*, tenant: Tenant, delivery: CleanDelivery) -> Delivery:
    """Store one delivery whose outcome a tenant reported through the API (no import batch).

    Call inside the caller's transaction; the unique order id per tenant refuses a second outcome.
    """
    return Delivery.objects.create(tenant=tenant, import_batch=None, **_model_fields(delivery))


def _model_fields(delivery: CleanDelivery) -> dict[str, object]:
    fields = delivery.as_dict()
    fields.pop("fixes")
    return fields
