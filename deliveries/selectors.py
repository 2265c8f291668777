"""Reads of delivery history that are more than one queryset line."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pandas as pd
from django.db.models import Exists, Max, OuterRef, QuerySet

from deliveries.constants import SHIFT_REFERENCE_SAMPLE
from deliveries.models import DataQualityReport, Delivery, ImportBatch
from deliveries.schema import CleanDelivery
from tenants.models import Tenant

DELIVERY_FRAME_COLUMNS = [name for name in CleanDelivery.__dataclass_fields__ if name != "fixes"]


def deliveries_frame(
    *,
    tenant: Tenant,
    sample: bool = False,
    ordered_before: dt.datetime | None = None,
    id_at_most: int | None = None,
) -> pd.DataFrame:
    """The tenant's deliveries as a DataFrame in the `schema.CleanDelivery` columns, oldest first.

    With `sample`, at most SHIFT_REFERENCE_SAMPLE of the most recent rows (enough for distribution checks).
    `ordered_before` and `id_at_most` select a reproducible snapshot: rows imported later have larger ids.
    """
    queryset = Delivery.objects.filter(tenant=tenant).order_by("-ordered_at", "-id")
    if ordered_before is not None:
        queryset = queryset.filter(ordered_at__lt=ordered_before)
    if id_at_most is not None:
        queryset = queryset.filter(id__lte=id_at_most)
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


def deliveries_latest_id(*, tenant: Tenant) -> int:
    return Delivery.objects.filter(tenant=tenant).aggregate(latest=Max("id"))["latest"] or 0


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
