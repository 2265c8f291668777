"""Backtests: replay a tenant's stored history day by day as if a version had served then.

`history_replay` is the shared replay: the tenant's history read as columns up to the end of the range
(`deliveries.columnar`), point-in-time features for every row from earlier rows only
(`core.features.build_training_features`: a delivery's history features count deliveries completed before
it was ordered), and the rows ordered in the range. Rows ordered after the range are not even read, so
nothing later can reach a day's features. `model_versions_backtest` scores the replay with each version and
stores an append-only `Backtest` per version; `predictions.backfill` scores the same replay into the shadow evidence.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import pandas as pd
from django.utils import timezone

from core.backtest import backtest_metrics
from core.features import build_training_features
from core.model import ETAPredictor
from deliveries.columnar import deliveries_columnar
from deliveries.selectors import deliveries_latest_id, deliveries_ordered_span
from registry.choices import VersionStatus
from registry.loader import model_version_load
from registry.models import Backtest, ModelVersion
from tenants.models import Tenant

logger = logging.getLogger(__name__)


class ReplayRangeError(ValueError):
    """The requested days cannot be replayed: reversed, outside the stored history, or without deliveries."""


@dataclass(frozen=True)
class HistoryReplay:
    """The deliveries ordered in a range, their point-in-time features and local days, and the cut read."""

    deliveries: pd.DataFrame
    features: pd.DataFrame
    local_days: pd.Series  # datetime64 midnight of each delivery's local order day
    data_cut: dict[str, object]


def history_replay(*, tenant: Tenant, start: dt.date, end: dt.date) -> HistoryReplay:
    """The tenant's deliveries ordered on local days ``start``..``end`` with point-in-time features.

    Raises `ReplayRangeError` when ``start`` is after ``end``, the range leaves the stored history, or no
    plausible delivery was ordered in it.
    """
    if start > end:
        raise ReplayRangeError(f"--from {start} is after --to {end}")
    time_zone = ZoneInfo(tenant.time_zone)
    span = deliveries_ordered_span(tenant=tenant)
    if span is None:
        raise ReplayRangeError(f"tenant {tenant.slug} has no stored deliveries")
    first_day, last_day = (instant.astimezone(time_zone).date() for instant in span)
    if start < first_day or end > last_day:
        raise ReplayRangeError(
            f"{start}..{end} is outside the stored history of {tenant.slug} ({first_day}..{last_day})"
        )
    ordered_before = dt.datetime.combine(end + dt.timedelta(days=1), dt.time(), tzinfo=time_zone)
    id_at_most = deliveries_latest_id(tenant=tenant)
    plausible_at = timezone.now()
    history = deliveries_columnar(
        tenant=tenant, ordered_before=ordered_before, id_at_most=id_at_most, plausible_at=plausible_at
    )
    local_days = history["ordered_at"].dt.tz_convert(time_zone).dt.normalize().dt.tz_localize(None)
    in_range = (local_days >= pd.Timestamp(start)).to_numpy()
    if not in_range.any():
        raise ReplayRangeError(f"no stored deliveries of {tenant.slug} were ordered in {start}..{end}")
    features = build_training_features(history, time_zone=time_zone)
    data_cut = {
        "tenant": tenant.slug,
        "ordered_before": ordered_before.isoformat(),
        "delivery_id_at_most": id_at_most,
        "plausible_at": plausible_at.isoformat(),
        "history_rows_read": len(history),
        "rows_replayed": int(in_range.sum()),
    }
    return HistoryReplay(history[in_range], features[in_range], local_days[in_range], data_cut)


def versions_replay(
    *, versions: Sequence[ModelVersion], start: dt.date, end: dt.date
) -> tuple[list[ETAPredictor], HistoryReplay]:
    """The versions' loaded models and one replay of ``start``..``end`` for all of them (one tenant's).

    Checked before anything is read: the versions are one tenant's (else `ValueError`) and each has a trained
    artifact (else `ReplayRangeError`); `registry.artifacts.ArtifactError` when an artifact does not verify.
    """
    if len({version.tenant_id for version in versions}) != 1:
        raise ValueError("replay versions of exactly one tenant")
    for version in versions:
        if version.status not in (VersionStatus.READY, VersionStatus.ARCHIVED) or not version.artifact_sha256:
            raise ReplayRangeError(f"{version} has no trained artifact ({version.status})")
    predictors = [model_version_load(version=version) for version in versions]
    return predictors, history_replay(tenant=versions[0].tenant, start=start, end=end)


def model_versions_backtest(
    *, versions: Sequence[ModelVersion], start: dt.date, end: dt.date, created_by: str
) -> list[Backtest]:
    """Replay ``start``..``end`` once and score it with each version (one tenant's); store one `Backtest` each.

    Raises `ReplayRangeError` for a bad range or a version with no trained artifact (before anything is
    stored), and `registry.artifacts.ArtifactError` when an artifact does not verify.
    """
    predictors, replay = versions_replay(versions=versions, start=start, end=end)
    backtests = []
    for version, predictor in zip(versions, predictors, strict=True):
        batch = predictor.predict_frame(replay.features)
        result = backtest_metrics(
            days=replay.local_days.to_numpy(),
            actual=replay.deliveries["delivery_minutes"].to_numpy(),
            predicted=batch.eta_minutes,
            lower=batch.quantile("p05"),
            upper=batch.quantile("p95"),
        )
        trained_through = _trained_through(version)
        days = [
            {**day, "is_in_training": trained_through is not None and str(day["day"]) <= trained_through}
            for day in result.days_as_list()
        ]
        backtests.append(
            Backtest.objects.create(
                tenant=version.tenant,
                version=version,
                start_date=start,
                end_date=end,
                days=days,
                overall=result.overall.as_dict(),
                data_cut={**replay.data_cut, "trained_through": trained_through},
                created_by=created_by,
            )
        )
        logger.info("backtest of %s over %s..%s: MAE %.3f", version, start, end, result.overall.mae)
    return backtests


def _trained_through(version: ModelVersion) -> str | None:
    """The last local day with rows the version was trained on (its evaluation window began that day)."""
    start = version.lineage.get("data", {}).get("evaluation_start")
    if not start:
        return None
    return dt.datetime.fromisoformat(start).astimezone(ZoneInfo(version.tenant.time_zone)).date().isoformat()
