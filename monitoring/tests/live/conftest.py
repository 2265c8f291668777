"""A tenant whose champion is monitored, and helpers that write its live traffic straight into the audit table."""

from __future__ import annotations

import datetime as dt
import io
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest
from django.core.management import call_command

from core.features import build_training_features
from core.model import ETAPredictor
from deliveries.models import Delivery
from deliveries.selectors import deliveries_frame, deliveries_latest_id
from monitoring.live.reference import reference_cache_clear
from predictions.choices import PredictionSource
from predictions.models import PredictionAudit, PredictionOutcome, ShadowPrediction
from registry.artifacts import artifact_write
from registry.choices import Alias
from registry.models import ModelAlias, ModelVersion
from registry.tests.factories import ModelVersionFactory
from tenants.models import Tenant
from tenants.tests.factories import TenantFactory

# The validation MAE the monitored version claims; realized accuracy is judged against it.
BASELINE_MAE = 3.0


@dataclass
class Monitored:
    """A tenant with imported history and a champion, plus that history's feature vectors for building traffic."""

    tenant: Tenant
    version: ModelVersion
    predictor: ETAPredictor
    history: pd.DataFrame
    vectors: pd.DataFrame  # build_training_features(history): what the champion saw in training, row by row


@pytest.fixture(autouse=True)
def fresh_reference_cache() -> None:
    # Reference ids restart with every test database transaction: a cached frame must not outlive its row.
    reference_cache_clear()


@pytest.fixture
def monitored(db, model_storage, trained_model, settings) -> Monitored:  # type: ignore[no-untyped-def]
    # The test history is three weeks: couriers' history features are still warming up in its first week, so
    # the reference is its last week (where `recent_vectors` draws matched traffic from).
    settings.DRIFT_REFERENCE_DAYS = 7
    tenant = TenantFactory()
    call_command("import_deliveries", str(trained_model.history_path), tenant=tenant.slug, stdout=io.StringIO())
    relative_path, sha256 = artifact_write(relative_dir=f"{tenant.slug}/eta", data=trained_model.artifact)
    version = ModelVersionFactory(
        registered_model__tenant=tenant,
        artifact_path=relative_path,
        artifact_sha256=sha256,
        metrics={"mae": BASELINE_MAE},
        lineage={
            "data": {
                "tenant": tenant.slug,
                "ordered_before": None,
                "delivery_id_at_most": deliveries_latest_id(tenant=tenant),
            }
        },
    )
    ModelAlias.objects.create(
        tenant=tenant, registered_model=version.registered_model, alias=Alias.CHAMPION, version=version
    )
    history = deliveries_frame(tenant=tenant)
    predictor = ETAPredictor.from_bytes(trained_model.artifact, expected_sha256=sha256)
    return Monitored(
        tenant, version, predictor, history, build_training_features(history, time_zone=ZoneInfo(tenant.time_zone))
    )


def recent_vectors(monitored: Monitored, count: int, *, seed: int = 0) -> pd.DataFrame:
    """`count` feature vectors drawn from the champion's reference period (its last 7 training days)."""
    is_recent = monitored.history["ordered_at"] > monitored.history["ordered_at"].max() - pd.Timedelta(days=7)
    rows = monitored.vectors[is_recent.to_numpy()]
    return rows.sample(n=count, replace=count > len(rows), random_state=seed).reset_index(drop=True)


def audits_create(
    monitored: Monitored,
    vectors: pd.DataFrame,
    *,
    end: dt.datetime,
    minutes: float = 55,
    version: ModelVersion | None = None,
    is_ood: Sequence[bool] | None = None,
    used_fallback: Sequence[bool] | None = None,
    stale: Sequence[bool] | None = None,
    orders: Sequence[dict[str, object]] | None = None,
) -> list[PredictionAudit]:
    """One audited prediction per vector, spread evenly over the `minutes` before `end`, scored by the model."""
    version = version or monitored.version
    count = len(vectors)
    etas = monitored.predictor.predict_frame(vectors).eta_minutes
    records = vectors.astype(object).where(vectors.notna(), None).to_dict(orient="records")
    step = dt.timedelta(minutes=minutes) / max(count, 1)
    audits = []
    for i, features in enumerate(records):
        status = "stale" if stale is not None and stale[i] else "fresh"
        audits.append(
            PredictionAudit(
                tenant=monitored.tenant,
                source=PredictionSource.API,
                request_id=uuid.uuid4().hex,
                order_id=str(orders[i]["order_id"])
                if orders is not None and "order_id" in orders[i]
                else f"order-{uuid.uuid4().hex[:12]}",
                request_sha256="0" * 64,
                request={},
                order=dict(orders[i])
                if orders is not None
                else {key: features[key] for key in ("area", "vehicle", "weather", "traffic")},
                features=features,
                feature_freshness={
                    "courier_mean_minutes": {"status": status, "source": "online_store", "computed_at": None}
                },
                used_fallback=bool(used_fallback[i]) if used_fallback is not None else False,
                model_version=version,
                artifact_sha256=version.artifact_sha256,
                predicted_eta_minutes=float(etas[i]),
                quantiles={},
                confidence_score=0.9,
                is_ood=bool(is_ood[i]) if is_ood is not None else False,
                response={},
                latency_ms=5.0,
                created_at=end - step * (count - i),
            )
        )
    return PredictionAudit.objects.bulk_create(audits)


def outcomes_create(
    monitored: Monitored,
    audits: Sequence[PredictionAudit],
    errors: Sequence[float] | np.ndarray,
    *,
    reported_at: dt.datetime | Sequence[dt.datetime],
) -> None:
    """An outcome for each audit whose error (predicted minus actual) is the given one, reported at one instant
    (or each at its own)."""
    delivery = Delivery.objects.filter(tenant=monitored.tenant).first()
    instants = [reported_at] * len(audits) if isinstance(reported_at, dt.datetime) else list(reported_at)
    PredictionOutcome.objects.bulk_create(
        PredictionOutcome(
            tenant=monitored.tenant,
            audit=audit,
            delivery=delivery,
            model_version=audit.model_version,
            actual_minutes=audit.predicted_eta_minutes - float(error),
            error_minutes=float(error),
            reported_at=instant,
        )
        for audit, error, instant in zip(audits, errors, instants, strict=True)
    )


def shadows_create(
    monitored: Monitored, audits: Sequence[PredictionAudit], version: ModelVersion, *, offset_minutes: float = 0.0
) -> list[ShadowPrediction]:
    """The challenger `version`'s shadow prediction of each audited order: the audit's ETA plus `offset_minutes`."""
    return ShadowPrediction.objects.bulk_create(
        ShadowPrediction(
            tenant=monitored.tenant,
            audit=audit,
            model_version=version,
            artifact_sha256=version.artifact_sha256,
            predicted_eta_minutes=audit.predicted_eta_minutes + offset_minutes,
            quantiles={},
            confidence_score=0.9,
            is_ood=False,
            latency_ms=5.0,
            created_at=audit.created_at,
        )
        for audit in audits
    )
