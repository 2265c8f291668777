"""The reference of a serving version: a sample of its training data, built on first use and cached.

Reference = the version's training data. The lineage of a trained version pins the data snapshot (which
deliveries, ordered before when, up to which id), so the same rows are read back here and their features
rebuilt point-in-time with the same code that trained it, then scored by the version itself for the
prediction-drift reference. Only the snapshot's last DRIFT_REFERENCE_DAYS are used: history features (a
courier's mean, hours since the last delivery) are still warming up in the first days of any history, and
those rows would look like drift against every live window. The sample is stored as a `DriftReference` row
and parsed once per process. The same row keeps the version's validation errors by hour of day, the baseline
realized accuracy is judged against, and the period's kinds of day when it has them (`core.stats.strata`:
each sample row's day type, the rule in `source["day_types"]`).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from django.conf import settings
from django.db import IntegrityError, transaction

from core.features import build_features
from core.model import ETAPredictor
from core.stats.strata import UNKNOWN_DAY_TYPE, DayTypes, detect_day_types
from deliveries.selectors import deliveries_frame
from monitoring.constants import REFERENCE_CACHE_SIZE, REFERENCE_SEED
from monitoring.live.accuracy_rules import hourly_error_profile, pooled_summary, segment_error_profile
from monitoring.live.sampling import (
    DAY_TYPE_COLUMN,
    HOUR_COLUMN,
    PREDICTION_COLUMN,
    WEEKDAY_COLUMN,
    DriftFeatures,
    columns_to_frame,
    drift_features,
    frame_to_columns,
    reference_sample,
)
from monitoring.live.selectors import SEGMENT_FIELDS
from monitoring.models import DriftReference
from registry.loader import model_version_load
from registry.models import ModelVersion

logger = logging.getLogger(__name__)


class ReferenceUnavailable(Exception):
    """The version's training data cannot be read back (no deliveries in its snapshot any more)."""


def drift_reference_get_or_build(*, version: ModelVersion) -> DriftReference:
    """The version's stored reference, built now if it has none (once: concurrent builders store one row).

    Building reads the snapshot's deliveries, computes their features and scores them with the version
    (seconds for a large history); it happens outside any transaction, and a builder that loses the race
    to store it returns the winner's row. Raises `ReferenceUnavailable` when the snapshot has no rows.
    """
    existing = DriftReference.objects.filter(model_version=version).first()
    if existing is not None:
        return existing
    built = _build(version)
    try:
        with transaction.atomic():
            return DriftReference.objects.create(
                tenant_id=version.tenant_id,
                model_version=version,
                features=built.features.as_dict(),
                columns=built.columns,
                rows=built.rows,
                error_profile=built.error_profile,
                segment_error_profile=built.segment_error_profile,
                source=built.source,
            )
    except IntegrityError:
        return DriftReference.objects.get(model_version=version)


_cache: OrderedDict[int, pd.DataFrame] = OrderedDict()
_cache_lock = threading.Lock()


def drift_reference_frame(reference: DriftReference) -> pd.DataFrame:
    """The reference sample as a DataFrame (numeric columns float64 with NaN), parsed once per process.

    A reference row never changes, so its id is a safe cache key. Callers must not modify the frame.
    """
    with _cache_lock:
        frame = _cache.get(reference.pk)
        if frame is not None:
            _cache.move_to_end(reference.pk)
            return frame
    kinds = {name: "categorical" for name in reference.features["categorical"]}
    frame = columns_to_frame(reference.columns, kinds)
    with _cache_lock:
        _cache[reference.pk] = frame
        while len(_cache) > REFERENCE_CACHE_SIZE:
            _cache.popitem(last=False)
    return frame


def reference_cache_clear() -> None:
    """Forget the parsed references (tests)."""
    with _cache_lock:
        _cache.clear()


def _snapshot_history(version: ModelVersion) -> tuple[pd.DataFrame, dict[str, object]]:
    """The deliveries the version was trained on, and a description of how they were selected."""
    recorded = (version.lineage or {}).get("data") or {}
    if "delivery_id_at_most" in recorded:
        ordered_before = recorded.get("ordered_before")
        history = deliveries_frame(
            tenant=version.tenant,
            ordered_before=dt.datetime.fromisoformat(ordered_before) if ordered_before else None,
            id_at_most=recorded["delivery_id_at_most"],
        )
        return history, {
            "snapshot": "lineage",
            "ordered_before": ordered_before,
            "delivery_id_at_most": recorded["delivery_id_at_most"],
        }
    # A version registered without lineage (imported, or made by hand): the history it could have seen.
    history = deliveries_frame(tenant=version.tenant, ordered_before=version.created_at)
    return history, {"snapshot": "deliveries ordered before the version was registered", "ordered_before": None}


@dataclass(frozen=True)
class _Built:
    features: DriftFeatures
    columns: dict[str, list[object]]
    rows: int
    error_profile: dict[str, dict[str, float]]
    segment_error_profile: dict[str, dict[str, dict[str, float]]]
    source: dict[str, object]


def _error_profiles(
    version: ModelVersion, history: pd.DataFrame, predictor: ETAPredictor, time_zone: ZoneInfo
) -> tuple[dict[str, dict[str, float]], dict[str, dict[str, dict[str, float]]]]:
    """The version's errors on its own validation window by hour of day, and per segment against their hours
    (`segment_error_profile`); both empty without lineage.

    The validation window is the one training recorded (`evaluation_start`): the rows the version was not
    fitted on and its validation MAE was measured on.
    """
    evaluation_start = ((version.lineage or {}).get("data") or {}).get("evaluation_start")
    if not evaluation_start:
        return {}, {}
    evaluation = history[history["ordered_at"] > pd.Timestamp(evaluation_start)]
    if evaluation.empty:
        return {}, {}
    vectors = build_features(evaluation, history=history, time_zone=time_zone)
    errors = predictor.predict_frame(vectors).eta_minutes - evaluation["delivery_minutes"].to_numpy(dtype=float)
    hours = vectors[HOUR_COLUMN].to_numpy(dtype=np.float64)
    profile = hourly_error_profile(hours, errors)
    segments = {name: evaluation[name].to_numpy(dtype=object) for name in SEGMENT_FIELDS}
    overall = pooled_summary(profile, mae=float(np.abs(errors).mean()))
    return profile, segment_error_profile(profile, hours, errors, segments, overall=overall)


def _day_types(sample: pd.DataFrame, local_dates: pd.Series, features: DriftFeatures) -> DayTypes | None:
    """Detect the reference period's kinds of day and mark each sample row's (in place, `DAY_TYPE_COLUMN`).

    None (and every row UNKNOWN_DAY_TYPE) when no numeric feature splits the days in two: then the adjusted
    reference is stratified by time of day and weekend only.
    """
    days = pd.Series(local_dates.to_numpy(), index=sample.index).astype(str)
    frame = sample.assign(_day=days)
    day_types = detect_day_types(frame, day_column="_day", features=features.numeric)
    sample[DAY_TYPE_COLUMN] = float(UNKNOWN_DAY_TYPE)
    if day_types is not None:
        daily = frame.groupby("_day")[day_types.feature].transform("mean")
        sample[DAY_TYPE_COLUMN] = [float(day_types.day_type(mean)) for mean in daily]
    return day_types


def _build(version: ModelVersion) -> _Built:
    history, source = _snapshot_history(version)
    if history.empty:
        raise ReferenceUnavailable(f"{version}: its training snapshot has no deliveries")
    predictor = model_version_load(version=version)
    features = drift_features(predictor.feature_names)
    period_start = history["ordered_at"].max() - pd.Timedelta(days=settings.DRIFT_REFERENCE_DAYS)
    period = history[history["ordered_at"] > period_start]
    orders = reference_sample(period, max_rows=settings.DRIFT_REFERENCE_MAX_ROWS, seed=REFERENCE_SEED)
    # Point-in-time against the whole snapshot: each row gets exactly the vector it had in training.
    time_zone = ZoneInfo(version.tenant.time_zone)
    vectors = build_features(orders, history=history, time_zone=time_zone)
    sample = vectors[[*features.names, HOUR_COLUMN, WEEKDAY_COLUMN]].copy()
    sample[PREDICTION_COLUMN] = predictor.predict_frame(vectors).eta_minutes
    sample = sample.loc[:, ~sample.columns.duplicated()]  # order_hour may also be a tested feature
    day_types = _day_types(sample, orders["ordered_at"].dt.tz_convert(time_zone).dt.date, features)
    logger.info("built the drift reference of %s from %d of %d snapshot rows", version, len(sample), len(history))
    source = {
        **source,
        "snapshot_rows": len(history),
        "period_start": period_start.isoformat(),
        "period_end": history["ordered_at"].max().isoformat(),
        "period_rows": len(period),
        "sample_seed": REFERENCE_SEED,
        "day_types": day_types.as_dict() if day_types is not None else None,
    }
    error_profile, segment_profile = _error_profiles(version, history, predictor, time_zone)
    return _Built(
        features=features,
        columns=frame_to_columns(sample),
        rows=len(sample),
        error_profile=error_profile,
        segment_error_profile=segment_profile,
        source=source,
    )
