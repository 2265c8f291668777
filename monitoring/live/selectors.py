"""Reads of audited predictions and reported outcomes for the live-traffic checks."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import pandas as pd
from django.db.models import F
from django.db.models.fields.json import KeyTextTransform

from features.choices import Freshness
from monitoring.constants import CHECK_MAX_ROWS
from monitoring.live.sampling import HOUR_COLUMN, PREDICTION_COLUMN
from predictions.models import PredictionAudit, PredictionOutcome, ShadowPrediction
from registry.choices import Alias
from registry.constants import ETA_MODEL_NAME
from registry.models import ModelAlias, ModelVersion
from tenants.models import Tenant

# The order fields realized accuracy is broken down by (the fairness dimensions of the evaluation report).
SEGMENT_FIELDS: tuple[str, ...] = ("area", "vehicle", "weather", "traffic")

_Row = TypeVar("_Row")


def audit_window_frame(
    *, tenant: Tenant, version: ModelVersion, start: dt.datetime, end: dt.datetime, columns: list[str]
) -> pd.DataFrame:
    """The feature `columns` and predicted ETA of a version's predictions of orders made in (start, end].

    Oldest first, at most `CHECK_MAX_ROWS` of the most recent ones. A version's predictions are the ones it
    served (audit rows) and, while it was the challenger, the ones it scored in the shadow on the audited
    feature vectors of the champion's orders. A value the audit stored as null (NaN) or lacks is missing
    (None); types are left to the statistics, which read numbers and categories themselves.
    """
    served = (
        PredictionAudit.objects.filter(tenant=tenant, model_version=version, created_at__gt=start, created_at__lte=end)
        .order_by("-created_at")
        .values_list("created_at", "features", "predicted_eta_minutes")[:CHECK_MAX_ROWS]
    )
    shadowed = (
        ShadowPrediction.objects.filter(
            tenant=tenant, model_version=version, audit__created_at__gt=start, audit__created_at__lte=end
        )
        .order_by("-audit__created_at")
        .values_list("audit__created_at", "audit__features", "predicted_eta_minutes")[:CHECK_MAX_ROWS]
    )
    rows = _latest([*served, *shadowed], key=lambda row: row[0])
    data: dict[str, list[object]] = {name: [features.get(name) for _, features, _ in rows] for name in columns}
    data[PREDICTION_COLUMN] = [eta for _, _, eta in rows]
    return pd.DataFrame(data, columns=[*columns, PREDICTION_COLUMN])


def _latest(rows: list[_Row], *, key: Callable[[_Row], dt.datetime]) -> list[_Row]:
    """The `CHECK_MAX_ROWS` latest of `rows` by `key`, oldest first."""
    return sorted(rows, key=key)[-CHECK_MAX_ROWS:]


@dataclass(frozen=True)
class OutcomeWindow:
    """Reported outcomes of one version joined to their predictions, aligned arrays (minutes)."""

    actual: np.ndarray
    predicted: np.ndarray
    reported_at: np.ndarray  # datetime64[ns, UTC] values
    order_hours: np.ndarray  # local time of day of each order, hours (NaN when the audit lacks it)
    segments: dict[str, np.ndarray]

    def __len__(self) -> int:
        return int(self.actual.size)

    @property
    def mean_error(self) -> float | None:
        """The bias: mean of predicted minus actual (None without outcomes)."""
        return float((self.predicted - self.actual).mean()) if self.actual.size else None

    def since(self, start: dt.datetime) -> OutcomeWindow:
        """The outcomes reported after `start`."""
        return self._subset(
            self.reported_at > np.datetime64(pd.Timestamp(start).tz_convert("UTC").tz_localize(None), "ns")
        )

    def latest(self, count: int) -> OutcomeWindow:
        """The `count` outcomes reported last (all of them when there are fewer)."""
        mask = np.zeros(len(self), dtype=bool)
        mask[max(len(self) - count, 0) :] = True  # oldest first: the latest are at the end
        return self._subset(mask)

    @property
    def first_reported_at(self) -> dt.datetime | None:
        return pd.Timestamp(self.reported_at[0]).tz_localize("UTC").to_pydatetime() if len(self) else None

    def _subset(self, mask: np.ndarray) -> OutcomeWindow:
        return OutcomeWindow(
            actual=self.actual[mask],
            predicted=self.predicted[mask],
            reported_at=self.reported_at[mask],
            order_hours=self.order_hours[mask],
            segments={name: labels[mask] for name, labels in self.segments.items()},
        )


def outcome_window(*, tenant: Tenant, version: ModelVersion, start: dt.datetime, end: dt.datetime) -> OutcomeWindow:
    """Outcomes of a version's predictions reported in (start, end] (at most `CHECK_MAX_ROWS`, the latest).

    The version's predictions are the ones it served and the ones it scored in the shadow as challenger
    (their orders' outcomes give the shadow prediction an error too). The segment labels come from the
    audited order (null when the order did not say, e.g. no traffic), the order's time of day from its
    audited feature vector.
    """
    order_columns = _order_annotations()
    served = PredictionOutcome.objects.filter(
        tenant=tenant, model_version=version, reported_at__gt=start, reported_at__lte=end
    ).annotate(
        actual=F("actual_minutes"),
        # error_minutes is predicted minus actual
        predicted=F("actual_minutes") + F("error_minutes"),
        reported=F("reported_at"),
        **order_columns,
    )
    shadowed = ShadowPrediction.objects.filter(
        tenant=tenant,
        model_version=version,
        audit__outcome__reported_at__gt=start,
        audit__outcome__reported_at__lte=end,
    ).annotate(
        actual=F("audit__outcome__actual_minutes"),
        predicted=F("predicted_eta_minutes"),
        reported=F("audit__outcome__reported_at"),
        **order_columns,
    )
    names = ["actual", "predicted", "reported", *order_columns]
    rows = _latest(
        [
            *served.order_by("-reported").values(*names)[:CHECK_MAX_ROWS],
            *shadowed.order_by("-reported").values(*names)[:CHECK_MAX_ROWS],
        ],
        key=lambda row: row["reported"],
    )
    reported = pd.to_datetime([row["reported"] for row in rows], utc=True).tz_localize(None)
    hours = [row["order_hour_text"] for row in rows]
    return OutcomeWindow(
        actual=np.array([row["actual"] for row in rows], dtype=np.float64),
        predicted=np.array([row["predicted"] for row in rows], dtype=np.float64),
        reported_at=reported.to_numpy(dtype="datetime64[ns]"),
        order_hours=np.array([np.nan if hour is None else float(hour) for hour in hours], dtype=np.float64),
        segments={name: np.array([row[f"segment_{name}"] for row in rows], dtype=object) for name in SEGMENT_FIELDS},
    )


def _order_annotations() -> dict[str, KeyTextTransform]:
    """The segment labels of the audited order and its time of day (outcomes and shadow rows both have `audit`)."""
    annotations = {f"segment_{name}": KeyTextTransform(name, "audit__order") for name in SEGMENT_FIELDS}
    annotations["order_hour_text"] = KeyTextTransform(HOUR_COLUMN, "audit__features")
    return annotations


@dataclass(frozen=True)
class QualityCounts:
    """Counts of a tenant's predictions in a window with each live data-quality problem."""

    predictions: int
    out_of_distribution: int
    fallback: int
    stale: int
    missing_state: int
    any_problem: int


def quality_counts(*, tenant: Tenant, start: dt.datetime, end: dt.datetime) -> QualityCounts:
    """How many of the tenant's predictions in (start, end] were OOD, used a fallback or had stale features.

    Freshness is per feature in the audit (`{"name": {"status": ...}}`); a prediction counts as stale (or
    missing) when any feature's state was. At most `CHECK_MAX_ROWS` of the most recent predictions.
    """
    rows = PredictionAudit.objects.filter(tenant=tenant, created_at__gt=start, created_at__lte=end).order_by(
        "-created_at"
    )
    ood = fallback = stale = missing = any_problem = total = 0
    for is_ood, used_fallback, freshness in rows.values_list("is_ood", "used_fallback", "feature_freshness")[
        :CHECK_MAX_ROWS
    ]:
        statuses = {entry.get("status") for entry in (freshness or {}).values() if isinstance(entry, dict)}
        is_stale, is_missing = Freshness.STALE in statuses, Freshness.MISSING in statuses
        total += 1
        ood += is_ood
        fallback += used_fallback
        stale += is_stale
        missing += is_missing
        any_problem += is_ood or used_fallback or is_stale
    return QualityCounts(
        predictions=total,
        out_of_distribution=ood,
        fallback=fallback,
        stale=stale,
        missing_state=missing,
        any_problem=any_problem,
    )


def serving_versions(*, tenant: Tenant) -> list[tuple[str, ModelVersion]]:
    """The tenant's ETA versions with an alias, champion first: [("champion", v), ("challenger", w)]."""
    aliases = ModelAlias.objects.filter(tenant=tenant, registered_model__name=ETA_MODEL_NAME).select_related(
        "version__registered_model__tenant"
    )
    rank = {Alias.CHAMPION: 0, Alias.CHALLENGER: 1}
    return sorted(((row.alias, row.version) for row in aliases if row.alias in rank), key=lambda pair: rank[pair[0]])
