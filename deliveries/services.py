"""Importing a tenant's delivery history: normalise, validate, de-duplicate, store, and judge quality."""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from core.delivery.quality import assess_quality
from core.delivery.schema import CleanDelivery, RowResult, normalize_row, read_raw_rows
from deliveries.choices import ImportSource
from deliveries.constants import BULK_CREATE_BATCH_SIZE, EXISTING_ID_LOOKUP_CHUNK
from deliveries.models import DataQualityReport, Delivery, ImportBatch, RejectedRow
from deliveries.selectors import deliveries_frame
from tenants.models import Tenant

ProgressWrapper = Callable[[Iterable[tuple[int, dict[str, str]]]], Iterable[tuple[int, dict[str, str]]]]


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


def _existing_order_ids(tenant: Tenant, order_ids: list[str]) -> set[str]:
    existing: set[str] = set()
    for start in range(0, len(order_ids), EXISTING_ID_LOOKUP_CHUNK):
        chunk = order_ids[start : start + EXISTING_ID_LOOKUP_CHUNK]
        existing.update(
            Delivery.objects.filter(tenant=tenant, external_order_id__in=chunk).values_list(
                "external_order_id", flat=True
            )
        )
    return existing


def deliveries_import(
    *,
    tenant: Tenant,
    path: Path,
    source: str = ImportSource.FILE,
    created_by: str = "",
    progress: ProgressWrapper | None = None,
) -> ImportOutcome:
    """Import a delivery-history file for a tenant, all or nothing.

    The whole file is read and normalised before anything is written, so a file with a bad header or
    unreadable content raises `core.delivery.schema.SchemaError` and leaves the database untouched. Rows
    that fail validation are stored as `RejectedRow`s of the batch; rows whose order id the tenant
    already has (or that repeat an earlier line of the file) count as duplicates. Importing the same
    file again therefore adds nothing. Imports of one tenant are serialised by a row lock on the tenant.
    """
    started_at = timezone.now()
    sha256 = file_sha256(path)
    time_zone = ZoneInfo(tenant.time_zone)
    rows = read_raw_rows(path)
    results: list[RowResult] = [
        normalize_row(raw, line_number=line_number, time_zone=time_zone, now=started_at)
        for line_number, raw in (progress(rows) if progress else rows)
    ]

    with transaction.atomic():
        Tenant.objects.select_for_update().get(pk=tenant.pk)
        previous = ImportBatch.objects.filter(tenant=tenant, file_sha256=sha256).order_by("started_at").first()
        reference = deliveries_frame(tenant=tenant, sample=True)
        accepted = [result for result in results if result.delivery is not None]
        rejected = [result for result in results if result.delivery is None]
        existing = _existing_order_ids(tenant, [r.delivery.external_order_id for r in accepted])  # type: ignore[union-attr]
        seen_in_file: set[str] = set()
        new_rows: list[RowResult] = []
        duplicates_in_file = 0
        for result in accepted:
            order_id = result.delivery.external_order_id  # type: ignore[union-attr]
            if order_id in seen_in_file:
                duplicates_in_file += 1
            elif order_id not in existing:
                new_rows.append(result)
            seen_in_file.add(order_id)
        fixes = Counter(fix for result in new_rows for fix in result.delivery.fixes)  # type: ignore[union-attr]

        batch = ImportBatch.objects.create(
            tenant=tenant,
            source=source,
            file_name=path.name,
            file_sha256=sha256,
            rows_read=len(results),
            rows_imported=len(new_rows),
            rows_rejected=len(rejected),
            rows_duplicate=len(accepted) - len(new_rows),
            normalisations=dict(sorted(fixes.items())),
            started_at=started_at,
            finished_at=started_at,  # set below, once the rows are in
            created_by=created_by,
        )
        Delivery.objects.bulk_create(
            (
                Delivery(tenant=tenant, import_batch=batch, **_model_fields(result.delivery))  # type: ignore[arg-type]
                for result in new_rows
            ),
            batch_size=BULK_CREATE_BATCH_SIZE,
        )
        RejectedRow.objects.bulk_create(
            (
                RejectedRow(
                    batch=batch,
                    line_number=result.line_number,
                    errors=[{"column": e.column, "reason": e.reason} for e in result.errors],
                    raw=result.raw,
                )
                for result in rejected
            ),
            batch_size=BULK_CREATE_BATCH_SIZE,
        )
        accepted_frame = pd.DataFrame([result.delivery.as_dict() for result in accepted])  # type: ignore[union-attr]
        quality = assess_quality(
            raw_rows=[result.raw for result in results],
            accepted=accepted_frame,
            rows_rejected=len(rejected),
            duplicates_in_file=duplicates_in_file,
            reference=reference,
        )
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
