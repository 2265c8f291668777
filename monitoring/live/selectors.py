"""Reads of audited predictions and reported outcomes for the live-traffic checks."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd
from django.db.models.fields.json import KeyTextTransform

from features.choices import Freshness
from monitoring.constants import CHECK_MAX_ROWS
from monitoring.live.sampling import HOUR_COLUMN, PREDICTION_COLUMN
from predictions.models import PredictionAudit, PredictionOutcome
from registry.choices import Alias
from registry.constants import ETA_MODEL_NAME
from registry.models import ModelAlias, ModelVersion
from tenants.models import Tenant

# The order fields realized accuracy is broken down by (the fairness dimensions of the evaluation report).
SEGMENT_FIELDS: tuple[str, ...] = ("area", "vehicle", "weather", "traffic")


def audit_window_frame(
    *, tenant: Tenant, version: ModelVersion, start: dt.datetime, end: dt.datetime, columns: list[str]
) -> pd.DataFrame:
    """The feature `columns` and predicted ETA of a version's predictions made in (start, end], oldest first.

    At most `CHECK_MAX_ROWS` of the most recent ones. A value the audit stored as null (NaN) or lacks is
    missing (None); types are left to the statistics, which read numbers and categories themselves.
    """
    rows = list(
        PredictionAudit.objects.filter(tenant=tenant, model_version=version, created_at__gt=start, created_at__lte=end)
        .order_by("-created_at")
        .values_list("features", "predicted_eta_minutes")[:CHECK_MAX_ROWS]
    )
    rows.reverse()
    data: dict[str, list[object]] = {name: [features.get(name) for features, _ in rows] for name in columns}
    data[PREDICTION_COLUMN] = [eta for _, eta in rows]
    return pd.DataFrame(data, columns=[*columns, PREDICTION_COLUMN])


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

    The segment labels come from the audited order (null when the order did not say, e.g. no traffic), the
    order's time of day from its audited feature vector.
    """
    annotations = {f"segment_{name}": KeyTextTransform(name, "audit__order") for name in SEGMENT_FIELDS}
    annotations["order_hour_text"] = KeyTextTransform(HOUR_COLUMN, "audit__features")
    rows = list(
        PredictionOutcome.objects.filter(
            tenant=tenant, model_version=version, reported_at__gt=start, reported_at__lte=end
        )
        .order_by("-reported_at")
        .annotate(**annotations)
        .values("actual_minutes", "error_minutes", "reported_at", *annotations)[:CHECK_MAX_ROWS]
    )
    rows.reverse()
    actual = np.array([row["actual_minutes"] for row in rows], dtype=np.float64)
    error = np.array([row["error_minutes"] for row in rows], dtype=np.float64)
    reported = pd.to_datetime([row["reported_at"] for row in rows], utc=True).tz_localize(None)
    hours = [row["order_hour_text"] for row in rows]
    return OutcomeWindow(
        actual=actual,
        predicted=actual + error,  # error_minutes is predicted minus actual
        reported_at=reported.to_numpy(dtype="datetime64[ns]"),
        order_hours=np.array([np.nan if hour is None else float(hour) for hour in hours], dtype=np.float64),
        segments={name: np.array([row[f"segment_{name}"] for row in rows], dtype=object) for name in SEGMENT_FIELDS},
    )


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
