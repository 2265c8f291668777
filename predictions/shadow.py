"""Shadow scoring of the challenger on live traffic, and the A/B evaluation that pairs it with outcomes.

While a tenant has a challenger, a share (SHADOW_SHARE) of its live predictions is scored by the challenger
as well, never in the request: serving calls `shadow_scoring_enqueue` right after the audit insert, which only
queues `predictions.tasks.shadow_score_task` after commit (`intellilog.dispatch`). The caller's response is the
champion's, byte for byte, whether or not a challenger exists.

Latency budget in the request path: a SHA-256 of each audit id (microseconds), an in-process read of which
version is the challenger (one small query per CHAMPION_RECHECK_SECONDS per worker), and, for a request with
a sampled audit, one task publish after commit (one broker round trip, about 1 ms on a local Redis). With no
broker (the quickstart and the tests) Celery runs the task inline, so there the challenger's scoring does
happen before the response; that is the eager mode's price, not production's. The publish is `robust`: a
broker that is down costs a shadow prediction, never the caller's answer.

The worker scores the audit's recorded feature vector (exactly what the champion read) and writes an
append-only `ShadowPrediction`. The hourly evaluation (`shadow_evaluation_run`) pairs the champion's served
prediction and the challenger's shadow prediction on every order with a reported outcome and records one
look of the sequential test (`registry.ShadowEvaluation`), the evidence the promotion page shows.

Backfilled evidence (`predictions.backfill`, stored history scored after the fact) is a second, separate
test of the same pair: `shadow_evaluation_look` with the backfilled source pairs `BackfilledPrediction` rows
only and numbers its own looks; the promotion gate reads live looks only.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
from django.conf import settings
from django.db import DatabaseError
from django.db.models import OuterRef, Subquery

from core.model import ETAPredictor
from core.stats.ab_comparison import ABTestSettings, shadow_ab_decision
from intellilog.dispatch import task_enqueue_on_commit
from predictions.constants import CHAMPION_RECHECK_SECONDS
from predictions.models import BackfilledPrediction, PredictionAudit, ShadowPrediction
from registry.artifacts import ArtifactError
from registry.choices import EvidenceSource, ShadowOutcome
from registry.loader import model_version_load
from registry.models import ModelVersion, ShadowEvaluation
from registry.selectors import eta_challenger, eta_champion, shadow_evaluation_latest
from registry.services import shadow_evaluation_record
from tenants.models import Tenant

logger = logging.getLogger(__name__)

# Challenger predictors a worker keeps loaded: the current one and a just-replaced one is plenty.
CHALLENGER_CACHE_SIZE = 2
_SHARE_SCALE = float(2**64)


def shadow_is_sampled(*, audit_id: uuid.UUID | str, share: float) -> bool:
    """Whether an audit falls in the shadow share: a hash of its id, so the same audit always gets the same answer."""
    digest = hashlib.sha256(str(audit_id).encode()).digest()
    return int.from_bytes(digest[:8], "big") / _SHARE_SCALE < share


# --- request path --------------------------------------------------------------------------------------------


@dataclass
class _ChallengerEntry:
    version_id: int | None
    checked_at: float


_challenger_ids: dict[int, _ChallengerEntry] = {}
_challenger_ids_lock = threading.Lock()


def _challenger_id(tenant: Tenant) -> int | None:
    """The tenant's challenger version id, re-read at most every CHAMPION_RECHECK_SECONDS (like the champion)."""
    now = time.monotonic()
    entry = _challenger_ids.get(tenant.pk)
    if entry is not None and now - entry.checked_at < CHAMPION_RECHECK_SECONDS:
        return entry.version_id
    challenger = eta_challenger(tenant=tenant)
    with _challenger_ids_lock:
        _challenger_ids[tenant.pk] = _ChallengerEntry(challenger.pk if challenger else None, now)
    return challenger.pk if challenger else None


def shadow_scoring_enqueue(*, tenant: Tenant, audits: Sequence[PredictionAudit]) -> list[str]:
    """Queue challenger scoring of the sampled share of just-inserted audits, once their transaction commits.

    Called by serving right after the audit insert. Returns the audit ids queued (empty without a challenger).
    Never raises into the caller: a failure to find the challenger is logged and the shadow skipped.
    """
    share = settings.SHADOW_SHARE
    if share <= 0.0 or not audits:
        return []
    try:
        challenger_id = _challenger_id(tenant)
    except DatabaseError:
        logger.exception("shadow scoring skipped: cannot read the challenger of tenant %s", tenant.slug)
        return []
    if challenger_id is None:
        return []
    sampled = [
        str(audit.id)
        for audit in audits
        if audit.model_version_id != challenger_id and shadow_is_sampled(audit_id=audit.id, share=share)
    ]
    if sampled:
        # robust: a broker that is down loses a shadow prediction, never the caller's response.
        task_enqueue_on_commit("predictions.tasks.shadow_score_task", sampled, challenger_id)
    return sampled


def shadow_cache_clear() -> None:
    """Forget the cached challenger ids and predictors (tests; a worker never needs it)."""
    with _challenger_ids_lock:
        _challenger_ids.clear()
    with _predictors_lock:
        _predictors.clear()


# --- worker --------------------------------------------------------------------------------------------------

_predictors: OrderedDict[int, ETAPredictor] = OrderedDict()
_predictors_lock = threading.Lock()


def _challenger_predictor(version: ModelVersion) -> ETAPredictor:
    """The challenger's predictor from this worker's cache, loaded (checksum verified) on first use."""
    with _predictors_lock:
        predictor = _predictors.get(version.pk)
        if predictor is not None:
            _predictors.move_to_end(version.pk)
            return predictor
    predictor = model_version_load(version=version)
    with _predictors_lock:
        _predictors[version.pk] = predictor
        while len(_predictors) > CHALLENGER_CACHE_SIZE:
            _predictors.popitem(last=False)
    return predictor


def shadow_predictions_score(*, audit_ids: Sequence[str], challenger: ModelVersion) -> list[ShadowPrediction]:
    """Score audited orders with `challenger` from their recorded feature vectors; returns the rows written.

    Audits of another tenant, audits the challenger itself served, and audits it already scored are skipped,
    so the task is safe to run twice. A vector that lacks a feature the challenger reads is skipped (and
    logged): scoring it with a gap would compare the models on different inputs.
    """
    audits = list(
        PredictionAudit.objects.filter(pk__in=list(audit_ids), tenant_id=challenger.tenant_id)
        .exclude(model_version=challenger)
        .exclude(shadow_predictions__model_version=challenger)
        .order_by("created_at", "id")
    )
    if not audits:
        return []
    try:
        predictor = _challenger_predictor(challenger)
    except ArtifactError:
        logger.exception("shadow scoring skipped: cannot load the challenger %s", challenger)
        return []
    needed = set(predictor.feature_names)
    scorable = [audit for audit in audits if needed <= audit.features.keys()]
    for audit in audits:
        if audit not in scorable:
            missing = sorted(needed - audit.features.keys())
            logger.warning("audit %s not shadow-scored: %s needs %s", audit.id, challenger, ", ".join(missing))
    if not scorable:
        return []
    started = time.perf_counter()
    predictions = predictor.predict_many([dict(audit.features) for audit in scorable], explain=False)
    latency_ms = (time.perf_counter() - started) * 1000.0 / len(scorable)
    rows = [
        ShadowPrediction(
            tenant_id=audit.tenant_id,
            audit=audit,
            model_version=challenger,
            artifact_sha256=challenger.artifact_sha256,
            predicted_eta_minutes=prediction.eta_minutes,
            quantiles=_finite_json(asdict(prediction.quantiles)),
            confidence_score=prediction.confidence,
            is_ood=not prediction.is_in_distribution,
            latency_ms=latency_ms,
        )
        for audit, prediction in zip(scorable, predictions, strict=True)
    ]
    # A concurrent run of the same task may have written some rows meanwhile: the unique constraint keeps one.
    ShadowPrediction.objects.bulk_create(rows, ignore_conflicts=True)
    return rows


def _finite_json(values: dict[str, float]) -> dict[str, float | None]:
    return {name: (value if np.isfinite(value) else None) for name, value in values.items()}


# --- A/B evaluation ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PairedErrors:
    """Absolute errors of the champion's served and the challenger's shadow prediction on the same orders."""

    champion: np.ndarray
    challenger: np.ndarray


def shadow_paired_errors(*, champion: ModelVersion, challenger: ModelVersion) -> PairedErrors:
    """Every order the champion served and the challenger shadow-scored that has an outcome, in arrival order.

    The champion's error is its outcome's (served prediction minus actual); the challenger's is its shadow
    prediction minus the same actual, so both are judged against one delivery time.
    """
    rows = (
        ShadowPrediction.objects.filter(
            model_version=challenger, audit__model_version=champion, audit__outcome__isnull=False
        )
        .order_by("audit__outcome__reported_at", "audit__outcome__id")
        .values_list("audit__outcome__error_minutes", "audit__outcome__actual_minutes", "predicted_eta_minutes")
    )
    values = np.asarray(list(rows), dtype=np.float64).reshape(-1, 3)
    return PairedErrors(champion=np.abs(values[:, 0]), challenger=np.abs(values[:, 2] - values[:, 1]))


def backfilled_paired_errors(*, champion: ModelVersion, challenger: ModelVersion) -> PairedErrors:
    """Both versions' absolute errors on every stored delivery both were backfilled on, oldest order first.

    Only `BackfilledPrediction` rows: live shadow predictions never enter these pairs, and backfilled rows
    never enter `shadow_paired_errors`.
    """
    champion_eta = BackfilledPrediction.objects.filter(
        model_version=champion, delivery_id=OuterRef("delivery_id")
    ).values("predicted_eta_minutes")[:1]
    rows = (
        BackfilledPrediction.objects.filter(model_version=challenger)
        .annotate(champion_eta=Subquery(champion_eta))
        .filter(champion_eta__isnull=False)
        .order_by("ordered_at", "delivery_id")
        .values_list("champion_eta", "predicted_eta_minutes", "actual_minutes")
    )
    values = np.asarray(list(rows), dtype=np.float64).reshape(-1, 3)
    return PairedErrors(champion=np.abs(values[:, 0] - values[:, 2]), challenger=np.abs(values[:, 1] - values[:, 2]))


def _ab_settings(champion: ModelVersion, challenger: ModelVersion, source: str) -> ABTestSettings:
    """The settings of the pair's first look when there is one: boundaries must not move mid-test."""
    first = ShadowEvaluation.objects.filter(champion=champion, challenger=challenger, source=source, look=1).first()
    if first is not None and "settings" in first.decision:
        return ABTestSettings(**first.decision["settings"])
    return ABTestSettings(
        alpha=settings.AB_ALPHA,
        min_samples=settings.AB_MIN_PAIRS,
        min_effect_minutes=settings.AB_MIN_EFFECT_MINUTES,
        planned_max_samples=settings.AB_PLANNED_MAX_PAIRS,
    )


def shadow_evaluation_run(*, tenant: Tenant) -> ShadowEvaluation | None:
    """Look at the tenant's live shadow A/B test once more and record the look; None without a challenger.

    A look is recorded only when there are paired outcomes the last look did not have, and none after the
    test has decided (challenger better, or the planned end without it): the sequential test stops at its
    first decision, so later looks would only blur it. Returns the latest look either way.
    """
    champion, challenger = eta_champion(tenant=tenant), eta_challenger(tenant=tenant)
    if champion is None or challenger is None:
        return None
    return shadow_evaluation_look(champion=champion, challenger=challenger, source=EvidenceSource.LIVE)


def shadow_evaluation_look(*, champion: ModelVersion, challenger: ModelVersion, source: str) -> ShadowEvaluation:
    """One more look at the A/B test of a pair on one evidence source (live or backfilled); the latest look.

    The two sources are separate sequential tests: a live look pairs served predictions with outcomes
    (`shadow_paired_errors`), a backfilled look pairs backfilled scores of stored history
    (`backfilled_paired_errors`).
    """
    latest = shadow_evaluation_latest(champion=champion, challenger=challenger, source=source)
    if latest is not None and latest.outcome != ShadowOutcome.KEEP_COLLECTING:
        return latest
    paired = backfilled_paired_errors if source == EvidenceSource.BACKFILLED else shadow_paired_errors
    pairs = paired(champion=champion, challenger=challenger)
    if latest is not None and latest.pairs >= len(pairs.champion):
        return latest
    decision = shadow_ab_decision(pairs.champion, pairs.challenger, settings=_ab_settings(champion, challenger, source))
    evaluation = shadow_evaluation_record(champion=champion, challenger=challenger, decision=decision, source=source)
    logger.info("shadow A/B of %s (%s): %s", champion.tenant.slug, source, evaluation.summary)
    return evaluation
