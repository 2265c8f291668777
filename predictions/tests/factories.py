"""Audited predictions, outcomes and shadow predictions written directly, for tests of what reads them.

The A/B evaluation and the post-promotion watch only read errors; serving a few hundred orders over HTTP to
get them would test serving again, slowly. These rows have the shape serving writes, with chosen errors.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence

from django.utils import timezone

from deliveries.models import Delivery
from deliveries.tests.factories import DeliveryFactory
from predictions.choices import PredictionSource
from predictions.models import PredictionAudit, PredictionOutcome, ShadowPrediction
from registry.models import ModelVersion

ACTUAL_MINUTES = 30.0


def unsaved_audit(version: ModelVersion, predicted: float, created_at: dt.datetime, index: int) -> PredictionAudit:
    """An audit row of `version` served at ``created_at``, not yet saved (placeholder request and features)."""
    return PredictionAudit(
        tenant_id=version.tenant_id,
        source=PredictionSource.API,
        request_id=f"test-{index}",
        order_id=f"order-{uuid.uuid4().hex[:12]}",
        request_sha256="0" * 64,
        request={},
        order={},
        features={},
        feature_freshness={},
        used_fallback=False,
        model_version=version,
        artifact_sha256=version.artifact_sha256,
        predicted_eta_minutes=predicted,
        quantiles={},
        confidence_score=0.5,
        is_ood=False,
        response={},
        latency_ms=1.0,
        created_at=created_at,
    )


def served_with_outcomes(
    *,
    version: ModelVersion,
    errors: Sequence[float],
    served_at: dt.datetime | None = None,
    delivery: Delivery | None = None,
) -> list[PredictionAudit]:
    """Orders `version` served at `served_at` (default now), each with an outcome ``errors[i]`` minutes off.

    Errors alternate in sign (too slow, too fast), as real ones do; the actual time is always ACTUAL_MINUTES.
    """
    served_at = served_at or timezone.now()
    delivery = delivery or DeliveryFactory(tenant=version.tenant)
    signed = [error if i % 2 == 0 else -error for i, error in enumerate(errors)]
    audits = PredictionAudit.objects.bulk_create(
        [unsaved_audit(version, ACTUAL_MINUTES + error, served_at, i) for i, error in enumerate(signed)]
    )
    reported_at = timezone.now()
    PredictionOutcome.objects.bulk_create(
        [
            PredictionOutcome(
                tenant_id=version.tenant_id,
                audit=audit,
                delivery=delivery,
                model_version=version,
                actual_minutes=ACTUAL_MINUTES,
                error_minutes=error,
                # One second apart, in order: the evaluation reads outcomes in the order they arrived.
                reported_at=reported_at + dt.timedelta(seconds=i),
            )
            for i, (audit, error) in enumerate(zip(audits, signed, strict=True))
        ]
    )
    return audits


def shadow_scored(
    *, audits: Sequence[PredictionAudit], challenger: ModelVersion, errors: Sequence[float]
) -> list[ShadowPrediction]:
    """The challenger's shadow predictions of `audits`, ``errors[i]`` minutes off the actual time (sign alternating)."""
    return ShadowPrediction.objects.bulk_create(
        [
            ShadowPrediction(
                tenant_id=challenger.tenant_id,
                audit=audit,
                model_version=challenger,
                artifact_sha256=challenger.artifact_sha256,
                predicted_eta_minutes=ACTUAL_MINUTES + (error if i % 3 else -error),
                quantiles={},
                confidence_score=0.5,
                is_ood=False,
                latency_ms=1.0,
            )
            for i, (audit, error) in enumerate(zip(audits, errors, strict=True))
        ]
    )


def paired_orders(
    *,
    champion: ModelVersion,
    challenger: ModelVersion,
    champion_errors: Sequence[float],
    challenger_errors: Sequence[float],
) -> list[PredictionAudit]:
    """Orders served by the champion and shadow-scored by the challenger, all with outcomes."""
    audits = served_with_outcomes(version=champion, errors=champion_errors)
    shadow_scored(audits=audits, challenger=challenger, errors=challenger_errors)
    return audits
