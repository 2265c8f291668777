"""Reads of delivery history that are more than one queryset line."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pandas as pd
from django.db.models import Count, Exists, F, Max, Min, OuterRef, Q, QuerySet
from django.utils import timezone

from core.delivery.plausibility import DELIVERY_MINUTES_RANGE, MAX_PICKUP_WAIT, order_window
from core.delivery.schema import CleanDelivery
from deliveries.constants import IMPLAUSIBLE_IDS_SHOWN, SHIFT_REFERENCE_SAMPLE
from deliveries.models import DataQualityReport, Delivery, ImportBatch
from tenants.models import Tenant

DELIVERY_FRAME_COLUMNS = [name for name in CleanDelivery.__dataclass_fields__ if name != "fixes"]


def plausible_q(*, now: dt.datetime) -> Q:
    """Stored deliveries whose instants pass `core.delivery.plausibility`'s rules for a completed delivery.

    The SQL form of `implausible_instants` (its same bounds), so every reader of stored history skips a row
    that breaks them (stored before the rules, or written around them) instead of crashing on it: such a
    row cannot be trained on, materialised or monitored.
    """
    earliest, latest = order_window(now=now, is_completed=True)
    low, high = DELIVERY_MINUTES_RANGE
    return Q(
        ordered_at__gte=earliest,
        ordered_at__lte=latest,
        picked_at__gte=F("ordered_at"),
        picked_at__lte=F("ordered_at") + MAX_PICKUP_WAIT,
        delivery_minutes__gte=low,
        delivery_minutes__lte=high,
    )


def snapshot_deliveries(
    *, tenant: Tenant, ordered_before: dt.datetime | None, id_at_most: int | None
) -> QuerySet[Delivery]:
    """The tenant's deliveries of a reproducible snapshot: ordered before a time, imported up to an id."""
    queryset = Delivery.objects.filter(tenant=tenant)
    if ordered_before is not None:
        queryset = queryset.filter(ordered_at__lt=ordered_before)
    if id_at_most is not None:
        queryset = queryset.filter(id__lte=id_at_most)
    return queryset


def deliveries_frame(
    *,
    tenant: Tenant,
    sample: bool = False,
    ordered_before: dt.datetime | None = None,
    id_at_most: int | None = None,
    plausible_at: dt.datetime | None = None,
) -> pd.DataFrame:
    """The tenant's deliveries as a DataFrame in the `schema.CleanDelivery` columns, oldest first.

    With `sample`, at most SHIFT_REFERENCE_SAMPLE of the most recent rows (enough for distribution checks).
    `ordered_before` and `id_at_most` select a reproducible snapshot: rows imported later have larger ids.
    Rows whose instants are implausible at `plausible_at` (default now) are left out (`plausible_q`);
    `deliveries_implausible` counts them for the caller's report.
    """
    queryset = (
        snapshot_deliveries(tenant=tenant, ordered_before=ordered_before, id_at_most=id_at_most)
        .filter(plausible_q(now=plausible_at or timezone.now()))
        .order_by("-ordered_at", "-id")
    )
    if sample:
        queryset = queryset[:SHIFT_REFERENCE_SAMPLE]
    return delivery_rows_frame(queryset).iloc[::-1].reset_index(drop=True)


def delivery_rows_frame(queryset: QuerySet[Delivery]) -> pd.DataFrame:
    """Deliveries as a DataFrame in the `schema.CleanDelivery` columns, in the queryset's order.

    The one conversion every reader of delivery history uses, so all see the same dtypes (UTC times).
    """
    rows = list(queryset.values_list(*DELIVERY_FRAME_COLUMNS))
    frame = pd.DataFrame.from_records(rows, columns=DELIVERY_FRAME_COLUMNS)
    frame["ordered_at"] = pd.to_datetime(frame["ordered_at"], utc=True)
    frame["picked_at"] = pd.to_datetime(frame["picked_at"], utc=True)
    return frame


@dataclass(frozen=True)
class ImplausibleDeliveries:
    """Stored deliveries that readers skip because their instants are implausible: how many, and some ids."""

    count: int
    example_ids: list[int]

    def describe(self, tenant: Tenant) -> str:
        ids = ", ".join(str(pk) for pk in self.example_ids)
        more = ", ..." if self.count > len(self.example_ids) else ""
        return (
            f"skipped {self.count} stored deliveries of tenant {tenant.slug} whose order, pickup or delivery time "
            f"is implausible (ids {ids}{more}); see core/delivery/plausibility.py"
        )


def deliveries_implausible(
    *,
    tenant: Tenant,
    ordered_before: dt.datetime | None = None,
    id_at_most: int | None = None,
    plausible_at: dt.datetime | None = None,
) -> ImplausibleDeliveries:
    """The deliveries `deliveries_frame` leaves out of the same selection, for the caller to report."""
    queryset = snapshot_deliveries(tenant=tenant, ordered_before=ordered_before, id_at_most=id_at_most).exclude(
        plausible_q(now=plausible_at or timezone.now())
    )
    example_ids = list(queryset.order_by("id").values_list("id", flat=True)[:IMPLAUSIBLE_IDS_SHOWN])
    count = len(example_ids) if len(example_ids) < IMPLAUSIBLE_IDS_SHOWN else queryset.count()
    return ImplausibleDeliveries(count=count, example_ids=example_ids)


def deliveries_latest_id(*, tenant: Tenant) -> int:
    return Delivery.objects.filter(tenant=tenant).aggregate(latest=Max("id"))["latest"] or 0


def deliveries_ordered_span(*, tenant: Tenant) -> tuple[dt.datetime, dt.datetime] | None:
    """When the tenant's first and last stored deliveries were ordered; None without any (one index read each)."""
    span = Delivery.objects.filter(tenant=tenant).aggregate(first=Min("ordered_at"), last=Max("ordered_at"))
    return None if span["first"] is None else (span["first"], span["last"])


@dataclass(frozen=True)
class QualityGateVerdict:
    """Whether a tenant's stored history may be trained on, and why not."""

    passes: bool
    reason: str
    failing_batches: list[int]


def tenant_quality_gate(*, tenant: Tenant) -> QualityGateVerdict:
    """Every batch that contributed deliveries must have passed its quality gate."""
    contributing = ImportBatch.objects.filter(tenant=tenant).filter(
        Exists(Delivery.objects.filter(import_batch=OuterRef("pk")))
    )
    if not contributing.exists():
        return QualityGateVerdict(False, f"tenant {tenant.slug} has no imported deliveries", [])
    failing = list(
        DataQualityReport.objects.filter(batch__in=contributing, passes_gate=False).values_list("batch_id", "score")
    )
    if failing:
        detail = ", ".join(f"batch #{batch_id} scored {score:.1f}" for batch_id, score in failing)
        return QualityGateVerdict(False, f"data quality below the gate: {detail}", [b for b, _ in failing])
    return QualityGateVerdict(True, "every contributing batch passed its quality gate", [])


@dataclass(frozen=True)
class BatchQuality:
    """One contributing import batch's quality report, as the training gate reads it."""

    batch_id: int
    file_name: str
    imported_at: dt.datetime
    rows_imported: int
    score: float | None
    gate_threshold: float | None
    passes_gate: bool | None
    components: dict[str, float]


@dataclass(frozen=True)
class TenantQualityReport:
    """The training gate's verdict on a tenant's history and the batch reports it was made from."""

    verdict: QualityGateVerdict
    batches: list[BatchQuality]


def tenant_quality_report(*, tenant: Tenant) -> TenantQualityReport:
    """`tenant_quality_gate`'s verdict with each contributing batch's report, oldest batch first (two queries)."""
    contributing = (
        ImportBatch.objects.filter(tenant=tenant)
        .filter(Exists(Delivery.objects.filter(import_batch=OuterRef("pk"))))
        .select_related("quality_report")
        .order_by("started_at", "pk")
    )
    batches = []
    for batch in contributing:
        report = getattr(batch, "quality_report", None)
        batches.append(
            BatchQuality(
                batch_id=batch.pk,
                file_name=batch.file_name,
                imported_at=batch.finished_at,
                rows_imported=batch.rows_imported,
                score=report.score if report else None,
                gate_threshold=report.gate_threshold if report else None,
                passes_gate=report.passes_gate if report else None,
                components=report.components if report else {},
            )
        )
    return TenantQualityReport(verdict=tenant_quality_gate(tenant=tenant), batches=batches)


@dataclass(frozen=True)
class SnapshotBatch:
    """One source of a training snapshot's deliveries: an import batch, or (batch_id None) API-reported outcomes."""

    batch_id: int | None
    file_name: str
    file_sha256: str
    rows: int
    quality_score: float | None
    passes_gate: bool | None


def snapshot_import_batches(
    *,
    tenant: Tenant,
    ordered_before: dt.datetime | None,
    id_at_most: int | None,
    plausible_at: dt.datetime | None = None,
) -> list[SnapshotBatch]:
    """Where the deliveries of a snapshot (selected as `deliveries_frame` selects it) came from, oldest batch first.

    How many of the snapshot's rows each import batch brought, with the batch's file fingerprint and quality
    verdict; deliveries recorded from outcomes reported through the API have no batch and come last.
    """
    deliveries = snapshot_deliveries(tenant=tenant, ordered_before=ordered_before, id_at_most=id_at_most).filter(
        plausible_q(now=plausible_at or timezone.now())
    )
    rows_by_batch = dict(
        deliveries.order_by().values("import_batch").annotate(rows=Count("id")).values_list("import_batch", "rows")
    )
    batches = ImportBatch.objects.filter(pk__in=[pk for pk in rows_by_batch if pk is not None]).select_related(
        "quality_report"
    )
    sources = []
    for batch in batches.order_by("started_at", "pk"):
        report = getattr(batch, "quality_report", None)
        sources.append(
            SnapshotBatch(
                batch_id=batch.pk,
                file_name=batch.file_name,
                file_sha256=batch.file_sha256,
                rows=rows_by_batch[batch.pk],
                quality_score=report.score if report else None,
                passes_gate=report.passes_gate if report else None,
            )
        )
    if None in rows_by_batch:
        sources.append(SnapshotBatch(None, "outcomes reported through the API", "", rows_by_batch[None], None, None))
    return sources
