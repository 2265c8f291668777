"""Serving ETAs: predict with the tenant's champion, explain, audit, and take reported outcomes.

Every prediction is audited before its response leaves: the audit row holds the request, the normalised
order, the exact feature vector with freshness, the model version and checksum, and the response body;
`prediction_replay` recomputes it from the row. A request keeps the champion it started with even if a
promotion lands while it runs (`serving_model` hands out an immutable `ServingModel`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import math
import os
import tempfile
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import asdict, dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from django.db import IntegrityError, transaction
from django.utils import timezone

from core.delivery.plausibility import instant_problems
from core.delivery.schema import CleanDelivery, SchemaError, load_clean_frame
from core.features import EARTH_RADIUS_KM, FEATURES_BY_NAME, Entity, FeatureVector, build_features
from core.model import QUANTILE_NAMES, ETAPrediction
from core.text_columns import json_safe
from deliveries.models import Delivery
from deliveries.selectors import deliveries_frame, deliveries_latest_id
from deliveries.services import delivery_record_outcome, file_sha256
from features.choices import FeatureSource
from features.services import OnlineFeatures, online_features_for_order
from features.tasks import features_apply_outcome_task
from intellilog.errors import DomainError
from intellilog.tracing import span, traced
from monitoring import metrics
from predictions.batch_audit import BatchAuditRun, batch_audit_table, batch_audits_writer
from predictions.choices import PredictionSource
from predictions.constants import BATCH_ERRORS_SHOWN, BATCH_SCORE_CHUNK_ROWS, IDEMPOTENCY_WINDOW_DAYS
from predictions.models import BatchPredictionRun, PredictionAudit, PredictionOutcome
from predictions.orders import OrderInput
from predictions.selectors import ServingModel, serving_model
from predictions.shadow import shadow_scoring_enqueue
from registry.artifacts import ArtifactError
from registry.loader import model_version_load
from registry.models import ModelVersion
from tenants.models import Tenant

logger = logging.getLogger(__name__)


class NoChampionServing(DomainError):
    """The tenant has no champion model, so nothing can be predicted (HTTP 503 no_champion)."""

    code = "no_champion"
    status = 503
    api_detail = "no ETA model is serving for this tenant yet"


class IdempotencyConflict(DomainError):
    """The idempotency key was already used for a different request (HTTP 409)."""

    code = "idempotency_conflict"
    status = 409


class UnknownOrder(DomainError):
    """No prediction was served for this order id, so its outcome cannot be joined to one (HTTP 404)."""

    code = "unknown_order"
    status = 404


class OutcomeConflict(DomainError):
    """The order already has a different reported outcome (HTTP 409)."""

    code = "outcome_conflict"
    status = 409


class InvalidOutcome(DomainError, ValueError):
    """The reported outcome cannot be right; ``field`` names the request field at fault (HTTP 400)."""

    code = "invalid"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message, field=field)


@dataclass(frozen=True)
class ServedPrediction:
    """A prediction's response body and its audit row; ``is_replay`` when an idempotent retry found it."""

    body: dict[str, object]
    audit: PredictionAudit
    is_replay: bool


@dataclass(frozen=True)
class OrderRequest:
    """One order to serve: its normalised form and the request body it came from (kept in the audit)."""

    order: OrderInput
    body: Mapping[str, object]


def request_sha256(body: Mapping[str, object]) -> str:
    """A canonical digest of a request body: tells an idempotent retry from a different request."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def prediction_outputs(prediction: ETAPrediction) -> dict[str, object]:
    """The model's outputs as the response shows them; `prediction_replay` compares exactly these."""
    explanation = prediction.explanation
    return json_safe(  # type: ignore[return-value]
        {
            "predicted_eta_minutes": prediction.eta_minutes,
            "quantiles": asdict(prediction.quantiles),
            "confidence_score": prediction.confidence,
            "is_ood": not prediction.is_in_distribution,
            "out_of_range_features": [asdict(flag) for flag in prediction.out_of_range],
            "explanation": asdict(explanation) if explanation is not None else None,
        }
    )


def _freshness_json(online: OnlineFeatures) -> dict[str, object]:
    return {
        name: {
            "status": freshness.status.value,
            "source": freshness.source.value,
            "computed_at": freshness.computed_at.isoformat() if freshness.computed_at else None,
        }
        for name, freshness in online.freshness.items()
    }


def _serving_model(tenant: Tenant) -> ServingModel:
    serving = serving_model(tenant=tenant)  # raises ArtifactError when neither it nor a former champion loads
    if serving is None:
        raise NoChampionServing(f"no ETA model is serving for tenant {tenant.slug} yet")
    return serving


def serving_models_preload(*, heartbeat: Callable[[], None] | None = None) -> list[ServingModel]:
    """Load every active tenant's serving model into this process's cache before a request asks for it.

    For a fresh web worker (gunicorn's ``post_worker_init``): otherwise the first request per tenant pays
    the artifact read, its checksum and the boosters' load. A tenant whose model cannot load is logged and
    skipped; its requests then get what `serving_model` answers them. ``heartbeat`` is called after each
    tenant, so that a worker loading many models is not taken for a hung one.
    """
    loaded: list[ServingModel] = []
    for tenant in Tenant.objects.filter(is_active=True).order_by("pk"):
        try:
            serving = serving_model(tenant=tenant)
        except ArtifactError:
            logger.exception("preload: no model of tenant %s can be loaded", tenant.slug)
        else:
            if serving is not None:
                loaded.append(serving)
        if heartbeat is not None:
            heartbeat()
    return loaded


def _stored_replay(tenant: Tenant, idempotency_key: str, digest: str) -> ServedPrediction | None:
    # Keys are live for the window only, so the lookup reads the latest month partitions, never the year.
    live_since = timezone.now() - dt.timedelta(days=IDEMPOTENCY_WINDOW_DAYS)
    audit = (
        PredictionAudit.objects.filter(tenant=tenant, idempotency_key=idempotency_key, created_at__gte=live_since)
        .order_by("-created_at")
        .first()
    )
    if audit is None:
        return None
    if audit.request_sha256 != digest:
        raise IdempotencyConflict(
            f"Idempotency-Key {idempotency_key!r} was already used for a different request (order {audit.order_id})"
        )
    return ServedPrediction(body=audit.response, audit=audit, is_replay=True)


def _build_audit(
    *,
    tenant: Tenant,
    serving: ServingModel,
    item: OrderRequest,
    online: OnlineFeatures,
    prediction: ETAPrediction,
    source: str,
    request_id: str,
    idempotency_key: str | None,
    digest: str,
    started: float,
) -> PredictionAudit:
    audit = PredictionAudit(
        tenant=tenant,
        source=source,
        request_id=request_id,
        order_id=item.order.order_id,
        idempotency_key=idempotency_key,
        request_sha256=digest,
        request=json_safe(dict(item.body)),
        order=item.order.as_json(),
        features=json_safe(dict(online.values)),
        feature_freshness=_freshness_json(online),
        used_fallback=online.used_fallback,
        model_version=serving.version,
        artifact_sha256=serving.version.artifact_sha256,
        predicted_eta_minutes=prediction.eta_minutes,
        quantiles=json_safe(asdict(prediction.quantiles)),
        confidence_score=prediction.confidence,
        is_ood=not prediction.is_in_distribution,
        response={},
        latency_ms=0.0,
        # Read from the same clock as the idempotency window, not the field's default.
        created_at=timezone.now(),
    )
    latency_ms = (time.perf_counter() - started) * 1000.0
    audit.latency_ms = latency_ms
    audit.response = {
        "order_id": item.order.order_id,
        **prediction_outputs(prediction),
        "model_version": serving.version.version,
        "model_name": serving.version.registered_model.name,
        "artifact_sha256": serving.version.artifact_sha256,
        "feature_set": {"name": online.feature_set, "version": online.feature_set_version},
        "feature_freshness": audit.feature_freshness,
        "used_fallback": online.used_fallback,
        "fallback_reason": online.fallback_reason,
        "processing_time_ms": latency_ms,
        "audit_id": str(audit.id),
        "request_id": request_id,
    }
    return audit


def _observe(tenant: Tenant, audit: PredictionAudit, online: OnlineFeatures) -> None:
    metrics.prediction_observed(
        tenant=tenant.slug,
        model_version=str(audit.response["model_version"]),
        latency_seconds=audit.latency_ms / 1000.0,
        used_fallback=audit.used_fallback,
        is_ood=audit.is_ood,
    )
    # One observation per history entity (every feature of an entity shares its state's age).
    by_entity = {FEATURES_BY_NAME[name].entity: freshness for name, freshness in online.freshness.items()}
    for entity, freshness in by_entity.items():
        if entity is Entity.ORDER:
            continue
        is_stored = freshness.source is FeatureSource.ONLINE_STORE and freshness.computed_at is not None
        age = (audit.created_at - freshness.computed_at).total_seconds() if is_stored else None  # type: ignore[operator]
        metrics.feature_age_observed(tenant=tenant.slug, entity=entity.value, age_seconds=age)


def _audit_insert_scope() -> AbstractContextManager[object]:
    """What the one audit INSERT of `prediction_serve` runs in.

    Inside a caller's transaction, a savepoint: a duplicate idempotency key then rolls back the INSERT
    alone, and the caller's transaction can still read the stored prediction. Otherwise (a request, in
    autocommit) nothing: one statement is its own transaction, and wrapping it in BEGIN and COMMIT only adds
    their round trips. A refused INSERT leaves nothing behind either way. The shadow publish queued next
    with `transaction.on_commit` runs at once in autocommit (the row is committed when the INSERT returns),
    as it did after the atomic block, and waits for the caller's commit inside a transaction.
    """
    return nullcontext() if transaction.get_autocommit() else transaction.atomic()


@traced("predictions.serve")
def prediction_serve(
    *,
    tenant: Tenant,
    item: OrderRequest,
    request_id: str,
    idempotency_key: str | None = None,
    started: float | None = None,
) -> ServedPrediction:
    """Predict one order with the tenant's champion, audit it, and return the response body.

    With an ``idempotency_key`` already used for the same request, the stored response comes back
    unchanged (no new prediction, no new audit row); used for a different request, `IdempotencyConflict`.
    ``started`` (a `time.perf_counter` reading) lets the view count its own parsing in the latency.
    """
    started = time.perf_counter() if started is None else started
    digest = request_sha256(item.body)
    if idempotency_key is not None:
        stored = _stored_replay(tenant, idempotency_key, digest)
        if stored is not None:
            return stored
    serving = _serving_model(tenant)
    online = online_features_for_order(tenant=tenant, order=item.order.feature_input())
    with span("model.predict"):
        prediction = serving.predictor.predict(online.values)
    audit = _build_audit(
        tenant=tenant,
        serving=serving,
        item=item,
        online=online,
        prediction=prediction,
        source=PredictionSource.API,
        request_id=request_id,
        idempotency_key=idempotency_key,
        digest=digest,
        started=started,
    )
    try:
        with span("audit.write"), _audit_insert_scope():
            audit.save(force_insert=True)
    except IntegrityError:
        # A concurrent retry with the same key won the insert: answer as the retry it is.
        if idempotency_key is None:
            raise
        stored = _stored_replay(tenant, idempotency_key, digest)
        if stored is None:
            raise
        return stored
    shadow_scoring_enqueue(tenant=tenant, audits=[audit])  # the challenger scores a share after commit
    _observe(tenant, audit, online)
    return ServedPrediction(body=audit.response, audit=audit, is_replay=False)


def predictions_serve_batch(
    *, tenant: Tenant, items: Sequence[OrderRequest], request_id: str
) -> list[ServedPrediction]:
    """Predict many orders with one champion in one pass over the model, auditing every one.

    All audit rows are written in one transaction and one INSERT: the batch is answered whole or not at
    all. Each row's outputs equal what `prediction_serve` would give the same order (the model scores
    rows independently), so every batch prediction replays exactly.
    """
    started = time.perf_counter()
    serving = _serving_model(tenant)
    online = [online_features_for_order(tenant=tenant, order=item.order.feature_input()) for item in items]
    predictions = serving.predictor.predict_many([features.values for features in online])
    audits = [
        _build_audit(
            tenant=tenant,
            serving=serving,
            item=item,
            online=features,
            prediction=prediction,
            source=PredictionSource.BATCH_API,
            request_id=request_id,
            idempotency_key=None,
            digest=request_sha256(item.body),
            started=started,
        )
        for item, features, prediction in zip(items, online, predictions, strict=True)
    ]
    with transaction.atomic():
        PredictionAudit.objects.bulk_create(audits)
    shadow_scoring_enqueue(tenant=tenant, audits=audits)  # the challenger scores a share after commit
    for audit, features in zip(audits, online, strict=True):
        _observe(tenant, audit, features)
    return [ServedPrediction(body=audit.response, audit=audit, is_replay=False) for audit in audits]


@dataclass(frozen=True)
class ReplayResult:
    """A recomputed prediction beside the audited one; ``differences`` names every output that differs."""

    audit: PredictionAudit
    recomputed: dict[str, object]
    differences: list[str]

    @property
    def matches(self) -> bool:
        return not self.differences


def prediction_replay(*, audit: PredictionAudit) -> ReplayResult:
    """Recompute an audited prediction from its recorded feature vector with its recorded model version.

    The artifact is loaded by checksum (a tampered or missing file raises `ArtifactError`), and the
    outputs are compared exactly, float for float, with the response that was returned.
    """
    predictor = model_version_load(version=audit.model_version)
    vector: FeatureVector = {name: value for name, value in audit.features.items()}
    # A file scored without --explain recorded no explanation (``is_explained`` false): none is recomputed.
    explain = audit.response.get("is_explained", True) is not False
    recomputed = prediction_outputs(predictor.predict(vector, explain=explain))
    differences = [
        f"{name}: audited {audit.response.get(name)!r}, recomputed {value!r}"
        for name, value in recomputed.items()
        if audit.response.get(name) != value
    ]
    return ReplayResult(audit=audit, recomputed=recomputed, differences=differences)


@dataclass(frozen=True)
class RecordedOutcome:
    """An order's reported outcome and the predictions it was joined to; ``created`` false on a retry."""

    delivery: Delivery
    outcomes: list[PredictionOutcome]
    created: bool


def outcome_instants_check(
    order: OrderInput,
    *,
    delivery_minutes: float | None,
    delivered_at: dt.datetime | None,
    picked_at: dt.datetime | None,
) -> tuple[float, dt.datetime]:
    """The reported duration and pickup time, refused (naming the request field) unless plausible.

    The rules are `core.delivery.plausibility`'s for a completed delivery, judged now: the delivery is
    stored in the tenant's history, which training and the feature store must always be able to read.
    """
    minutes_field = "delivery_minutes"
    if delivery_minutes is None:
        if delivered_at is None:
            raise InvalidOutcome("delivery_minutes", "give delivery_minutes or delivered_at")
        minutes_field = "delivered_at"
        if abs(delivered_at.year - order.ordered_at.year) > 1:
            raise InvalidOutcome(minutes_field, f"{delivered_at.isoformat()} is not within hours of the order")
        delivery_minutes = (delivered_at - order.ordered_at).total_seconds() / 60.0
    picked_at = picked_at or order.picked_at
    fields = {
        # The order's time comes from its prediction; an outcome for an order still in the future is refused.
        "ordered_at": "order_id",
        "picked_at": "picked_at",
        "delivery_minutes": minutes_field,
    }
    for problem in instant_problems(
        ordered_at=order.ordered_at,
        picked_at=picked_at,
        delivery_minutes=delivery_minutes,
        now=timezone.now(),
        is_completed=True,
    ):
        raise InvalidOutcome(fields[problem.field], f"{problem.field}: {problem.reason}")
    if picked_at is None:
        raise InvalidOutcome("picked_at", "required: the prediction did not record when the order was picked up")
    return delivery_minutes, picked_at


def prediction_outcome_record(
    *,
    tenant: Tenant,
    order_id: str,
    delivery_minutes: float | None = None,
    delivered_at: dt.datetime | None = None,
    picked_at: dt.datetime | None = None,
    driver_age: int | None = None,
) -> RecordedOutcome:
    """Store the actual delivery time of a predicted order as ground truth and join it to its predictions.

    The order's fields come from its latest audited prediction; the delivery is stored in the tenant's
    history (so it feeds features and retraining) and folded into the online feature store once the
    transaction commits. Reporting the same outcome again changes nothing; a different one is refused.
    """
    # Simulated traffic is a replay of stored deliveries whose outcomes the simulation records itself; its
    # audits keep only the replayed columns, not a whole order, and were never served to anyone.
    audits = list(
        PredictionAudit.objects.filter(tenant=tenant, order_id=order_id)
        .exclude(source=PredictionSource.SIMULATION)
        .select_related("model_version")
        .order_by("created_at")
    )
    if not audits:
        raise UnknownOrder(f"no prediction was served for order {order_id!r}")
    order = OrderInput.from_json(audits[-1].order)
    minutes, picked_at = outcome_instants_check(
        order, delivery_minutes=delivery_minutes, delivered_at=delivered_at, picked_at=picked_at
    )
    age = driver_age if driver_age is not None else order.courier_age
    if age is None:
        raise InvalidOutcome("driver_age", "required: the prediction did not record the driver's age")
    with transaction.atomic():
        existing = Delivery.objects.select_for_update().filter(tenant=tenant, external_order_id=order_id).first()
        if existing is not None:
            return _outcome_repeated(existing, order_id=order_id, minutes=minutes)
        try:
            # A savepoint: the same report sent twice at once races to this insert, and the loser must
            # answer like a repeat (or a conflict), not fail on the unique constraint.
            with transaction.atomic():
                delivery = delivery_record_outcome(
                    tenant=tenant, delivery=outcome_delivery_build(order, picked_at, minutes, int(age))
                )
                outcomes = PredictionOutcome.objects.bulk_create(
                    PredictionOutcome(
                        tenant=tenant,
                        audit=audit,
                        delivery=delivery,
                        model_version=audit.model_version,
                        actual_minutes=minutes,
                        error_minutes=audit.predicted_eta_minutes - minutes,
                    )
                    for audit in audits
                )
        except IntegrityError:
            # The winner has committed by now (PostgreSQL's unique check waited for it).
            winner = Delivery.objects.select_for_update().filter(tenant=tenant, external_order_id=order_id).first()
            if winner is None:
                raise
            return _outcome_repeated(winner, order_id=order_id, minutes=minutes)
        transaction.on_commit(lambda: features_apply_outcome_task.delay(delivery.pk))
    for outcome in outcomes:
        metrics.prediction_error_observed(
            tenant=tenant.slug,
            model_version=str(outcome.model_version.version),
            error_minutes=abs(outcome.error_minutes),
        )
    return RecordedOutcome(delivery=delivery, outcomes=outcomes, created=True)


def _outcome_repeated(existing: Delivery, *, order_id: str, minutes: float) -> RecordedOutcome:
    """A report for an order that already has its outcome: the same value is a repeat, another a conflict."""
    if existing.delivery_minutes != minutes:
        raise OutcomeConflict(f"order {order_id!r} already has an outcome of {existing.delivery_minutes:g} minutes")
    outcomes = list(PredictionOutcome.objects.filter(tenant=existing.tenant_id, delivery=existing))
    return RecordedOutcome(delivery=existing, outcomes=outcomes, created=False)


def outcome_delivery_build(order: OrderInput, picked_at: dt.datetime, minutes: float, age: int) -> CleanDelivery:
    """The delivery to store for a predicted order's outcome (one report or a bulk row: the same row)."""
    if order.pickup_latitude is None:
        # A distance-only order is stored the way the history stores placeholder locations: the store at
        # (0, 0), flagged unusable, and the drop due east along the equator at exactly that distance, so
        # training computes the same distance_km the prediction used.
        assert order.distance_km is not None
        coordinates = (0.0, 0.0, 0.0, math.degrees(order.distance_km / EARTH_RADIUS_KM))
    else:
        coordinates = (order.pickup_latitude, order.pickup_longitude, order.drop_latitude, order.drop_longitude)  # type: ignore[assignment]
    return CleanDelivery(
        external_order_id=order.order_id,
        courier_id=order.courier_id,
        courier_age=age,
        courier_rating=order.courier_rating,
        pickup_latitude=coordinates[0],
        pickup_longitude=coordinates[1],
        drop_latitude=coordinates[2],
        drop_longitude=coordinates[3],
        has_usable_coordinates=order.has_usable_coordinates,
        ordered_at=order.ordered_at,
        picked_at=picked_at,
        weather=order.weather,
        traffic=order.traffic,
        vehicle=order.vehicle,
        area=order.area,
        delivery_minutes=minutes,
    )


@dataclass(frozen=True)
class SimulatedOrder:
    """One order of a simulated replay (`monitoring.simulation`): its vector, prediction and simulated time."""

    order_id: str
    order: dict[str, object]
    features: dict[str, object]
    prediction: ETAPrediction
    ordered_at: dt.datetime


@dataclass(frozen=True)
class SimulatedOutcome:
    """A simulated order's delivery time, reported when the delivery ends in simulated time."""

    audit: PredictionAudit
    delivery_id: int
    actual_minutes: float
    reported_at: dt.datetime


def simulated_predictions_record(
    *, tenant: Tenant, version: ModelVersion, request_id: str, orders: Sequence[SimulatedOrder]
) -> list[PredictionAudit]:
    """Audit simulated orders as `version` served them, stamped with their simulated instants.

    The rows carry source ``simulation``, so a person reading the audit or the reports can tell replayed
    traffic from real traffic; everything else is what serving would have stored for the same vector.
    """
    audits = []
    for item in orders:
        outputs = prediction_outputs(item.prediction)
        audit = PredictionAudit(
            tenant=tenant,
            source=PredictionSource.SIMULATION,
            request_id=request_id,
            order_id=item.order_id,
            request_sha256=request_sha256(item.order),
            request=json_safe(dict(item.order)),
            order=json_safe(dict(item.order)),
            features=json_safe(dict(item.features)),
            feature_freshness={},
            used_fallback=False,
            model_version=version,
            artifact_sha256=version.artifact_sha256,
            predicted_eta_minutes=item.prediction.eta_minutes,
            quantiles=json_safe(asdict(item.prediction.quantiles)),
            confidence_score=item.prediction.confidence,
            is_ood=not item.prediction.is_in_distribution,
            response={},
            latency_ms=0.0,
            created_at=item.ordered_at,
        )
        audit.response = {
            "order_id": item.order_id,
            **outputs,
            "model_version": version.version,
            "model_name": version.registered_model.name,
            "artifact_sha256": version.artifact_sha256,
            "audit_id": str(audit.id),
            "request_id": request_id,
        }
        audits.append(audit)
    return PredictionAudit.objects.bulk_create(audits)


def simulated_outcomes_record(*, outcomes: Sequence[SimulatedOutcome]) -> int:
    """Join simulated outcomes to their audits, as `prediction_outcome_record` does for reported ones."""
    rows = [
        PredictionOutcome(
            tenant_id=outcome.audit.tenant_id,
            audit=outcome.audit,
            delivery_id=outcome.delivery_id,
            model_version_id=outcome.audit.model_version_id,
            actual_minutes=outcome.actual_minutes,
            error_minutes=outcome.audit.predicted_eta_minutes - outcome.actual_minutes,
            reported_at=outcome.reported_at,
        )
        for outcome in outcomes
    ]
    return len(PredictionOutcome.objects.bulk_create(rows))


class BatchInputError(ValueError):
    """A batch file cannot be scored; the message names the lines and fields at fault."""


@dataclass(frozen=True)
class FileScoring:
    """What a `predictions_score_file` run did, with its stage timings in seconds."""

    run: BatchPredictionRun
    timings: dict[str, float]


def predictions_score_file(
    *,
    tenant: Tenant,
    input_path: Path,
    output_path: Path,
    created_by: str,
    explain: bool = False,
    progress: Callable[[str], None] | None = None,
) -> FileScoring:
    """Score a CSV of orders (the deliveries schema, outcome columns optional) with the champion, auditing each.

    Vectorised end to end: history features for every row at once from the tenant's stored deliveries
    (point-in-time per order), then chunks of `BATCH_SCORE_CHUNK_ROWS` rows scored in one pass over each
    booster, appended to the output and audited: one `PredictionAudit` per order (source ``batch``, the
    run's ``request_id``), copied into the table as columns (`predictions.batch_audit`), so memory holds
    one chunk's rows, never one Python object per row of the file. Any invalid row refuses the whole file,
    naming its line and field, and nothing is written. The audit rows and the run (input and output
    checksums) are one transaction: a failure anywhere leaves neither, and the output file appears
    (written beside, then renamed) only once they are committed.
    """
    report = progress or (lambda message: None)
    started_at = timezone.now()
    timings: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(stage: str, *, is_reported: bool = True) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[stage] = timings.get(stage, 0.0) + now - clock
        clock = now
        if is_reported:
            report(f"{stage}: {timings[stage]:.2f} s")

    serving = _serving_model(tenant)
    time_zone = ZoneInfo(tenant.time_zone)
    try:
        orders, rejected = load_clean_frame(input_path, time_zone=time_zone, outcome_required=False)
    except SchemaError as error:
        raise BatchInputError(str(error)) from error
    if rejected:
        shown = "; ".join(
            f"line {row.line_number}: " + ", ".join(f"{e.column}: {e.reason}" for e in row.errors)
            for row in rejected[:BATCH_ERRORS_SHOWN]
        )
        raise BatchInputError(f"{input_path}: {len(rejected)} invalid rows, nothing scored ({shown})")
    if orders.empty:
        raise BatchInputError(f"{input_path}: no orders to score (a header and no rows)")
    lap(f"read {len(orders)} orders")
    history_id = deliveries_latest_id(tenant=tenant)
    audit_run = BatchAuditRun(
        tenant=tenant,
        serving=serving,
        request_id=f"batch-{uuid.uuid4().hex}",
        input_sha256=file_sha256(input_path),
        history_read_at=timezone.now(),
        is_explained=explain,
    )
    history = deliveries_frame(tenant=tenant, id_at_most=history_id)
    lap(f"read {len(history)} stored deliveries")
    features = build_features(orders, history=history, time_zone=time_zone)
    lap("features")
    predictor = serving.predictor
    output_path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, name = tempfile.mkstemp(dir=output_path.parent, suffix=".partial")
    temporary = Path(name)
    try:
        with transaction.atomic():
            with os.fdopen(descriptor, "wb") as handle, batch_audits_writer() as audits_write:
                for first in range(0, len(orders), BATCH_SCORE_CHUNK_ROWS):
                    chunk_started = time.perf_counter()
                    chunk_orders = orders.iloc[first : first + BATCH_SCORE_CHUNK_ROWS]
                    chunk_features = features.iloc[first : first + BATCH_SCORE_CHUNK_ROWS]
                    scored = predictor.predict_frame(chunk_features)
                    output = pd.DataFrame(
                        {
                            "order_id": chunk_orders["external_order_id"],
                            "predicted_eta_minutes": scored.eta_minutes,
                            **{name: scored.quantile(name) for name in QUANTILE_NAMES},
                            "confidence_score": scored.confidence,
                            "is_ood": predictor.out_of_range_mask(chunk_features),
                            "model_version": serving.version.version,
                        }
                    )
                    lap("predictions", is_reported=False)
                    explanations = None
                    if explain:
                        contributions = predictor.contributions(chunk_features)
                        output["top_reasons"] = _top_reasons(contributions, predictor.config.explanation_top_k)
                        explanations = predictor.explanations(contributions, chunk_features)
                        lap("explanations", is_reported=False)
                    latency_ms = (time.perf_counter() - chunk_started) * 1000.0 / len(output)
                    output.to_csv(handle, index=False, header=first == 0)
                    lap("output file", is_reported=False)
                    audits_write(
                        batch_audit_table(
                            run=audit_run,
                            orders=chunk_orders,
                            features=chunk_features,
                            scored=scored,
                            explanations=explanations,
                            first_row=first,
                            latency_ms=latency_ms,
                        )
                    )
                    lap("audit rows", is_reported=False)
            lap("audit rows", is_reported=False)  # the database finishing the rows sent last
            for stage in ("predictions", "explanations", "output file", "audit rows"):
                if stage in timings:
                    report(f"{stage}: {timings[stage]:.2f} s")
            run = BatchPredictionRun.objects.create(
                tenant=tenant,
                model_version=serving.version,
                artifact_sha256=serving.version.artifact_sha256,
                input_name=str(input_path),
                input_sha256=audit_run.input_sha256,
                output_name=str(output_path),
                output_sha256=file_sha256(temporary),
                rows=len(orders),
                history_delivery_id=history_id,
                started_at=started_at,
                finished_at=timezone.now(),
                created_by=created_by,
                request_id=audit_run.request_id,
            )
        os.replace(temporary, output_path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    lap(f"committed, wrote {output_path}")
    return FileScoring(run=run, timings=timings)


def _top_reasons(contributions: pd.DataFrame, top_k: int) -> list[str]:
    """Per row, the top-k TreeSHAP contributions as ``feature:+minutes`` joined by spaces."""
    per_feature = contributions.drop(columns="base")
    values = per_feature.to_numpy()
    ranked = np.argsort(-np.abs(values), axis=1, kind="stable")[:, :top_k]
    names = np.asarray(per_feature.columns)
    return [" ".join(f"{names[j]}:{values[i, j]:+.2f}" for j in ranked[i]) for i in range(len(values))]
